// The person's actions on the room: the microphone, the stage, moderation and the lock, each a signed decision.
import type { DecisionAction } from '../../../../crypto/index.ts';
import type { RequestOf } from '../../../../protocol/messages.ts';
import { decide, rotate } from './effects.ts';
import { act, end, fail } from './ending.ts';
import { closeMic, startMic, unmuteAtRelay } from './media.ts';
import { isMember, type SessionState } from './state.ts';

export function leave(s: SessionState): void {
  const left = s.connection.leave();
  if (left) left.catch(() => undefined).finally(() => end(s, 'leftRoom'));
  else end(s, 'leftRoom');
}

export function toggleMic(s: SessionState): void {
  const producerId = s.media?.producerId;
  if (!producerId) {
    s.micWanted = true;
    return void startMic(s).then(() => unmuteAtRelay(s));
  }
  const on = !s.micOn;
  s.media!.setMicPaused(!on);
  s.setMicOn(on);
  act(s, on ? 'producer.resume' : 'producer.pause', { producerId });
}

/** Acts on someone through the relay with this member's signed decision, naming them by their identity key. */
export function actOn<T extends 'stage.invite' | 'stage.moveToAudience' | 'stage.mute' | 'member.kick' | 'lobby.admit'>(
  s: SessionState,
  type: T,
  action: DecisionAction,
  participantId: string,
  memberKeyId: string | null = s.keyOf(participantId),
): void {
  if (!isMember(s) || !s.core.agent.current || !memberKeyId) return s.update({ notice: 'that member is not verified yet' });
  act(s, type, { participantId, decision: decide(s, action, memberKeyId) } as RequestOf<T>);
}

/** Accepting is the person's own action, so it is what opens the microphone once the relay lets it send. */
export function respondInvite(s: SessionState, accept: boolean): void {
  const invitation = s.core?.pendingInvite ?? null;
  if (s.core) s.core.pendingInvite = null;
  s.update({ invitedBy: null });
  if (!invitation || !isMember(s)) return;
  const agent = s.core.agent;
  // Answered once: the same invitation replayed by the relay later prompts nobody.
  try {
    agent.markApplied(agent.check(invitation).decision);
  } catch {
    return;
  }
  void (async () => {
    try {
      if (!accept) return void (await s.req('stage.respond', { accept: false }));
      await s.req('stage.respond', { accept: true, decision: decide(s, 'accept', agent.me, invitation) });
      s.micWanted = true;
      await startMic(s);
    } catch (error) {
      fail(s, error);
    }
  })();
}

export function leaveStage(s: SessionState): void {
  if (!isMember(s)) return;
  closeMic(s);
  act(s, 'stage.leave', { decision: decide(s, 'leave-stage', s.core.agent.me) });
}

export function setModerator(s: SessionState, participantId: string, moderator: boolean): void {
  const key = s.keyOf(participantId);
  if (!isMember(s) || !s.core.agent.current || !key) return;
  act(s, 'role.setModerator', { participantId, moderator, decision: decide(s, moderator ? 'set-moderator' : 'unset-moderator', key) });
}

export function lock(s: SessionState, locked: boolean): void {
  if (!isMember(s) || !s.core.agent.current) return;
  act(s, 'room.lock', { locked, decision: decide(s, locked ? 'lock' : 'unlock', null) });
}

export function admit(s: SessionState, participantId: string): void {
  const entry = s.lobbyRaw.find((e) => e.participantId === participantId);
  const verified = entry ? s.agent?.verify(entry.participantId, entry.announcement) : null;
  actOn(s, 'lobby.admit', 'admit', participantId, verified?.memberKeyId ?? null);
}

/** Host: a new room secret for a leaked link. Members get it sealed in a fresh commit; the old link stops working. */
export function rotateLink(s: SessionState): void {
  if (isMember(s) && s.isDistributor()) void rotate(s);
}
