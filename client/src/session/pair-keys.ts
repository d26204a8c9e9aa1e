// One member's pairwise keys with distributors and members, and the KEM offers that make them hybrid.
import { createKemOffer, equalBytes, openKemOffer, pairwiseKey, type Identity, type KemKeyPair, type RoomKeys } from '../../../crypto/index.ts';
import type { VerifiedMember } from './membership-types.ts';

export class PairKeys {
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
  published = false;
  /** Packages this member sealed as a distributor, by kind of pairwise key (test diagnostics show hybrid keys in force). */
  readonly sealed = { hybrid: 0, classical: 0 };
  private readonly identity: Identity;
  private readonly roomKeys: () => RoomKeys;
  /** The members whose announcements verified, by memberKeyId (Membership's). */
  private readonly known: ReadonlyMap<string, VerifiedMember>;

  constructor(identity: Identity, kem: KemKeyPair, roomKeys: () => RoomKeys, known: ReadonlyMap<string, VerifiedMember>) {
    this.identity = identity;
    this.kem = kem;
    this.roomKeys = roomKeys;
    this.known = known;
  }

  private get me(): string {
    return this.identity.memberKeyId;
  }

  /** Every key and offer goes: they bind the room id and the announcements verified under its link. */
  clear(): void {
    this.pairKeys.clear();
    this.kemSecrets.clear();
  }

  /** Counts packages sealed as a distributor, under the kind of key this member seals with. */
  countSealed(packages: number): void {
    this.sealed[this.published ? 'hybrid' : 'classical'] += packages;
  }

  /** Whether this member owes a verified member an offer: it published a KEM key this member holds no offer to. */
  owesOffer(member: VerifiedMember): boolean {
    return member.kemPublicKey !== null && member.memberKeyId !== this.me && !this.kemSecrets.get(member.memberKeyId)?.has(this.me);
  }

  /** Whether this member, distributing, can key a member only once its offer arrives: it seals only under hybrid keys. */
  awaitsOffer(memberKeyId: string): boolean {
    return this.published && !this.kemSecrets.get(this.me)?.has(memberKeyId);
  }

  /**
   * The symmetric key between a distributor and a member (either side computes it once, then reuses it). Hybrid
   * whenever the distributor published a KEM key (this member, or the one whose announcement says so): then without
   * the member's offer there is no key at all, and that member is skipped until its offer arrives.
   */
  keyOf(distributor: string, member: string, theirPublicKey?: Uint8Array): Uint8Array | null {
    let ofDistributor = this.pairKeys.get(distributor);
    const cached = ofDistributor?.get(member);
    if (cached) return cached;
    const other = distributor === this.me ? member : distributor;
    const theirs = theirPublicKey ?? this.known.get(other)?.boxPublicKey;
    const hybrid = distributor === this.me ? this.published : this.known.get(distributor)?.kemPublicKey != null;
    const kemSecret = this.kemSecrets.get(distributor)?.get(member);
    if (hybrid && !kemSecret) return null;
    const key = theirs ? pairwiseKey({ roomId: this.roomKeys().roomId, mySecretKey: this.identity.boxSecretKey, theirPublicKey: theirs, distributor, member, ...(hybrid ? { kemSecret } : {}) }) : null;
    // Keys are cached only when they could be made: a member whose announcement arrives later gets its key then.
    if (!key) return null;
    if (!ofDistributor) this.pairKeys.set(distributor, (ofDistributor = new Map()));
    ofDistributor.set(member, key);
    return key;
  }

  forget(distributor: string, member: string): void {
    this.kemSecrets.get(distributor)?.delete(member);
    this.pairKeys.get(distributor)?.delete(member);
  }

  /** The secrets of the offers this member took, by offering member: what a reload must keep (member-store.ts). */
  takenOffers(): Iterable<[string, Uint8Array]> {
    return this.kemSecrets.get(this.me)?.entries() ?? [];
  }

  /** Offers taken by the page before a reload, under the same KEM key: their members will not offer again. */
  restoreTakenOffers(secrets: Iterable<[string, Uint8Array]>): void {
    for (const [member, secret] of secrets) if (member !== this.me && secret.length === 32) this.keep(this.me, member, secret);
  }

  private keep(distributor: string, member: string, secret: Uint8Array): void {
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
    const made = createKemOffer({ roomId: this.roomKeys().roomId, from: this.identity, to: member.memberKeyId, toKemPublicKey: member.kemPublicKey });
    if (!made) return null;
    this.keep(member.memberKeyId, this.me, made.sharedSecret);
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
    const secret = openKemOffer({ roomId: this.roomKeys().roomId, offer, from, fromSignPublicKey: sender.signPublicKey, me: this.identity, kem: this.kem });
    if (!secret) return null;
    const before = this.kemSecrets.get(this.me)?.get(from);
    if (before && equalBytes(before, secret)) return 'taken';
    this.keep(this.me, from, secret);
    return before ? 'replaced' : 'taken';
  }
}
