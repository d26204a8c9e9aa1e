// An epoch in use: installed in the E2EE Worker and everything that follows it, and kept fresh while it is in use.
import { FRESHNESS } from '../freshness.ts';
import { markJoin } from '../../media/join-timeline.ts';
import type { EpochState } from '../membership.ts';
import { lifeEpoch, renderLife } from './life.ts';
import { challenge, checkFreshness } from './send-gate.ts';
import type { MemberSession, SessionState } from './state.ts';
import { remember } from './storage.ts';

/** Installs an epoch the core took or made: the Worker's keys, the stored watermark, freshness, room life, the view. */
export function useEpoch(s: MemberSession, state: EpochState, senders: Record<string, number>): void {
  const agent = s.core.agent;
  const newEpoch = state.epoch !== s.e2ee.epoch;
  if (newEpoch) remember(s);
  // Each frame must prove the identity key the signed stage names for its sender (by memberKeyId, a hash of it).
  const signKeys: Record<string, Uint8Array> = {};
  for (const entry of state.stage) {
    const mine = entry.memberKeyId === agent.me;
    const participantId = mine ? s.me : s.byKey(entry.memberKeyId)?.snapshot.participantId;
    const signKey = mine ? agent.identity.signPublicKey : s.trustedSignKey(entry.memberKeyId);
    if (participantId && signKey) signKeys[participantId] = signKey;
  }
  // Written ahead: the stored watermark covers this epoch before a sender for it exists (sender-floor.ts).
  const myIndex = s.floor.senderIndex(state.epoch, state.myIndex);
  s.e2eeChannel?.setEpoch(state.epoch, state.secret, myIndex, senders, signKeys, agent.identity.signSecretKey);
  markJoin('epoch-key');
  s.freshness.setEpoch(state.epoch, state.hash);
  if (newEpoch) s.confirmFailed = false;
  lifeEpoch(s, state);
  showHandOver(s, state.distributor);
  if (s.e2ee.state !== 'error') {
    s.locked = state.locked;
    s.setE2ee({ state: 'encrypted', epoch: state.epoch, reason: null }, { epochCode: state.code, locked: state.locked });
  }
  // A hand-over (or a lineage the relay chose for this member) is when people compare the lineage code aloud.
  const handedOver = s.lineageCode !== null && s.lineageCode !== state.lineage;
  s.lineageCode = state.lineage;
  s.update({ lineageCode: state.lineage, ...(handedOver ? { compareLineage: true } : {}) });
  checkFreshness(s);
}

/** Someone else distributes now: the page says who, so people can compare who took over (and the epoch code). */
function showHandOver(s: SessionState, distributor: string): void {
  const before = s.lastDistributor;
  s.lastDistributor = distributor;
  if (before === null || before === distributor) return;
  const me = distributor === s.agent?.me;
  s.update({ distributorChanged: { me, name: me ? s.myName : (s.byKey(distributor)?.verified?.name ?? null) } });
}

/** Challenges the distributor every FRESHNESS.challengeEveryMs while in the room. */
export function watchFreshness(s: SessionState): void {
  s.freshnessTimer ??= setInterval(() => tickFreshness(s), FRESHNESS.challengeEveryMs);
}

/**
 * A sender keeps encrypting only while the distributor confirms, within FRESHNESS.validForMs, that its epoch is
 * current; otherwise a relay withholding a commit (after a kick) would keep it sending under a key the kicked holds.
 */
function tickFreshness(s: SessionState): void {
  const now = performance.now();
  if (s.outbox.expire(now).length > 0) {
    s.confirmFailed = true;
    renderLife(s, 'WAITING_FOR_KEY');
  }
  // A member without a producer challenges only while a room message waits, one challenge at a time (a room of
  // 10,000 listeners challenging every 2 s would cost the distributor 5,000 signatures a second).
  if (s.media?.producerId || (s.outbox.size > 0 && !s.freshness.outstanding(now))) challenge(s);
  checkFreshness(s);
}
