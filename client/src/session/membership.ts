// The room's membership and key rules in one member's hands: who is verified, who distributes, which commits and stage decisions count.
import {
  createAnnouncement,
  createCommit,
  createKemOffer,
  createConfirmation,
  createDecision,
  epochCode,
  equalBytes,
  lineageCode,
  generateCommitSecret,
  generateKemKeyPair,
  MAX_REMOVED,
  NO_PREVIOUS_COMMIT,
  openCommit,
  openKemOffer,
  openMetadata,
  pairwiseKey,
  ratchetCommitSecret,
  sealPackage,
  verifyAnnouncement,
  verifyDecision,
  type CommitKind,
  type Decision,
  type DecisionAction,
  type Identity,
  type KemKeyPair,
  type RoomKeys,
  type RosterEntry,
  type RosterRole,
} from '../../../crypto/index.ts';
import { SignalingError } from '../../../protocol/errors.ts';
import * as stage from '../../../protocol/stage.ts';
import type { HeldDistribution } from './member-store.ts';

export interface VerifiedMember {
  participantId: string;
  memberKeyId: string;
  boxPublicKey: Uint8Array;
  signPublicKey: Uint8Array;
  name: string;
  /** A stage member's X-Wing key, which every member encapsulates to; null for whoever published none. */
  kemPublicKey: Uint8Array | null;
}

export interface EpochState {
  epoch: number;
  kind: CommitKind;
  secret: Uint8Array;
  /** Transcript hash of the commit that made this epoch. */
  hash: Uint8Array;
  distributor: string;
  locked: boolean;
  /** Host, moderators and speakers with their sender indexes, as the distributor signed them. */
  stage: RosterEntry[];
  memberCount: number;
  /** Every member holding the epoch's keys: known to the distributor that made the epoch, null to everyone else. */
  members: string[] | null;
  /** The kicked members the commit names, oldest first: the room's removals as its distributor carries them on. */
  removed: string[];
  /** This member's sender index in the epoch, or null when it is not on stage. */
  myIndex: number | null;
  /** Read aloud beside the fingerprint: equal for members who share this epoch's keys. */
  code: string;
  /** Read aloud after a hand-over: names the distributor whose lineage this member follows. */
  lineage: string;
}

export interface IssuedCommit extends EpochState {
  /** The signed header, for everyone. */
  blob: string;
  /** One package per recipient, by memberKeyId: the relay hands each member only its own. */
  packages: { memberKeyId: string; package: string }[];
  /** Members left out because their key cannot be used; the page tells the host. */
  skipped: string[];
}

export interface AcceptedCommit extends EpochState {
  newRoomSecret: Uint8Array | null;
}

/** What a verified stage decision asks the distributor to do. */
export type DecisionEffect =
  | { kind: 'invite'; target: string }
  | { kind: 'role'; target: string; role: RosterRole }
  | { kind: 'kick'; target: string }
  | { kind: 'admit'; target: string }
  | { kind: 'lock'; locked: boolean }
  | { kind: 'mute'; target: string };

export class MembershipError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'MembershipError';
  }
}

export const EPOCH_LIMITS = {
  /**
   * The largest step between two epochs a member accepts. A member re-creating a room after a relay restart leaps
   * REBUILD.epochLeap (1,000) ahead; anything past that would let one insider push the room towards 2^48 and freeze it.
   */
  maxStep: 1_000,
  /** A newcomer accepts a first epoch up to this: far below 2^48, so no room can be frozen at its end. */
  maxFirst: 2 ** 40,
  /** Stage decisions made more than this many epochs before the receiver's are refused as replays. */
  decisionWindow: 64,
} as const;

/** A display name is whatever the sealed profile says, trimmed and bounded; unverifiable members have none. */
export function profileName(keys: RoomKeys, sealedProfile: string): string {
  const profile = openMetadata<{ name?: unknown }>(keys.metaKey, keys.roomId, 'profile', sealedProfile);
  return typeof profile?.name === 'string' ? profile.name.slice(0, 60) : '';
}

const HANDOVER_RANK: Record<RosterRole, number> = { host: 0, moderator: 1, speaker: 2, listener: 3 };

/** Who may distribute, in hand-over order, from a signed stage: host, then moderators, then speakers, in stage order. */
export function handOverOrder(stage: RosterEntry[]): string[] {
  return stage
    .map((m, position) => ({ m, position }))
    .filter(({ m }) => m.role !== 'listener')
    .sort((a, b) => HANDOVER_RANK[a.m.role] - HANDOVER_RANK[b.m.role] || a.position - b.position)
    .map(({ m }) => m.memberKeyId);
}

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
  /**
   * Pairwise keys with distributors (as a member) and with members (as a distributor), by distributor then member: no
   * key string is built per lookup, and a fresh epoch looks up every member's.
   */
  private readonly pairKeys = new Map<string, Map<string, Uint8Array>>();
  /**
   * X-Wing shared secrets for hybrid pairwise keys, by distributor then member: made by the member's offer to the
   * distributor's KEM key, kept by both. Only these and X25519 together key a package to or from a KEM-publishing member.
   */
  private readonly kemSecrets = new Map<string, Map<string, Uint8Array>>();
  /** This member's KEM key pair: kept with its identity across a reload, published only in announcements made with `kem` (stage members). */
  readonly kem: KemKeyPair;
  /** Whether this member's current announcement carries its KEM key: then it seals only under hybrid keys. */
  private publishedKem = false;
  /** Packages this member sealed as a distributor, by kind of pairwise key (test diagnostics show hybrid keys in force). */
  readonly sealed = { hybrid: 0, classical: 0 };
  /** The lowest sender index a ratchet may give a newcomer: no index is issued twice in one lineage. */
  private nextIndex = 0;
  private epochFloor = 0;
  /** The header and commit secret of the epoch this member made, to hand a member who lost them its package again. */
  private issued: { epoch: number; blob: string; commitSecret: Uint8Array } | null = null;
  private firstEpochFloor = 0;
  /** A distributor back after a reload, before its first epoch: the stage and lock it held, from its own storage. */
  private heldBack: HeldDistribution | null = null;

  constructor(keys: RoomKeys, identity: Identity, kem: KemKeyPair = generateKemKeyPair()) {
    this.roomKeys = keys;
    this.identity = identity;
    this.kem = kem;
  }

  get keys(): RoomKeys {
    return this.roomKeys;
  }

  /** A rotated link: pairwise keys bind the room id, so those made under the old one would seal what nobody opens. */
  set keys(keys: RoomKeys) {
    this.roomKeys = keys;
    this.pairKeys.clear();
    // Offers are signed for one room id: members offer again under the new one.
    this.kemSecrets.clear();
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
    this.pairKeys.clear();
    this.kemSecrets.clear();
  }

  /**
   * This member's announcement; `kem`: with its KEM key, as a stage member's must be (it may distribute). From then on
   * it seals only under hybrid keys, whatever announcement of it the relay shows others: no downgrade to X25519 alone.
   */
  announce(sealedProfile: string, kem: boolean): string {
    this.publishedKem ||= kem;
    return createAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, identity: this.identity, sealedProfile, ...(kem ? { kemPublicKey: this.kem.publicKey } : {}) });
  }

  /**
   * A page back from a reload presents the announcement it stored (a resume must show the same one): if that carried
   * this member's KEM key, members pair with it under hybrid keys, so it must seal under them as before.
   */
  resumeAnnouncement(announcement: string): void {
    try {
      const v = verifyAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, blob: announcement });
      if (v.memberKeyId === this.me && v.kemPublicKey && equalBytes(v.kemPublicKey, this.kem.publicKey)) this.publishedKem = true;
    } catch {
      // Not this room's announcement: the relay will not resume it either.
    }
  }

  /** Whether this member's announcements carry its KEM key (it was on stage): its re-announcements must too. */
  get publishesKem(): boolean {
    return this.publishedKem;
  }

  /** Whether this member owes a verified member an offer: it published a KEM key this member holds no offer to. */
  owesOffer(member: VerifiedMember): boolean {
    return member.kemPublicKey !== null && member.memberKeyId !== this.me && !this.kemSecrets.get(member.memberKeyId)?.has(this.me);
  }

  /** Whether this member, distributing, can key a member only once its offer arrives: it seals only under hybrid keys. */
  awaitsOffer(memberKeyId: string): boolean {
    return this.publishedKem && !this.kemSecrets.get(this.me)?.has(memberKeyId);
  }

  /** Checks an announcement against this room's authKey; null when it was not made with this link. */
  verify(participantId: string, announcement: string): VerifiedMember | null {
    try {
      const v = verifyAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, blob: announcement });
      // Ids are 64 bits of the signing key: the first keys verified under an id keep it, so a colliding identity made
      // by an insider cannot take over another member's packages and signatures.
      const first = this.known.get(v.memberKeyId);
      if (first && !(equalBytes(first.signPublicKey, v.signPublicKey) && equalBytes(first.boxPublicKey, v.boxPublicKey))) return null;
      // A KEM key once seen stays: an older announcement without it, replayed by the relay, does not take it away.
      if (first?.kemPublicKey && !v.kemPublicKey) return null;
      if (first?.kemPublicKey && !equalBytes(first.kemPublicKey, v.kemPublicKey!)) this.forgetKem(v.memberKeyId, this.me);
      const member = { participantId, memberKeyId: v.memberKeyId, boxPublicKey: v.boxPublicKey, signPublicKey: v.signPublicKey, name: profileName(this.keys, v.sealedProfile), kemPublicKey: v.kemPublicKey };
      this.known.set(member.memberKeyId, member);
      return member;
    } catch {
      return null;
    }
  }

  private signKeyOf = (memberKeyId: string): Uint8Array | null =>
    memberKeyId === this.me ? this.identity.signPublicKey : (this.known.get(memberKeyId)?.signPublicKey ?? null);

  /** The signed role: on the stage of the current epoch, or a listener; null before any epoch. */
  roleOf(memberKeyId: string): RosterRole | null {
    if (!this.current) return null;
    return this.current.stage.find((m) => m.memberKeyId === memberKeyId)?.role ?? 'listener';
  }

  /**
   * The symmetric key between a distributor and a member (either side computes it once, then reuses it). Hybrid
   * whenever the distributor published a KEM key (this member, or the one whose announcement says so): then without
   * the member's offer there is no key at all, and that member is skipped until its offer arrives.
   */
  private pairKey(distributor: string, member: string, theirPublicKey?: Uint8Array): Uint8Array | null {
    let ofDistributor = this.pairKeys.get(distributor);
    const cached = ofDistributor?.get(member);
    if (cached) return cached;
    const other = distributor === this.me ? member : distributor;
    const theirs = theirPublicKey ?? this.known.get(other)?.boxPublicKey;
    const hybrid = distributor === this.me ? this.publishedKem : this.known.get(distributor)?.kemPublicKey != null;
    const kemSecret = this.kemSecrets.get(distributor)?.get(member);
    if (hybrid && !kemSecret) return null;
    const key = theirs ? pairwiseKey({ roomId: this.keys.roomId, mySecretKey: this.identity.boxSecretKey, theirPublicKey: theirs, distributor, member, ...(hybrid ? { kemSecret } : {}) }) : null;
    // Keys are cached only when they could be made: a member whose announcement arrives later gets its key then.
    if (!key) return null;
    if (!ofDistributor) this.pairKeys.set(distributor, (ofDistributor = new Map()));
    ofDistributor.set(member, key);
    return key;
  }

  private forgetKem(distributor: string, member: string): void {
    this.kemSecrets.get(distributor)?.delete(member);
    this.pairKeys.get(distributor)?.delete(member);
  }

  /** The secrets of the offers this member took, by offering member: what a reload must keep (member-store.ts). */
  takenOffers(): Iterable<[string, Uint8Array]> {
    return this.kemSecrets.get(this.me)?.entries() ?? [];
  }

  /** Offers taken by the page before a reload, under the same KEM key: their members will not offer again. */
  restoreTakenOffers(secrets: Iterable<[string, Uint8Array]>): void {
    for (const [member, secret] of secrets) if (member !== this.me && secret.length === 32) this.keepKem(this.me, member, secret);
  }

  private keepKem(distributor: string, member: string, secret: Uint8Array): void {
    let ofDistributor = this.kemSecrets.get(distributor);
    if (!ofDistributor) this.kemSecrets.set(distributor, (ofDistributor = new Map()));
    ofDistributor.set(member, secret);
    this.pairKeys.get(distributor)?.delete(member);
  }

  /**
   * This member's offer to a verified member that published a KEM key (a stage member, who may distribute to it): sent
   * to it alone (`key.kem`). Null when there is nothing to offer or its key cannot be used (the page reports it).
   */
  offerTo(member: VerifiedMember): string | null {
    if (!member.kemPublicKey || member.memberKeyId === this.me) return null;
    const made = createKemOffer({ roomId: this.keys.roomId, from: this.identity, to: member.memberKeyId, toKemPublicKey: member.kemPublicKey });
    if (!made) return null;
    this.keepKem(member.memberKeyId, this.me, made.sharedSecret);
    return made.offer;
  }

  /**
   * A verified member's offer to this member's KEM key: null when it does not verify or decapsulate (counted);
   * 'replaced' when it replaces a different offer from that member (a new page of the same member, which lost the old
   * secret, so keys sealed under it no longer open there).
   */
  takeOffer(from: string, offer: string): 'taken' | 'replaced' | null {
    const sender = this.known.get(from);
    if (!sender || from === this.me) return null;
    const secret = openKemOffer({ roomId: this.keys.roomId, offer, from, fromSignPublicKey: sender.signPublicKey, me: this.identity, kem: this.kem });
    if (!secret) return null;
    const before = this.kemSecrets.get(this.me)?.get(from);
    if (before && equalBytes(before, secret)) return 'taken';
    this.keepKem(this.me, from, secret);
    return before ? 'replaced' : 'taken';
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
    this.epochFloor = Math.max(this.epochFloor, atLeast);
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
      pairwiseKeyWith: (distributor) => this.pairKey(distributor, this.me),
      roomId: this.keys.roomId,
      linkKey: this.keys.linkKey,
      // A member with no epoch yet takes its first from any verified member; the stage's host names the fingerprint
      // and the epoch code shows whether it shares keys with the room.
      signKeyOf: (id) => (current === null || id === current.distributor || id === expected ? this.signKeyOf(id) : null),
      me: this.identity,
      current: current ? { epochSecret: current.secret, hash: current.hash } : null,
    });
    if (current) {
      if (opened.epoch <= current.epoch) throw new MembershipError('OLD_EPOCH', `epoch ${opened.epoch} is not newer than ${current.epoch}`);
      if (opened.epoch - current.epoch > EPOCH_LIMITS.maxStep) throw new MembershipError('EPOCH_LEAP', `epoch ${opened.epoch} leaps too far past ${current.epoch}`);
      if (opened.distributor !== current.distributor && opened.kind !== 'fresh') throw new MembershipError('HANDOVER_NOT_FRESH', 'a new distributor must start with a fresh epoch');
      // A ratchet that follows our epoch is checked link by link. One that does not, but comes with our own package
      // (the distributor resending the epoch we missed), re-synchronises us as it would a newcomer.
      if (opened.kind === 'ratchet' && (pkg === null || this.follows(current, opened))) this.checkRatchet(current, opened.epoch, opened.previous, opened.stage);
    } else if (opened.epoch > EPOCH_LIMITS.maxFirst + this.firstEpochFloor) {
      throw new MembershipError('EPOCH_LEAP', `a first epoch of ${opened.epoch} is out of bounds`);
    } else if (opened.epoch <= this.firstEpochFloor) {
      throw new MembershipError('OLD_EPOCH', `epoch ${opened.epoch} is not newer than ${this.firstEpochFloor}, held before`);
    }
    if (!opened.stage.some((m) => m.memberKeyId === opened.distributor)) throw new MembershipError('NOT_DISTRIBUTOR', 'the signer is not on the stage it signed');
    this.checkRemovals(current, opened);
    const resync = current !== null && opened.kind === 'ratchet' && !this.follows(current, opened);
    const state = this.adopt({ ...opened, secret: opened.epochSecret, members: null }, resync);
    for (const id of opened.removed) this.removed.add(id);
    // A ratchet names the commit it follows, signed (or proven by the package) like the rest of its header: a decision
    // made just before it (a newcomer invited as its keys arrive) is checked against that.
    if (opened.kind === 'ratchet' && !this.hashes.has(opened.epoch - 1)) this.hashes.set(opened.epoch - 1, opened.previous);
    return { ...state, newRoomSecret: opened.newRoomSecret };
  }

  /**
   * Removals only accumulate. The distributor of our epoch keeps every key its last list named (only the oldest may
   * drop out, and only from a full list); any other distributor (a successor, a re-created room) names every kick this
   * member knows of, while its list is not full. Otherwise the commit is refused rather than merged: accepting it
   * would mean holding keys its distributor may have sealed to a kicked member (docs/protocol.md §5, removals).
   */
  private checkRemovals(current: EpochState | null, opened: { distributor: string; removed: string[] }): void {
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
      for (const id of this.removed) if (!next.has(id)) throw new MembershipError('REMOVAL_DROPPED', 'the commit leaves out a member this member knows was removed');
    }
  }

  private follows(current: EpochState, next: { epoch: number; previous: Uint8Array }): boolean {
    return next.epoch === current.epoch + 1 && equalBytes(next.previous, current.hash);
  }

  /**
   * A ratchet follows our epoch, keeps the sender index of everyone who stays on stage, and gives whoever comes onto
   * the stage an index never issued in the lineage: two people never share a sender key and counter space.
   */
  private checkRatchet(current: EpochState, epoch: number, previous: Uint8Array, stage: RosterEntry[]): void {
    if (epoch !== current.epoch + 1) throw new MembershipError('RATCHET_GAP', 'a ratchet must follow the current epoch');
    if (!equalBytes(previous, current.hash)) throw new MembershipError('FORK', 'the ratchet follows a commit this member never saw');
    const before = new Map(current.stage.map((m) => [m.memberKeyId, m.senderIndex]));
    for (const m of stage) {
      const index = before.get(m.memberKeyId);
      if (index !== undefined && index !== m.senderIndex) throw new MembershipError('INDEX_CHANGED', 'a ratchet cannot change a sender index');
      if (index === undefined && m.senderIndex < this.nextIndex) throw new MembershipError('INDEX_REUSED', `sender index ${m.senderIndex} was issued before in this lineage`);
    }
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

  private commit(kind: CommitKind, members: string[], stage: RosterEntry[], recipients: VerifiedMember[], locked: boolean, newRoomSecret?: Uint8Array): IssuedCommit {
    const current = this.current;
    const epoch = kind === 'ratchet' ? current!.epoch + 1 : Math.max((current?.epoch ?? 0) + 1, this.epochFloor);
    const created = createCommit({
      distributor: this.identity,
      roomId: this.keys.roomId,
      linkKey: this.keys.linkKey,
      epoch,
      kind,
      previous: current?.hash ?? NO_PREVIOUS_COMMIT,
      locked,
      members,
      stage,
      commitSecret: kind === 'ratchet' ? ratchetCommitSecret(current!.secret) : generateCommitSecret(),
      packageFor: recipients.filter((r) => r.memberKeyId !== this.me),
      removed: [...this.removed],
      pairwiseKeyOf: (r) => this.pairKey(this.me, r.memberKeyId, r.boxPublicKey),
      ...(newRoomSecret ? { newRoomSecret } : {}),
    });
    const left = new Set(created.skipped);
    this.sealed[this.publishedKem ? 'hybrid' : 'classical'] += created.packages.length;
    const state = this.adopt({ ...created, secret: created.epochSecret, members: members.filter((id) => !left.has(id)) });
    this.issued = { epoch, blob: created.blob, commitSecret: created.commitSecret };
    return { ...state, blob: created.blob, packages: created.packages, skipped: created.skipped };
  }

  /**
   * A fresh secret for every member this distributor still admits (start, leaves, kick, hand-over, rotation), each in
   * its own package. Stage roles carry over from the last stage, with indexes compacted; the creator is its host.
   */
  issueFresh(members: VerifiedMember[], options: { newRoomSecret?: Uint8Array; roles?: ReadonlyMap<string, RosterRole> } = {}): IssuedCommit {
    const current = this.current;
    const held = current ? null : this.heldBack;
    // In a locked room, only members this distributor keyed or saw admitted. A member taking over has no list of its
    // own (it holds only the hash), so it keys every verified member the relay lists (docs/threat-model.md, limits);
    // so does a distributor back after a reload (its list was not stored).
    const keyed = current?.locked && current.members ? new Set(current.members) : null;
    const admitted = members.filter(
      (m) => m.memberKeyId !== this.me && !this.removed.has(m.memberKeyId) && (!current?.locked || !keyed || keyed.has(m.memberKeyId) || this.admitted.has(m.memberKeyId)),
    );
    const everyone = [this.me, ...admitted.map((m) => m.memberKeyId)];
    const heldRole = (id: string): RosterRole | undefined => (held ? (held.stage.find((m) => m.memberKeyId === id)?.role ?? 'listener') : undefined);
    // The first epoch of a room is its creator's, who is its host.
    const roleOf = (id: string): RosterRole => options.roles?.get(id) ?? this.roleOf(id) ?? heldRole(id) ?? (id === this.me ? 'host' : 'listener');
    const order = new Map((current?.stage ?? held?.stage ?? []).map((m, i) => [m.memberKeyId, i]));
    const stage = everyone
      .filter((id) => roleOf(id) !== 'listener')
      .sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity))
      .map((memberKeyId, senderIndex) => ({ memberKeyId, senderIndex, role: roleOf(memberKeyId) }));
    const issued = this.commit('fresh', everyone, stage, admitted, current?.locked ?? held?.locked ?? false, options.newRoomSecret);
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
    const current = this.current;
    if (!current) throw new MembershipError('NO_EPOCH', 'no epoch to ratchet from');
    if (!current.members) throw new MembershipError('NO_MEMBER_LIST', 'only the distributor that made the epoch can ratchet it');
    const listed = new Set(current.members);
    const fresh = newcomers.filter((m) => !listed.has(m.memberKeyId) && this.mayAdmit(m.memberKeyId));
    const roleOf = (id: string): RosterRole => changes.roles?.get(id) ?? this.roleOf(id) ?? 'listener';
    let next = this.nextIndex;
    const stay = current.stage.filter((m) => roleOf(m.memberKeyId) !== 'listener').map((m) => ({ ...m, role: roleOf(m.memberKeyId) }));
    const onStage = new Set(stay.map((m) => m.memberKeyId));
    const arriving = [...(changes.roles?.keys() ?? [])].filter((id) => !onStage.has(id) && listed.has(id) && roleOf(id) !== 'listener');
    const stage = [...stay, ...arriving.map((memberKeyId) => ({ memberKeyId, senderIndex: next++, role: roleOf(memberKeyId) }))];
    const again = (changes.repackage ?? []).filter((m) => listed.has(m.memberKeyId) && m.memberKeyId !== this.me);
    return this.commit('ratchet', [...current.members, ...fresh.map((m) => m.memberKeyId)], stage, [...fresh, ...again], changes.locked ?? current.locked);
  }

  /**
   * The current epoch again, for a member this distributor keyed that lost it (a reload) or missed a commit: the
   * header, and a fresh package for that member alone. Null for anyone it did not key: the relay asks for nothing.
   */
  resend(member: VerifiedMember): { blob: string; epoch: number; package: string } | null {
    const current = this.current;
    const issued = this.issued;
    if (!current || !issued || issued.epoch !== current.epoch || !current.members?.includes(member.memberKeyId)) return null;
    const key = this.pairKey(this.me, member.memberKeyId, member.boxPublicKey);
    if (!key) return null;
    this.sealed[this.publishedKem ? 'hybrid' : 'classical']++;
    return { blob: issued.blob, epoch: current.epoch, package: sealPackage({ key, hash: current.hash, memberKeyId: member.memberKeyId, commitSecret: issued.commitSecret }) };
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
    const current = this.current;
    if (!current) throw new MembershipError('NO_EPOCH', 'no signed stage to check a decision against');
    const decision = verifyDecision({ roomId: this.keys.roomId, blob, signKeyOf: this.signKeyOf, commitHashOf: (epoch) => this.hashes.get(epoch) ?? null });
    if (this.applied.has(decision.id)) throw new MembershipError('REPLAY', 'this decision was already applied');
    if (decision.epoch + EPOCH_LIMITS.decisionWindow < current.epoch || decision.epoch > current.epoch + EPOCH_LIMITS.maxStep) {
      throw new MembershipError('STALE_DECISION', `a decision of epoch ${decision.epoch} is out of date`);
    }
    return { decision, effect: this.effectOf(decision) };
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

  private stageMember(memberKeyId: string | null): stage.StageMember {
    // Off the stage, a member whose announcement verified is a listener; anyone else is no member at all.
    const onStage = memberKeyId ? this.current?.stage.find((m) => m.memberKeyId === memberKeyId)?.role : undefined;
    const role = onStage ?? (memberKeyId && (this.known.has(memberKeyId) || memberKeyId === this.me) ? 'listener' : null);
    if (!memberKeyId || !role) throw new MembershipError('NOT_LISTED', 'the decision names someone who is not a verified member');
    return { participantId: memberKeyId, role, handRaisedSeq: null, muted: false, invitedBy: null };
  }

  private effectOf(d: Decision): DecisionEffect {
    const actor = this.stageMember(d.actor);
    const rule = (apply: () => void) => {
      try {
        apply();
      } catch (error) {
        if (error instanceof SignalingError) throw new MembershipError('FORBIDDEN', `${d.action}: ${error.message}`);
        throw error;
      }
    };
    switch (d.action) {
      case 'invite': {
        const target = this.stageMember(d.target);
        rule(() => stage.invite(actor, target));
        return { kind: 'invite', target: target.participantId };
      }
      case 'accept': {
        const invitation = d.embedded;
        if (!invitation || invitation.action !== 'invite' || invitation.target !== d.actor || d.target !== d.actor) {
          throw new MembershipError('FORBIDDEN', 'accept: not an answer to an invitation of this member');
        }
        if (this.applied.has(invitation.id)) throw new MembershipError('REPLAY', 'this invitation was already answered');
        // The invitation's own epoch is held to the window too, or an acceptance would revive one of any age.
        if (invitation.epoch + EPOCH_LIMITS.decisionWindow < this.current!.epoch || invitation.epoch > d.epoch) {
          throw new MembershipError('STALE_DECISION', `an invitation of epoch ${invitation.epoch} is out of date`);
        }
        const inviter = this.stageMember(invitation.actor);
        rule(() => stage.invite(inviter, actor));
        rule(() => stage.respondToInvite(actor, true, 0, Infinity));
        return { kind: 'role', target: d.actor, role: 'speaker' };
      }
      case 'leave-stage':
        if (d.target !== d.actor) throw new MembershipError('FORBIDDEN', 'leave-stage: only for oneself');
        rule(() => stage.leaveStage(actor));
        return { kind: 'role', target: d.actor, role: 'listener' };
      case 'move-to-audience': {
        const target = this.stageMember(d.target);
        rule(() => stage.moveToAudience(actor, target));
        return { kind: 'role', target: target.participantId, role: 'listener' };
      }
      case 'mute': {
        const target = this.stageMember(d.target);
        rule(() => stage.mute(actor, target));
        return { kind: 'mute', target: target.participantId };
      }
      case 'set-moderator':
      case 'unset-moderator': {
        const target = this.stageMember(d.target);
        rule(() => stage.setModerator(actor, target, d.action === 'set-moderator', 0, Infinity));
        return { kind: 'role', target: target.participantId, role: target.role };
      }
      case 'kick': {
        const target = this.stageMember(d.target);
        rule(() => stage.checkKick(actor, target));
        return { kind: 'kick', target: target.participantId };
      }
      case 'admit':
        if (!d.target) throw new MembershipError('FORBIDDEN', 'admit: names nobody');
        rule(() => stage.checkKick(actor, { participantId: d.target!, role: 'listener', handRaisedSeq: null, muted: false, invitedBy: null }));
        return { kind: 'admit', target: d.target };
      case 'lock':
      case 'unlock':
        if (!stage.isModerating(actor.role)) throw new MembershipError('FORBIDDEN', `${d.action}: only the host and moderators`);
        return { kind: 'lock', locked: d.action === 'lock' };
    }
  }
}

