// Room life in the page: reactions, chat and questions, pins, push-to-talk, processing and recording (room-life.ts rules).
import { SignalingError } from '../../../../protocol/errors.ts';
import type { EpochState, Membership } from '../membership.ts';
import { ROOM_LIFE_LIMITS, RoomLife, RoomLifeError } from '../room-life.ts';
import { fail } from './ending.ts';
import { gateAudio } from './media.ts';
import { publishLife } from './projection.ts';
import { holdLife, isFresh } from './send-gate.ts';
import type { SessionState } from './state.ts';

export function makeLife(s: SessionState, agent: Membership): RoomLife {
  return new RoomLife({
    roomId: () => s.keys.roomId,
    identity: agent.identity,
    signKeyOf: (id) => (id === agent.me ? agent.identity.signPublicKey : (s.trustedSignKey(id) ?? s.messageSenders.get(id)?.signPublicKey ?? null)),
    roleOf: (id) => agent.roleOf(id),
    fresh: () => isFresh(s),
  });
}

/** A new epoch seals what follows; the host tells everyone again whether it records (newcomers wait for it to play audio). */
export function lifeEpoch(s: SessionState, state: EpochState): void {
  const life = s.life;
  if (!life) return;
  const { refused } = life.setEpoch(state.epoch, state.secret, state.hash);
  s.rejected.messages += refused.length;
  if (s.agent?.roleOf(s.agent.me) === 'host') announceRecording(s);
  renderLife(s);
}

/** Host: the recording state, on or off, under the current epoch; a notice refused for its rate is sent again soon. */
export function announceRecording(s: SessionState): void {
  const life = s.life;
  if (!life || s.announceTimer) return;
  const retry = () => {
    s.announceTimer = setTimeout(() => {
      s.announceTimer = null;
      announceRecording(s);
    }, ROOM_LIFE_LIMITS.announceRetryMs);
  };
  let message: string;
  try {
    message = life.recordingNotice(s.recorder !== null);
  } catch (error) {
    if (error instanceof RoomLifeError && error.code === 'RATE_LIMITED') retry();
    if (error instanceof RoomLifeError && error.code === 'WAITING_FOR_KEY') holdLife(s, () => announceRecording(s));
    return;
  }
  void s.req('room.message', { message }).catch((error) => {
    if (error instanceof SignalingError && error.code === 'RATE_LIMITED') retry();
  });
}

export function onRoomMessage(s: SessionState, blob: string, from: string, announcement?: string): void {
  // A listener this member was never shown: its announcement, verified with the link like any other, names its key.
  if (announcement && !s.members.get(from)?.verified) {
    const sender = s.agent?.verify(from, announcement);
    if (sender) {
      s.messageSenders.set(sender.memberKeyId, sender);
      if (s.messageSenders.size > ROOM_LIFE_LIMITS.knownSenders) s.messageSenders.delete(s.messageSenders.keys().next().value!);
    }
  }
  try {
    s.life?.receive(blob);
  } catch {
    // Forged, replayed, flooding or without authority: counted, never shown.
    s.rejected.messages++;
  }
  renderLife(s);
}

/**
 * Seals with `make` and sends, then runs `sent`; a refusal (too long, too fast, no key, not allowed) is shown in the
 * page. One that must wait for the distributor's confirmation is held and sent (or dropped, and said so) later.
 */
export function sendLife(s: SessionState, make: (life: RoomLife) => string, report = true, sent?: () => void): boolean {
  const life = s.life;
  if (!life) return false;
  let message: string;
  try {
    message = make(life);
  } catch (error) {
    if (error instanceof RoomLifeError && error.code === 'WAITING_FOR_KEY' && holdLife(s, () => sendLife(s, make, report, sent))) return true;
    if (report) renderLife(s, error instanceof RoomLifeError ? error.code : 'FAILED');
    return false;
  }
  renderLife(s, null);
  void s.req('room.message', { message }).catch((error) => {
    if (report) renderLife(s, error instanceof SignalingError ? error.code : 'FAILED');
  });
  sent?.();
  return true;
}

export function renderLife(s: SessionState, error?: string | null): void {
  const life = s.life;
  if (!life) return;
  gateAudio(s);
  const me = s.agent?.me;
  const participantOf = (key: string) => (key === me ? s.me : (s.byKey(key)?.snapshot.participantId ?? s.messageSenders.get(key)?.participantId ?? null));
  const nameOf = (key: string) => (key === me ? s.myName : (s.byKey(key)?.verified?.name ?? s.messageSenders.get(key)?.name ?? null));
  const reactions = life.reactions();
  s.lifeShown = {
    messages: life.messages.map((m) => ({ id: m.id, participantId: participantOf(m.sender), name: nameOf(m.sender), text: m.text, question: m.question, mine: m.sender === me })),
    pinned: life.pinned ? { kind: life.pinned.kind, text: life.pinned.text, by: nameOf(life.pinned.by) } : null,
    reactions: reactions.flatMap((r) => {
      const participantId = participantOf(r.sender);
      return participantId ? [{ id: r.id, participantId, emoji: r.emoji }] : [];
    }),
    recording: life.recording ? { by: nameOf(life.recording.by) } : s.recorder ? { by: s.myName } : null,
  };
  if (error !== undefined) s.lifeError = error;
  publishLife(s);
  // Reactions float for a few seconds: redraw when the next one is due to go.
  if (s.lifeTimer) clearTimeout(s.lifeTimer);
  s.lifeTimer = reactions.length ? setTimeout(() => renderLife(s), ROOM_LIFE_LIMITS.reactionMs / 4) : null;
}

export function setPushToTalk(s: SessionState, on: boolean): void {
  s.media?.setTalking(!on);
  s.controls = { ...s.controls, pushToTalk: on, talking: !on };
  publishLife(s);
}

export function setTalking(s: SessionState, on: boolean): void {
  if (!s.controls.pushToTalk) return;
  s.media?.setTalking(on);
  s.controls = { ...s.controls, talking: on };
  publishLife(s);
}

export function setProcessing(s: SessionState, on: boolean): void {
  s.controls = { ...s.controls, processing: on };
  publishLife(s);
  void s.media?.setProcessing(on).catch((error) => fail(s, error));
}

/** Host: records the decrypted stage on this device; everyone is told first, with the host's signature. */
export function startRecording(s: SessionState): void {
  if (s.recorder || !s.meter) return;
  // The recorder runs only once the notice went out: a host that is not the distributor may wait for its epoch.
  sendLife(
    s,
    (life) => life.recordingNotice(true),
    true,
    () => {
      if (s.recorder || !s.meter) return;
      s.recorder = s.meter.record(s.media?.micTrack() ?? null);
      renderLife(s);
    },
  );
}

export function stopRecording(s: SessionState): void {
  const recorder = s.recorder;
  if (!recorder) return;
  s.recorder = null;
  sendLife(s, (life) => life.recordingNotice(false));
  void recorder.stop().then((file) => {
    s.recording = file;
    publishLife(s, { recordingFile: URL.createObjectURL(file) });
  });
  renderLife(s);
}
