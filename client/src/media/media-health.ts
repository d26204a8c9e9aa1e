// Whether audio really flows: transport connection states and decrypted-frame progress, apart from the keys.
//
// Keys alone say nothing about media: a listener whose ICE fails holds every key and hears nothing. This module
// reads only what proves frames move (frames decrypted per remote speaker, frames encrypted for a connected send
// transport) and the transports' own states, and turns them into a status the page can show. Pure: time is passed in.

/** mediasoup-client's transport connection states (RTCPeerConnection's, as the handler reports them). */
export type TransportState = 'new' | 'connecting' | 'connected' | 'failed' | 'disconnected' | 'closed';

/**
 * idle: nothing to receive and nothing to send (no speaker, microphone off). connecting: transports or first
 * frames are on their way. flowing: every expected speaker's frames decrypt, or ours leave on a connected transport.
 * failed: a transport failed or dropped, or a speaker's frames stopped arriving.
 */
export type MediaState = 'idle' | 'connecting' | 'flowing' | 'failed';

/** Why media does not flow, when it is known. */
export type MediaReason = 'transport-failed' | 'transport-disconnected' | 'no-frames' | null;

export interface MediaStatus {
  state: MediaState;
  reason: MediaReason;
  /** Remote speakers whose frames have not decrypted for STALL_MS (reason no-frames). */
  silent: string[];
}

/** With Opus at a constant 50 frames a second and no DTX, this long without one decrypted frame is not a pause. */
export const STALL_MS = 4_000;

interface Progress {
  count: number;
  /** When the count last moved, or when watching began. */
  at: number;
  moved: boolean;
}

export class MediaHealth {
  private readonly transports = new Map<'send' | 'recv', TransportState>();
  private readonly speakers = new Map<string, Progress>();
  private sending: Progress | null = null;

  transport(direction: 'send' | 'recv', state: TransportState): void {
    if (state === 'closed') this.transports.delete(direction);
    else this.transports.set(direction, state);
  }

  /** A speaker we consume and who is not muted: from now on its frames must decrypt. */
  expect(participantId: string, now: number): void {
    if (!this.speakers.has(participantId)) this.speakers.set(participantId, { count: -1, at: now, moved: false });
  }

  forget(participantId: string): void {
    this.speakers.delete(participantId);
  }

  /** The speakers to wait for now (consumed and not muted): new ones are watched from `now`, missing ones forgotten. */
  watch(participantIds: readonly string[], now: number): void {
    for (const id of this.speakers.keys()) if (!participantIds.includes(id)) this.forget(id);
    for (const id of participantIds) this.expect(id, now);
  }

  /** Our microphone producer exists and is not paused. */
  producing(on: boolean, now: number): void {
    if (!on) this.sending = null;
    else this.sending ??= { count: -1, at: now, moved: false };
  }

  /** Transports and consumers were torn down (relay worker restart, retry): start watching afresh. */
  reset(): void {
    this.transports.clear();
    this.speakers.clear();
    this.sending = null;
  }

  /** Cumulative counters from the E2EE worker's stats message. */
  counters(decrypted: Record<string, number>, encrypted: number, now: number): void {
    for (const [id, progress] of this.speakers) advance(progress, decrypted[id] ?? 0, now);
    if (this.sending) advance(this.sending, encrypted, now);
  }

  status(now: number): MediaStatus {
    const states = [...this.transports.values()];
    if (states.includes('failed')) return { state: 'failed', reason: 'transport-failed', silent: [] };
    if (states.includes('disconnected')) return { state: 'failed', reason: 'transport-disconnected', silent: [] };
    const silent = [...this.speakers].filter(([, p]) => now - p.at >= STALL_MS).map(([id]) => id);
    if (silent.length > 0) return { state: 'failed', reason: 'no-frames', silent };
    const receiving = [...this.speakers.values()];
    const sendFlowing = this.sending !== null && this.sending.moved && this.transports.get('send') === 'connected';
    if (receiving.length === 0 && this.sending === null) return { state: 'idle', reason: null, silent: [] };
    const receiveFlowing = receiving.length > 0 && receiving.every((p) => p.moved) && this.transports.get('recv') === 'connected';
    const flowing = (receiving.length === 0 || receiveFlowing) && (this.sending === null || sendFlowing);
    return { state: flowing ? 'flowing' : 'connecting', reason: null, silent: [] };
  }
}

/** The first reading is a baseline: a count carried over from before watching began is not progress. */
function advance(progress: Progress, count: number, now: number): void {
  if (progress.count >= 0 && count > progress.count) {
    progress.at = now;
    progress.moved = true;
  }
  progress.count = count;
}
