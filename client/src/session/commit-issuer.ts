// A distributor's commits made and resent: the next epoch's number and secret, a package per recipient, the header kept.
import { createCommit, generateCommitSecret, NO_PREVIOUS_COMMIT, ratchetCommitSecret, sealPackage, type CommitKind, type CreatedCommit, type Identity, type RoomKeys } from '../../../crypto/index.ts';
import type { CommitPlan } from './commit-plans.ts';
import type { EpochState, VerifiedMember } from './membership-types.ts';
import type { PairKeys } from './pair-keys.ts';

/** What making a commit reads of the distributor (Membership's). */
export interface Issuing {
  readonly identity: Identity;
  readonly keys: RoomKeys;
  readonly current: EpochState | null;
  readonly removed: ReadonlySet<string>;
  readonly pairs: PairKeys;
}

export class CommitIssuer {
  /** The header and commit secret of the epoch this member made, to hand a member who lost them its package again. */
  private issued: { epoch: number; blob: string; commitSecret: Uint8Array } | null = null;
  /** The lowest epoch a fresh commit may carry. */
  private epochFloor = 0;

  /** Makes the next commit carry at least this epoch (a room re-created after a relay restart leaps ahead). */
  raiseNextEpoch(atLeast: number): void {
    this.epochFloor = Math.max(this.epochFloor, atLeast);
  }

  /** The commit `plan` describes, a package sealed to each recipient but the distributor; the caller adopts its epoch. */
  make(d: Issuing, kind: CommitKind, { members, stage, recipients, locked }: CommitPlan, newRoomSecret?: Uint8Array): CreatedCommit {
    const current = d.current;
    const epoch = kind === 'ratchet' ? current!.epoch + 1 : Math.max((current?.epoch ?? 0) + 1, this.epochFloor);
    const created = createCommit({
      distributor: d.identity,
      roomId: d.keys.roomId,
      linkKey: d.keys.linkKey,
      epoch,
      kind,
      previous: current?.hash ?? NO_PREVIOUS_COMMIT,
      locked,
      members,
      stage,
      commitSecret: kind === 'ratchet' ? ratchetCommitSecret(current!.secret) : generateCommitSecret(),
      packageFor: recipients.filter((r) => r.memberKeyId !== d.identity.memberKeyId),
      removed: [...d.removed],
      pairwiseKeyOf: (r) => d.pairs.keyOf(d.identity.memberKeyId, r.memberKeyId, r.boxPublicKey),
      ...(newRoomSecret ? { newRoomSecret } : {}),
    });
    d.pairs.countSealed(created.packages.length);
    this.issued = { epoch, blob: created.blob, commitSecret: created.commitSecret };
    return created;
  }

  /**
   * The current epoch again, for a member this distributor keyed that lost it (a reload) or missed a commit: the
   * header, and a fresh package for that member alone. Null for anyone it did not key: the relay asks for nothing.
   */
  resend(d: Issuing, member: VerifiedMember): { blob: string; epoch: number; package: string } | null {
    const current = d.current;
    const issued = this.issued;
    if (!current || !issued || issued.epoch !== current.epoch || !current.members?.includes(member.memberKeyId)) return null;
    const key = d.pairs.keyOf(d.identity.memberKeyId, member.memberKeyId, member.boxPublicKey);
    if (!key) return null;
    d.pairs.countSealed(1);
    return { blob: issued.blob, epoch: current.epoch, package: sealPackage({ key, hash: current.hash, memberKeyId: member.memberKeyId, commitSecret: issued.commitSecret }) };
  }
}
