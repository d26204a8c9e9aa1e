// The room's membership and key rules in one member's hands: who is verified, who distributes, which commits and stage decisions count.
// The facade over its parts: announcements.ts (checked under the link), pair-keys.ts (pairwise keys, KEM offers),
// commit-rules.ts (what a commit must keep), commit-plans.ts (what a distributor's next commit holds), commit-issuer.ts
// (making and resending it), stage-check.ts (decisions), membership-types.ts.
import {
  createAnnouncement,
  createConfirmation,
  createDecision,
  epochCode,
  lineageCode,
  generateKemKeyPair,
  NO_PREVIOUS_COMMIT,
  openCommit,
  type CommitKind,
  type Decision,
  type DecisionAction,
  type Identity,
  type KemKeyPair,
  type RoomKeys,
  type RosterRole,
} from '../../../crypto/index.ts';
import { announcedKem, checkAnnouncement } from './announcements.ts';
import { CommitIssuer, type Issuing } from './commit-issuer.ts';
import { freshPlan, ratchetPlan, type CommitPlan, type Distributing } from './commit-plans.ts';
import { checkCommit, follows } from './commit-rules.ts';
import type { HeldDistribution } from './member-store.ts';
import { EPOCH_LIMITS, handOverOrder, type AcceptedCommit, type DecisionEffect, type EpochState, type IssuedCommit, type VerifiedMember } from './membership-types.ts';
import { PairKeys } from './pair-keys.ts';
import { checkDecision } from './stage-check.ts';

// The facade's callers (the core, the shell, tests) import these from here.
export { EPOCH_LIMITS, MembershipError, type AcceptedCommit, type DecisionEffect, type EpochState, type IssuedCommit, type VerifiedMember } from './membership-types.ts';

export class Membership {
  readonly identity: Identity;
  private roomKeys: RoomKeys;
  current: EpochState | null = null;
  /** Every member whose announcement verified, by memberKeyId: whose signatures this member can check. */
  private readonly known = new Map<string, VerifiedMember>();
  /**
   * Who was kicked, oldest first: from every kick decision this member verified and every commit it accepted, whatever
   * its role. Never sealed to again, never a distributor, carried in every commit this member makes.
   */
  readonly removed = new Set<string>();
  /** Newcomers a moderator admitted from the lobby of a locked room. */
  private readonly admitted = new Set<string>();
  private readonly applied = new Set<string>();
  /**
   * The commit hash of each epoch of this member's lineage within the decision window: a decision names its epoch, and
   * is checked over the hash this member holds for it, so one made in another lineage under the same number fails.
   */
  private readonly hashes = new Map<number, Uint8Array>();
  /** Pairwise keys and KEM offers (pair-keys.ts). */
  private readonly pairs: PairKeys;
  /** The lowest sender index a ratchet may give a newcomer: no index is issued twice in one lineage. */
  private nextIndex = 0;
  /** The commits this member makes as a distributor (commit-issuer.ts). */
  private readonly issuer = new CommitIssuer();
  private firstEpochFloor = 0;
  /** A distributor back after a reload, before its first epoch: the stage and lock it held, from its own storage. */
  private heldBack: HeldDistribution | null = null;

  constructor(keys: RoomKeys, identity: Identity, kem: KemKeyPair = generateKemKeyPair()) {
    this.roomKeys = keys;
    this.identity = identity;
    this.pairs = new PairKeys(identity, kem, () => this.roomKeys, this.known);
  }

  /** This member's KEM key pair: kept with its identity across a reload, published only in announcements made with `kem` (stage members). */
  get kem(): KemKeyPair {
    return this.pairs.kem;
  }

  /** Packages this member sealed as a distributor, by kind of pairwise key (test diagnostics show hybrid keys in force). */
  get sealed(): { hybrid: number; classical: number } {
    return this.pairs.sealed;
  }

  get keys(): RoomKeys {
    return this.roomKeys;
  }

  /** A rotated link: pairwise keys bind the room id, so those made under the old one would seal what nobody opens. */
  set keys(keys: RoomKeys) {
    this.roomKeys = keys;
    // Offers are signed for one room id: members offer again under the new one.
    this.pairs.clear();
  }

  get me(): string {
    return this.identity.memberKeyId;
  }

  /**
   * After a link rotation: every announcement verified under the old authKey stops counting (no signature of it is
   * checked, no key made with it) until the member re-announces under the new one.
   */
  forgetVerified(): void {
    this.known.clear();
    this.pairs.clear();
  }

  /**
   * This member's announcement; `kem`: with its KEM key, as a stage member's must be (it may distribute). From then on
   * it seals only under hybrid keys, whatever announcement of it the relay shows others: no downgrade to X25519 alone.
   */
  announce(sealedProfile: string, kem: boolean): string {
    this.pairs.published ||= kem;
    return createAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, identity: this.identity, sealedProfile, ...(kem ? { kemPublicKey: this.kem.publicKey } : {}) });
  }

  /**
   * A page back from a reload presents the announcement it stored (a resume must show the same one): if that carried
   * this member's KEM key, members pair with it under hybrid keys, so it must seal under them as before.
   */
  resumeAnnouncement(announcement: string): void {
    if (announcedKem(this.keys, announcement, this.me, this.kem)) this.pairs.published = true;
  }

  /** Whether this member's announcements carry its KEM key (it was on stage): its re-announcements must too. */
  get publishesKem(): boolean {
    return this.pairs.published;
  }

  /** Whether this member owes a verified member an offer: it published a KEM key this member holds no offer to. */
  owesOffer(member: VerifiedMember): boolean {
    return this.pairs.owesOffer(member);
  }

  /** Whether this member, distributing, can key a member only once its offer arrives: it seals only under hybrid keys. */
  awaitsOffer(memberKeyId: string): boolean {
    return this.pairs.awaitsOffer(memberKeyId);
  }

  /** Checks an announcement against this room's authKey; null when it was not made with this link. */
  verify(participantId: string, announcement: string): VerifiedMember | null {
    const member = checkAnnouncement(
      this.keys,
      participantId,
      announcement,
      (id) => this.known.get(id),
      (id) => this.pairs.forget(id, this.me),
    );
    if (member) this.known.set(member.memberKeyId, member);
    return member;
  }

  private signKeyOf = (memberKeyId: string): Uint8Array | null => (memberKeyId === this.me ? this.identity.signPublicKey : (this.known.get(memberKeyId)?.signPublicKey ?? null));

  /** The signed role: on the stage of the current epoch, or a listener; null before any epoch. */
  roleOf(memberKeyId: string): RosterRole | null {
    if (!this.current) return null;
    return this.current.stage.find((m) => m.memberKeyId === memberKeyId)?.role ?? 'listener';
  }

  /** The secrets of the offers this member took, by offering member: what a reload must keep (member-store.ts). */
  takenOffers(): Iterable<[string, Uint8Array]> {
    return this.pairs.takenOffers();
  }

  /** Offers taken by the page before a reload, under the same KEM key: their members will not offer again. */
  restoreTakenOffers(secrets: Iterable<[string, Uint8Array]>): void {
    this.pairs.restoreTakenOffers(secrets);
  }

  /** This member's offer to a verified member that published a KEM key (PairKeys.offerTo). */
  offerTo(member: VerifiedMember): string | null {
    return this.pairs.offerTo(member);
  }

  /** A verified member's offer to this member's KEM key (PairKeys.takeOffer). */
  takeOffer(from: string, offer: string): 'taken' | 'replaced' | null {
    return this.pairs.takeOffer(from, offer);
  }

  /**
   * Who distributes now. The relay only says who is present (`present`: memberKeyIds of verified members it lists);
   * the order comes from the last signed stage, so a lie about presence can only skip candidates, which splits the
   * room into groups with different keys (silence, and different epoch codes), never lets anyone else in.
   */
  expectedDistributor(present: ReadonlySet<string>): string | null {
    const current = this.current;
    if (!current) return null;
    // A kicked member never distributes, however present the relay says it is.
    const may = (id: string) => present.has(id) && !this.removed.has(id);
    if (may(current.distributor)) return current.distributor;
    return handOverOrder(current.stage).find(may) ?? null;
  }

  /** The members who would distribute, in order, if the relay lost the room: the current distributor first. */
  handOver(): string[] {
    const current = this.current;
    if (!current) return [];
    return [current.distributor, ...handOverOrder(current.stage).filter((id) => id !== current.distributor)];
  }

  /**
   * This member comes back as a new participant (a relay restart, a resume that failed): it takes its next epoch as a
   * newcomer would, but never one at or below the epoch it held, so old commits replayed to it are refused.
   */
  restart(): void {
    if (this.current) this.firstEpochFloor = this.current.epoch;
    this.current = null;
    this.hashes.clear();
    // Its next lineage may have compacted the stage since (a fresh epoch): like any newcomer, it learns which indexes
    // were issued from its first epoch's stage, or it would refuse its own old index given to it again.
    this.nextIndex = 0;
  }

  isDistributor(present: ReadonlySet<string>): boolean {
    return this.expectedDistributor(new Set([...present, this.me])) === this.me;
  }

  /** Makes the next commit carry at least this epoch (a room re-created after a relay restart leaps ahead). */
  raiseNextEpoch(atLeast: number): void {
    this.issuer.raiseNextEpoch(atLeast);
  }

  // ---- following commits ----

  /**
   * Accepts a commit (its signed header, and this member's package when it has one) only from the member who may
   * distribute now, bound to our lineage, within the epoch bounds.
   */
  accept(blob: string, pkg: string | null, present: ReadonlySet<string>): AcceptedCommit {
    const current = this.current;
    const expected = current ? this.expectedDistributor(present) : null;
    const opened = openCommit({
      blob,
      package: pkg,
      pairwiseKeyWith: (distributor) => this.pairs.keyOf(distributor, this.me),
      roomId: this.keys.roomId,
      linkKey: this.keys.linkKey,
      // A member with no epoch yet takes its first from any verified member; the stage's host names the fingerprint
      // and the epoch code shows whether it shares keys with the room.
      signKeyOf: (id) => (current === null || id === current.distributor || id === expected ? this.signKeyOf(id) : null),
      me: this.identity,
      current: current ? { epochSecret: current.secret, hash: current.hash } : null,
    });
    checkCommit(current, opened, pkg !== null, { removed: this.removed, nextIndex: this.nextIndex, firstEpochFloor: this.firstEpochFloor });
    const resync = current !== null && opened.kind === 'ratchet' && !follows(current, opened);
    const state = this.adopt({ ...opened, secret: opened.epochSecret, members: null }, resync);
    for (const id of opened.removed) this.removed.add(id);
    // A ratchet names the commit it follows, signed (or proven by the package) like the rest of its header: a decision
    // made just before it (a newcomer invited as its keys arrive) is checked against that.
    if (opened.kind === 'ratchet' && !this.hashes.has(opened.epoch - 1)) this.hashes.set(opened.epoch - 1, opened.previous);
    return { ...state, newRoomSecret: opened.newRoomSecret };
  }

  /** `resync`: a member that skipped commits learns the lineage's indexes anew, as a newcomer does. */
  private adopt(e: Omit<EpochState, 'myIndex' | 'code' | 'lineage'>, resync = false): EpochState {
    const highest = e.stage.reduce((max, m) => Math.max(max, m.senderIndex + 1), 0);
    this.nextIndex = e.kind === 'fresh' || resync ? highest : Math.max(this.nextIndex, highest);
    const myIndex = e.stage.find((m) => m.memberKeyId === this.me)?.senderIndex ?? null;
    this.current = { ...e, myIndex, code: epochCode(e.secret), lineage: lineageCode(e.distributor) };
    this.hashes.set(e.epoch, e.hash);
    for (const epoch of this.hashes.keys()) if (epoch + EPOCH_LIMITS.decisionWindow < e.epoch) this.hashes.delete(epoch);
    return this.current;
  }

  // ---- distributing ----

  /** What a distributor's plans read of this member's state (commit-plans.ts). */
  private distributing(): Distributing {
    return { me: this.me, current: this.current, removed: this.removed, admitted: this.admitted, nextIndex: this.nextIndex, roleOf: (id) => this.roleOf(id), mayAdmit: (id) => this.mayAdmit(id) };
  }

  /** What making a commit reads of this member's state (commit-issuer.ts). */
  private issuing(): Issuing {
    return { identity: this.identity, keys: this.keys, current: this.current, removed: this.removed, pairs: this.pairs };
  }

  private commit(kind: CommitKind, plan: CommitPlan, newRoomSecret?: Uint8Array): IssuedCommit {
    const created = this.issuer.make(this.issuing(), kind, plan, newRoomSecret);
    const left = new Set(created.skipped);
    const state = this.adopt({ ...created, secret: created.epochSecret, members: plan.members.filter((id) => !left.has(id)) });
    return { ...state, blob: created.blob, packages: created.packages, skipped: created.skipped };
  }

  /**
   * A fresh secret for every member this distributor still admits (start, leaves, kick, hand-over, rotation), each in
   * its own package. Stage roles carry over from the last stage, with indexes compacted; the creator is its host.
   */
  issueFresh(members: VerifiedMember[], options: { newRoomSecret?: Uint8Array; roles?: ReadonlyMap<string, RosterRole> } = {}): IssuedCommit {
    const issued = this.commit('fresh', freshPlan(this.distributing(), this.current ? null : this.heldBack, members, options.roles), options.newRoomSecret);
    this.heldBack = null;
    return issued;
  }

  /**
   * The distributor comes back after a reload (the same participant, within the relay's grace): it held `epoch` and
   * `held` from its own storage. Its next commit is a fresh epoch above any it made, every member accepts it (the same
   * distributor, a newer epoch), and so every sender gets an epoch it never sent under.
   */
  resumeDistributing(epoch: number, held: HeldDistribution): void {
    this.resumeAbove(epoch);
    this.raiseNextEpoch(epoch + 1);
    for (const id of held.removed) this.removed.add(id);
    this.heldBack = held;
  }

  /**
   * Joins (and role or lock changes) ratchet: everyone computes the next secret; only newcomers get a package. Whoever
   * comes onto the stage gets a sender index never used in the lineage. Without its own member list (it did not make
   * the epoch) a distributor goes fresh instead. `repackage`: members it keyed that get a package too: a stage member
   * back after a reload may have sent under the epoch it held, so its first epoch back must be one it never held.
   */
  issueRatchet(newcomers: VerifiedMember[], changes: { roles?: ReadonlyMap<string, RosterRole>; locked?: boolean; repackage?: VerifiedMember[] } = {}): IssuedCommit {
    return this.commit('ratchet', ratchetPlan(this.distributing(), newcomers, changes));
  }

  /** The current epoch again, for a member this distributor keyed that lost it or missed a commit (CommitIssuer.resend). */
  resend(member: VerifiedMember): { blob: string; epoch: number; package: string } | null {
    return this.issuer.resend(this.issuing(), member);
  }

  /** A member back after a reload holds no epoch; it still refuses any epoch below the one it held before. */
  resumeAbove(epoch: number): void {
    this.firstEpochFloor = Math.max(this.firstEpochFloor, epoch);
  }

  /** Whether a newcomer may be given keys now: not kicked, and admitted by a moderator when the room is locked. */
  mayAdmit(memberKeyId: string): boolean {
    return !this.removed.has(memberKeyId) && (!this.current?.locked || this.admitted.has(memberKeyId));
  }

  /** The distributor's signed answer to a sender's freshness challenge. */
  confirm(nonce: string): string | null {
    if (!this.current || this.current.distributor !== this.me) return null;
    return createConfirmation({ roomId: this.keys.roomId, distributor: this.identity, epoch: this.current.epoch, commitHash: this.current.hash, nonce });
  }

  // ---- stage decisions ----

  /** Signs this member's own stage decision. */
  decide(action: DecisionAction, target: string | null, embedded?: string): string {
    const current = this.current;
    return createDecision({
      roomId: this.keys.roomId,
      actor: this.identity,
      action,
      target,
      epoch: current?.epoch ?? 0,
      commitHash: current?.hash ?? NO_PREVIOUS_COMMIT,
      ...(embedded ? { embedded } : {}),
    });
  }

  /**
   * Verifies a decision and the actor's authority under the signed stage (the stage rules of protocol/stage.ts), and
   * what it asks for. Throws for forgeries, replays and decisions the actor had no right to make.
   */
  check(blob: string): { decision: Decision; effect: DecisionEffect } {
    return checkDecision(
      {
        keys: this.keys,
        me: this.me,
        current: this.current,
        applied: this.applied,
        isKnown: (id) => this.known.has(id),
        signKeyOf: this.signKeyOf,
        hashOf: (epoch) => this.hashes.get(epoch) ?? null,
      },
      blob,
    );
  }

  /** Marks a checked decision as used, so a replay of it is refused. */
  markApplied(decision: Decision): void {
    this.applied.add(decision.id);
    if (decision.embedded) this.applied.add(decision.embedded.id);
  }

  /**
   * A member that does not distribute records the decisions it checked as used too: should it take over, the relay
   * cannot replay to it one the previous distributor applied. An invitation stays open until its acceptance.
   */
  witness(decision: Decision, effect: DecisionEffect): void {
    if (effect.kind !== 'invite') this.markApplied(decision);
  }

  /** Records the lobby admission or kick a checked decision carries in this distributor's own lists. */
  record(effect: DecisionEffect): void {
    if (effect.kind === 'admit') this.admitted.add(effect.target);
    if (effect.kind === 'kick') this.removed.add(effect.target);
  }
}
