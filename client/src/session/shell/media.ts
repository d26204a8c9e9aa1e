// This member's media: the E2EE Worker, transports, microphone, the remote tracks it plays, and whether audio flows.
import { toBase64url } from '../../../../crypto/bytes.ts';
import { SignalingError } from '../../../../protocol/errors.ts';
import { AudioMeter } from '../../media/audio-meter.ts';
import { E2eeChannel } from '../../media/e2ee.ts';
import type { StatsMessage } from '../../media/e2ee-messages.ts';
import { markJoin } from '../../media/join-timeline.ts';
import { MediaSession, type MediaSignaling } from '../../media/media-session.ts';
import { act, fail } from './ending.ts';
import { startFingerprint } from './fingerprint.ts';
import { nameOf, publishLife, render } from './projection.ts';
import { isMember, type SessionState } from './state.ts';

export function mediaOrCreate(s: SessionState): MediaSession {
  s.e2eeChannel ??= new E2eeChannel((stats) => onStats(s, stats));
  s.media ??= new MediaSession(mediaSignaling(s), s.e2eeChannel, {
    onBlocked: (blocked) => s.update({ networkBlocked: blocked }),
    onTransportState: (direction, state) => {
      s.health.transport(direction, state);
      publishMedia(s);
    },
  });
  return s.media;
}

function mediaSignaling(s: SessionState): MediaSignaling {
  return {
    createTransport: async (direction) => {
      const t = await s.req('transport.create', { direction });
      return t as never;
    },
    connectTransport: async (transportId, dtlsParameters) => {
      await s.req('transport.connect', { transportId, dtlsParameters: dtlsParameters as never });
    },
    // Made with the certificate of the Worker's stream key: listeners check it before the first frame plays.
    produce: async (transportId, rtpParameters) => {
      const secretKey = s.agent?.identity.signSecretKey;
      const certificate = secretKey ? await s.e2eeChannel?.certify(secretKey) : null;
      if (!certificate) throw new Error('no certified stream key');
      return (await s.req('producer.create', { transportId, kind: 'audio', rtpParameters: rtpParameters as never, streamCertificate: toBase64url(certificate) })).producerId;
    },
    consume: async (producerId, rtpCapabilities) => (await s.req('consumer.create', { producerId, rtpCapabilities: rtpCapabilities as never })) as never,
    resumeConsumer: async (consumerId) => {
      await s.req('consumer.resume', { consumerId });
    },
    restartIce: async (transportId) => (await s.req('transport.restartIce', { transportId })).iceParameters as never,
    iceServers: async () => (await s.req('turn.credentials', {})).iceServers,
  };
}

export function meterOrCreate(s: SessionState): AudioMeter {
  s.meter ??= new AudioMeter((id, speaking) => {
    const m = s.members.get(id);
    if (m) {
      m.speaking = speaking;
      render(s);
    }
  });
  gateAudio(s);
  return s.meter;
}

/** Remote audio stays silent until room life says what this member hears is announced (room-life.ts mayPlay). */
export function gateAudio(s: SessionState): void {
  const stage = s.agent?.current?.stage;
  s.meter?.hold(!(s.life && stage && s.life.mayPlay(stage)));
}

export async function consume(s: SessionState, producerId: string, participantId: string): Promise<void> {
  if (!s.media || participantId === s.me) return;
  try {
    const track = await s.media.consume(producerId, participantId);
    meterOrCreate(s).add(participantId, track);
    rememberedVolume(s, participantId);
  } catch (error) {
    if (!(error instanceof SignalingError && error.code === 'NOT_FOUND')) fail(s, error);
  }
}

export function setVolume(s: SessionState, participantId: string, volume: number): void {
  const v = Math.min(1, Math.max(0, volume));
  meterOrCreate(s).setVolume(participantId, v);
  const key = s.keyOf(participantId);
  // Remembered for the tab, by the speaker's identity key: the same speaker after a reconnect keeps its volume.
  if (key) sessionStorage.setItem(`teahouse-volume:${key}`, String(v));
  s.controls = { ...s.controls, volumes: { ...s.controls.volumes, [participantId]: v } };
  publishLife(s);
}

/** The volume this tab remembers for a speaker, applied when its track arrives. */
function rememberedVolume(s: SessionState, participantId: string): void {
  const key = s.keyOf(participantId);
  const saved = key ? sessionStorage.getItem(`teahouse-volume:${key}`) : null;
  if (saved !== null && Number.isFinite(Number(saved))) setVolume(s, participantId, Number(saved));
}

export async function startMic(s: SessionState): Promise<void> {
  if (!s.media || !s.e2eeChannel?.supported) return;
  try {
    await s.media.startMic();
    s.setMicOn(true, { micError: false });
  } catch (error) {
    if ((error as Error).name === 'NotAllowedError') s.update({ micError: true });
    else fail(s, error);
  }
}

/** Opens the microphone when the person asked for it and the relay lets this member send. */
export async function startWantedMic(s: SessionState): Promise<void> {
  if (s.micWanted && s.relayRole() !== 'listener') await startMic(s);
}

/** Pauses the microphone (a mute): closing it is always safe, so the relay's word is enough. */
export function pauseMic(s: SessionState): void {
  s.media?.setMicPaused(true);
  s.setMicOn(false);
}

export function closeMic(s: SessionState): void {
  s.micWanted = false;
  s.media?.stopMic();
  s.setMicOn(false);
}

/**
 * Switching the microphone on is the person's own unmute: a producer the relay made paused, because it had this
 * member muted (a seat given back after a relay restart), resumes.
 */
export function unmuteAtRelay(s: SessionState): void {
  const producerId = s.media?.producerId;
  if (producerId && s.me && s.members.get(s.me)?.snapshot.muted) act(s, 'producer.resume', { producerId });
}

export async function resetMedia(s: SessionState): Promise<void> {
  s.mediaResets++;
  s.media?.resetTransports();
  for (const m of s.members.values()) s.meter?.remove(m.snapshot.participantId);
  for (const m of s.members.values()) for (const id of m.snapshot.producerIds) void consume(s, id, m.snapshot.participantId);
  await startWantedMic(s);
}

function onStats(s: SessionState, stats: StatsMessage): void {
  s.stats = stats;
  if (stats.firstDecryptedAt !== null) {
    markJoin('first-decrypt', stats.firstDecryptedAt - performance.timeOrigin);
    startFingerprint(s);
  }
  s.update({
    sent: stats.sent,
    speakers: Object.entries(stats.received).map(([participantId, c]) => ({ participantId, name: nameOf(s, participantId), ...c, ...stats.source[participantId] })),
  });
  publishMedia(s);
  let held = 0;
  let ahead: number | null = null;
  for (const c of Object.values(stats.received)) {
    held += c.held;
    if (c.aheadEpoch !== null) ahead = Math.max(ahead ?? c.aheadEpoch, c.aheadEpoch);
  }
  if (isMember(s)) for (const to of s.core.framesHeld({ held, ahead, jitter: Math.random(), now: Date.now() })) void s.req('key.resend', { to }).catch(() => undefined);
}

/** Muted speakers send nothing by design: only the others' frames are waited for. */
function publishMedia(s: SessionState): void {
  const now = performance.now();
  const speaking = (s.media?.consumedParticipants() ?? []).filter((id) => s.members.get(id)?.snapshot.muted === false);
  s.health.watch(speaking, now);
  s.health.producing(s.media?.sending ?? false, now);
  if (s.stats) s.health.counters(Object.fromEntries(Object.entries(s.stats.received).map(([id, c]) => [id, c.decrypted])), s.stats.sent.encrypted, now);
  const next = s.health.status(now);
  const shown = s.mediaStatus;
  if (next.state !== shown.state || next.reason !== shown.reason || next.silent.join() !== shown.silent.join()) {
    s.mediaStatus = next;
    s.update({ media: next });
  }
}
