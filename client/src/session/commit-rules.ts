// The rules a member holds a commit to before it takes its epoch: epoch bounds, hand-over, ratchet links, sender indexes, removals.
import { equalBytes, MAX_REMOVED, type OpenedCommit, type RosterEntry } from '../../../crypto/index.ts';
import { EPOCH_LIMITS, MembershipError, type EpochState } from './membership-types.ts';

/** What the member knows of its lineage beyond its epoch (Membership's). */
export interface Lineage {
  readonly removed: ReadonlySet<string>;
  /** The lowest sender index a ratchet may give a newcomer. */
  readonly nextIndex: number;
  /** The epoch a member back after a reload or restart held: it refuses any at or below it. */
  readonly firstEpochFloor: number;
}

/**
 * Throws unless the opened commit may follow `current` (null: this member holds no epoch yet); `hasPackage`: it came
 * with this member's package. Who may sign it is checked as it opens (Membership.accept).
 */
export function checkCommit(current: EpochState | null, opened: OpenedCommit, hasPackage: boolean, lineage: Lineage): void {
  if (current) {
    if (opened.epoch <= current.epoch) throw new MembershipError('OLD_EPOCH', `epoch ${opened.epoch} is not newer than ${current.epoch}`);
    if (opened.epoch - current.epoch > EPOCH_LIMITS.maxStep) throw new MembershipError('EPOCH_LEAP', `epoch ${opened.epoch} leaps too far past ${current.epoch}`);
    if (opened.distributor !== current.distributor && opened.kind !== 'fresh') throw new MembershipError('HANDOVER_NOT_FRESH', 'a new distributor must start with a fresh epoch');
    // A ratchet that follows our epoch is checked link by link. One that does not, but comes with our own package
    // (the distributor resending the epoch we missed), re-synchronises us as it would a newcomer.
    if (opened.kind === 'ratchet' && (!hasPackage || follows(current, opened))) checkRatchet(current, lineage.nextIndex, opened.epoch, opened.previous, opened.stage);
  } else if (opened.epoch > EPOCH_LIMITS.maxFirst + lineage.firstEpochFloor) {
    throw new MembershipError('EPOCH_LEAP', `a first epoch of ${opened.epoch} is out of bounds`);
  } else if (opened.epoch <= lineage.firstEpochFloor) {
    throw new MembershipError('OLD_EPOCH', `epoch ${opened.epoch} is not newer than ${lineage.firstEpochFloor}, held before`);
  }
  if (!opened.stage.some((m) => m.memberKeyId === opened.distributor)) throw new MembershipError('NOT_DISTRIBUTOR', 'the signer is not on the stage it signed');
  checkRemovals(current, opened, lineage.removed);
}

/**
 * Removals only accumulate. The distributor of our epoch keeps every key its last list named (only the oldest may
 * drop out, and only from a full list); any other distributor (a successor, a re-created room) names every kick this
 * member knows of, while its list is not full. Otherwise the commit is refused rather than merged: accepting it
 * would mean holding keys its distributor may have sealed to a kicked member (docs/protocol.md §5, removals).
 */
function checkRemovals(current: EpochState | null, opened: { distributor: string; removed: string[] }, removed: ReadonlySet<string>): void {
  const next = new Set(opened.removed);
  const full = opened.removed.length >= MAX_REMOVED;
  if (current && opened.distributor === current.distributor) {
    // Only the oldest may have dropped out: the dropped keys are a leading run of the previous list.
    const kept = current.removed.map((id) => next.has(id));
    const firstKept = kept.includes(true) ? kept.indexOf(true) : kept.length;
    if (kept.slice(firstKept).includes(false) || (firstKept > 0 && !full)) {
      throw new MembershipError('REMOVAL_DROPPED', 'the commit drops a removed member the previous one named');
    }
  } else if (!full) {
    for (const id of removed) if (!next.has(id)) throw new MembershipError('REMOVAL_DROPPED', 'the commit leaves out a member this member knows was removed');
  }
}

export function follows(current: EpochState, next: { epoch: number; previous: Uint8Array }): boolean {
  return next.epoch === current.epoch + 1 && equalBytes(next.previous, current.hash);
}

/**
 * A ratchet follows our epoch, keeps the sender index of everyone who stays on stage, and gives whoever comes onto
 * the stage an index never issued in the lineage: two people never share a sender key and counter space.
 */
function checkRatchet(current: EpochState, nextIndex: number, epoch: number, previous: Uint8Array, stage: RosterEntry[]): void {
  if (epoch !== current.epoch + 1) throw new MembershipError('RATCHET_GAP', 'a ratchet must follow the current epoch');
  if (!equalBytes(previous, current.hash)) throw new MembershipError('FORK', 'the ratchet follows a commit this member never saw');
  const before = new Map(current.stage.map((m) => [m.memberKeyId, m.senderIndex]));
  for (const m of stage) {
    const index = before.get(m.memberKeyId);
    if (index !== undefined && index !== m.senderIndex) throw new MembershipError('INDEX_CHANGED', 'a ratchet cannot change a sender index');
    if (index === undefined && m.senderIndex < nextIndex) throw new MembershipError('INDEX_REUSED', `sender index ${m.senderIndex} was issued before in this lineage`);
  }
}
