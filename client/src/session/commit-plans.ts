// A distributor's next commit, planned: who holds the epoch's keys, who gets a package, and the stage it signs.
import type { RosterEntry, RosterRole } from '../../../crypto/index.ts';
import type { HeldDistribution } from './member-store.ts';
import { MembershipError, type EpochState, type VerifiedMember } from './membership-types.ts';

export interface CommitPlan {
  /** Every member holding the epoch's keys, the distributor first. */
  members: string[];
  stage: RosterEntry[];
  /** Who gets a package: the distributor itself is left out when the commit is made. */
  recipients: VerifiedMember[];
  locked: boolean;
}

/** What a plan reads of the distributor's state (Membership's). */
export interface Distributing {
  readonly me: string;
  readonly current: EpochState | null;
  readonly removed: ReadonlySet<string>;
  /** Newcomers a moderator admitted from the lobby of a locked room. */
  readonly admitted: ReadonlySet<string>;
  /** The lowest sender index a ratchet may give a newcomer. */
  readonly nextIndex: number;
  /** The signed role, null before any epoch. */
  roleOf(memberKeyId: string): RosterRole | null;
  mayAdmit(memberKeyId: string): boolean;
}

/**
 * A fresh epoch for every member the distributor still admits; `held`: a distributor back after a reload, before its
 * first epoch, carries on the stage and lock it stored. Stage roles carry over, with indexes compacted.
 */
export function freshPlan(d: Distributing, held: HeldDistribution | null, members: VerifiedMember[], roles?: ReadonlyMap<string, RosterRole>): CommitPlan {
  const current = d.current;
  // In a locked room, only members this distributor keyed or saw admitted. A member taking over has no list of its
  // own (it holds only the hash), so it keys every verified member the relay lists (docs/threat-model.md, limits);
  // so does a distributor back after a reload (its list was not stored).
  const keyed = current?.locked && current.members ? new Set(current.members) : null;
  const admitted = members.filter((m) => m.memberKeyId !== d.me && !d.removed.has(m.memberKeyId) && (!current?.locked || !keyed || keyed.has(m.memberKeyId) || d.admitted.has(m.memberKeyId)));
  const everyone = [d.me, ...admitted.map((m) => m.memberKeyId)];
  const heldRole = (id: string): RosterRole | undefined => (held ? (held.stage.find((m) => m.memberKeyId === id)?.role ?? 'listener') : undefined);
  // The first epoch of a room is its creator's, who is its host.
  const roleOf = (id: string): RosterRole => roles?.get(id) ?? d.roleOf(id) ?? heldRole(id) ?? (id === d.me ? 'host' : 'listener');
  const order = new Map((current?.stage ?? held?.stage ?? []).map((m, i) => [m.memberKeyId, i]));
  const stage = everyone
    .filter((id) => roleOf(id) !== 'listener')
    .sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity))
    .map((memberKeyId, senderIndex) => ({ memberKeyId, senderIndex, role: roleOf(memberKeyId) }));
  return { members: everyone, stage, recipients: admitted, locked: current?.locked ?? held?.locked ?? false };
}

/** A ratchet: newcomers get a package, whoever comes onto the stage an index never used in the lineage (Membership.issueRatchet). */
export function ratchetPlan(d: Distributing, newcomers: VerifiedMember[], changes: { roles?: ReadonlyMap<string, RosterRole>; locked?: boolean; repackage?: VerifiedMember[] }): CommitPlan {
  const current = d.current;
  if (!current) throw new MembershipError('NO_EPOCH', 'no epoch to ratchet from');
  if (!current.members) throw new MembershipError('NO_MEMBER_LIST', 'only the distributor that made the epoch can ratchet it');
  const listed = new Set(current.members);
  const fresh = newcomers.filter((m) => !listed.has(m.memberKeyId) && d.mayAdmit(m.memberKeyId));
  const roleOf = (id: string): RosterRole => changes.roles?.get(id) ?? d.roleOf(id) ?? 'listener';
  let next = d.nextIndex;
  const stay = current.stage.filter((m) => roleOf(m.memberKeyId) !== 'listener').map((m) => ({ ...m, role: roleOf(m.memberKeyId) }));
  const onStage = new Set(stay.map((m) => m.memberKeyId));
  const arriving = [...(changes.roles?.keys() ?? [])].filter((id) => !onStage.has(id) && listed.has(id) && roleOf(id) !== 'listener');
  const stage = [...stay, ...arriving.map((memberKeyId) => ({ memberKeyId, senderIndex: next++, role: roleOf(memberKeyId) }))];
  const again = (changes.repackage ?? []).filter((m) => listed.has(m.memberKeyId) && m.memberKeyId !== d.me);
  return { members: [...current.members, ...fresh.map((m) => m.memberKeyId)], stage, recipients: [...fresh, ...again], locked: changes.locked ?? current.locked };
}
