// Whether this member may seal under its epoch now (audio and room messages alike): the distributor's confirmations.
import { newChallengeNonce, verifyConfirmation } from '../../../../crypto/index.ts';
import type { SessionState } from './state.ts';

export function onConfirmation(s: SessionState, blob: string): void {
  const distributor = s.agent?.current?.distributor;
  if (!distributor) return;
  try {
    s.freshness.confirm(verifyConfirmation({ roomId: s.keys.roomId, blob, signKeyOf: (id) => (id === distributor ? s.trustedSignKey(id) : null) }));
  } catch {
    s.rejected.confirmations++;
  }
  checkFreshness(s);
}

export function challenge(s: SessionState): void {
  const agent = s.agent;
  if (!agent?.current || s.isDistributor()) return;
  const distributor = s.byKey(agent.current.distributor);
  if (!distributor) return;
  const nonce = newChallengeNonce();
  s.freshness.challenge(nonce, performance.now());
  void s.req('epoch.challenge', { to: distributor.snapshot.participantId, nonce }).catch(() => undefined);
}

/** Whether this member may seal under its epoch now: the same rule for room messages as for audio. */
export function isFresh(s: SessionState): boolean {
  return s.isDistributor() || s.freshness.state(performance.now()) === 'confirmed';
}

/** A room message that may not be sealed yet waits (a few, a few seconds) for a confirmation asked for now. */
export function holdLife(s: SessionState, retry: () => void): boolean {
  if (!s.outbox.hold(retry, performance.now())) return false;
  if (!s.freshness.outstanding(performance.now())) challenge(s);
  return true;
}

export function checkFreshness(s: SessionState): void {
  const state = s.isDistributor() ? 'confirmed' : s.freshness.state(performance.now());
  const allowed = state === 'confirmed';
  if (allowed !== s.sendAllowed) {
    s.sendAllowed = allowed;
    s.e2eeChannel?.setSendAllowed(allowed);
  }
  // Sealed now, under the epoch just confirmed: each call seals under the current epoch only while it is confirmed.
  if (allowed) s.confirmFailed = false;
  if (allowed && s.agent?.current) for (const retry of s.outbox.release()) retry();
  const e2ee = s.e2ee;
  if (e2ee.state === 'error' || !s.agent?.current) return;
  const sending = s.media?.producerId != null;
  const current = s.agent.current;
  const floored = current.myIndex !== null && !s.floor.allows(current.epoch);
  // A listener told of a newer epoch it does not hold, or whose message found no confirmation, is not shown
  // "encrypted" either.
  const next =
    sending && floored
      ? { state: 'waiting-for-key' as const, reason: 'new-epoch' }
      : (sending || state === 'stale' || s.confirmFailed) && !allowed
        ? { state: 'waiting-for-key' as const, reason: state }
        : { state: 'encrypted' as const, reason: null };
  if (next.state !== e2ee.state || next.reason !== e2ee.reason) s.setE2ee({ ...e2ee, ...next });
}
