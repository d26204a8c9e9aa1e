// Epoch commits: the distributor's signed header (stage, member-list hash, removed members), one small package per recipient, and the epoch secret.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, equalBytes, fromBase64url, fromHex, fromHexInto, fromLowercaseHexInto, randomBytes, readBigEndian, toBase64url, toBase64urlEach, toHex, utf8 } from './bytes.ts';
import { CommitError, CommitNoKeyError } from './errors.ts';
import type { Identity } from './identity.ts';
import { deriveLabelled, labelBytes } from './kdf.ts';
import { MAX_EPOCH, MAX_SENDER_INDEX } from './kid.ts';
import { sodium } from './sodium.ts';

const VERSION = 4;
const KIND_CODES = { fresh: 1, ratchet: 2 } as const;
export type CommitKind = keyof typeof KIND_CODES;
export const ROLES = ['host', 'moderator', 'speaker', 'listener'] as const;
export type RosterRole = (typeof ROLES)[number];
export const EPOCH_SECRET_BYTES = 32;
export const COMMIT_HASH_BYTES = 32;
/** The transcript hash before the first commit of a lineage. */
export const NO_PREVIOUS_COMMIT = new Uint8Array(COMMIT_HASH_BYTES);
const MEMBER_ID_BYTES = 8;
/**
 * The most removed members a header names: the newest, 2 KB at most in a header every member gets. Past it the
 * oldest drop out of the list (docs/protocol.md §5, removals).
 */
export const MAX_REMOVED = 256;
/** A recipient's package: its memberKeyId, an XChaCha20 nonce, the commit secret and the Poly1305 tag. */
export const PACKAGE_BYTES = MEMBER_ID_BYTES + 24 + EPOCH_SECRET_BYTES + 16;
const ROTATION_BYTES = 24 + 32 + 16;
const FLAG_LOCKED = 1;

/** One member on the stage of an epoch as the distributor signed it: who, which SFrame sender index, which role. */
export interface RosterEntry {
  memberKeyId: string;
  senderIndex: number;
  role: RosterRole;
}

export interface CommitHeader {
  epoch: number;
  kind: CommitKind;
  distributor: string;
  /** The transcript hash of the commit this one follows, as the distributor saw it. */
  previous: Uint8Array;
  /** SHA-256 of this header's signed transcript: the next commit names it, and the epoch secret is bound to it. */
  hash: Uint8Array;
  locked: boolean;
  /** Commits to every member holding the epoch's keys (listeners too): part of `hash`, so forks diverge. */
  membersHash: Uint8Array;
  memberCount: number;
  /** Host, moderators and speakers: the only members with a sender index. Everyone else is a listener. */
  stage: RosterEntry[];
  /** Member key ids of kicked members, oldest first: room state every later commit carries on, so every successor keeps them out. */
  removed: string[];
}

export interface OpenedCommit extends CommitHeader {
  epochSecret: Uint8Array;
  /** A rotated room secret (link rotation), readable only by holders of this commit's secret. */
  newRoomSecret: Uint8Array | null;
}

export interface CommitRecipient {
  memberKeyId: string;
  boxPublicKey: Uint8Array;
}

export interface CreatedCommit extends OpenedCommit {
  /** The signed header, the same for every member. */
  blob: string;
  commitSecret: Uint8Array;
  /** One package per recipient that could be keyed, addressed by memberKeyId. */
  packages: { memberKeyId: string; package: string }[];
  /** Recipients whose public key could not be keyed: left out of the commit, never a reason to abort it. */
  skipped: string[];
}

/**
 * The join step's commit secret: everyone holding epoch n's secret computes it; a newcomer is given it in its package.
 * HKDF is one-way, so a newcomer learns nothing of epoch n.
 */
export function ratchetCommitSecret(epochSecret: Uint8Array): Uint8Array {
  return deriveLabelled(epochSecret, 'epoch-ratchet', EPOCH_SECRET_BYTES);
}

/**
 * The epoch secret is bound to the whole signed header (stage, sender indexes, member-list hash, distributor, previous
 * transcript): two groups shown different commits derive different keys, so a fork means silence, never a shared key.
 * The link's epoch key L (deriveRoomKeys) is keyed in beside C: whoever never held the link learns nothing of any
 * epoch from recorded traffic, even with every package opened (docs/protocol.md §5, the link is a key).
 */
export function deriveEpochSecret(commitSecret: Uint8Array, commitHash: Uint8Array, linkKey: Uint8Array): Uint8Array {
  if (linkKey.length !== 32) throw new RangeError('a link epoch key is 32 bytes');
  return deriveLabelled(concat(commitSecret, linkKey), 'epoch-secret', EPOCH_SECRET_BYTES, commitHash);
}

/** The SFrame base key of one sender in one epoch. */
export function deriveSenderBaseKey(epochSecret: Uint8Array, senderIndex: number, suite: number): Uint8Array {
  return deriveLabelled(epochSecret, 'sender-base-key', 32, concat(bigEndian(senderIndex, 2), bigEndian(suite, 2)));
}

function sixDigits(derived: Uint8Array): string {
  const digits = String(Number(readBigEndian(derived)) % 1_000_000).padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

/** A short code that members sharing an epoch's keys read alike and a split room does not: 6 digits, "123 456". */
export function epochCode(epochSecret: Uint8Array): string {
  return sixDigits(deriveLabelled(epochSecret, 'epoch-code', 4));
}

/**
 * A short code for the lineage a member follows: it names the distributor whose commits the member takes, so it holds
 * still through every epoch that distributor makes and changes only at a hand-over. A newcomer forked by a colluding
 * member follows that member's commits (nobody else can sign them) and reads another code than the room.
 */
export function lineageCode(distributorMemberKeyId: string): string {
  return sixDigits(deriveLabelled(fromHex(distributorMemberKeyId), 'lineage-code', 4));
}

/** Commits to a set of members, whatever order they are listed in. */
export function membersHash(memberKeyIds: Iterable<string>): Uint8Array {
  return hashMembers(memberKeyIds).hash;
}

/**
 * SHA-256 of the label, a zero byte and the members' bytes, sorted as their hex texts sort and without repeats; and
 * how many members that is. Member key ids are 16 lowercase hex digits, whose text order is the order of their 64-bit
 * values: those are sorted as numbers in a BigUint64Array and repeats dropped as neighbours (1.4 ms for 10,000 rather
 * than 6.8 ms through a Set and a sort of strings). Any other text takes the general way.
 */
function hashMembers(memberKeyIds: Iterable<string>): { hash: Uint8Array; count: number } {
  const ids = Array.isArray(memberKeyIds) ? (memberKeyIds as string[]) : [...memberKeyIds];
  const label = labelBytes('members');
  const start = label.length + 1;
  const bytes = new Uint8Array(start + MEMBER_ID_BYTES * ids.length);
  let decoded = 0;
  while (decoded < ids.length && fromLowercaseHexInto(ids[decoded]!, bytes, start + MEMBER_ID_BYTES * decoded, MEMBER_ID_BYTES)) decoded++;
  if (decoded === ids.length) {
    bytes.set(label);
    const view = new DataView(bytes.buffer, start);
    const values = new BigUint64Array(ids.length);
    for (let i = 0; i < ids.length; i++) values[i] = view.getBigUint64(MEMBER_ID_BYTES * i);
    values.sort();
    let count = 0;
    for (let i = 0; i < values.length; i++) if (i === 0 || values[i] !== values[i - 1]) view.setBigUint64(MEMBER_ID_BYTES * count++, values[i]!);
    return { hash: sha256(bytes.subarray(0, start + MEMBER_ID_BYTES * count)), count };
  }
  const sorted = [...new Set(ids)].sort();
  let length = start;
  for (const id of sorted) length += Math.ceil(id.length / 2);
  const any = new Uint8Array(length);
  any.set(label);
  let offset = start;
  for (const id of sorted) offset = fromHexInto(id, any, offset);
  return { hash: sha256(any), count: sorted.length };
}

/**
 * The symmetric key between a distributor and one member, from one X25519 step that either side can do (the
 * distributor with its secret key and the member's public key, or the other way round). Every later package to that
 * member costs one XChaCha20-Poly1305 of 32 bytes. Null for a public key of small order.
 *
 * `kemSecret`: the X-Wing shared secret of the member's encapsulation to the distributor (crypto/kem.ts). With it the
 * key is hybrid, under a label of its own: a package then opens only for someone who breaks X25519 and ML-KEM-768.
 */
export function pairwiseKey(options: { roomId: string; mySecretKey: Uint8Array; theirPublicKey: Uint8Array; distributor: string; member: string; kemSecret?: Uint8Array }): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = sodium.crypto_scalarmult(options.mySecretKey, options.theirPublicKey);
  } catch {
    return null;
  }
  const context = concat(utf8.encode(options.roomId), fromHex(options.distributor), fromHex(options.member));
  if (!options.kemSecret) return deriveLabelled(shared, 'pairwise-key', 32, context);
  if (options.kemSecret.length !== 32) return null;
  return deriveLabelled(concat(shared, options.kemSecret), 'pairwise-key-hybrid', 32, context);
}

/** Keyed by the old link's L too: a rotated secret never follows from C alone, so S' is as sealed as S was. */
function rotationKey(commitSecret: Uint8Array, linkKey: Uint8Array): Uint8Array {
  return deriveLabelled(concat(commitSecret, linkKey), 'room-rotation', 32);
}

function transcript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

/** Refuses a removed list no honest distributor makes: longer than the bound, or naming someone twice. */
function checkRemoved(removed: string[]): void {
  if (removed.length > MAX_REMOVED) throw new CommitError('too many removed members');
  if (new Set(removed).size !== removed.length) throw new CommitError('a removed member is listed twice');
  if (!removed.every((id) => /^[0-9a-f]{16}$/.test(id))) throw new CommitError('a removed member key id is 8 bytes');
}

/** Refuses stages no honest distributor makes: duplicate members or sender indexes, a listener, more than one host. */
function checkStage(stage: RosterEntry[]): void {
  const ids = new Set<string>();
  const indexes = new Set<number>();
  let hosts = 0;
  for (const m of stage) {
    if (!Number.isInteger(m.senderIndex) || m.senderIndex < 0 || m.senderIndex > MAX_SENDER_INDEX) throw new CommitError('sender index out of range');
    if (ids.has(m.memberKeyId)) throw new CommitError('a member is listed twice');
    if (indexes.has(m.senderIndex)) throw new CommitError('a sender index is given twice');
    if (m.role === 'listener') throw new CommitError('a listener on the stage');
    ids.add(m.memberKeyId);
    indexes.add(m.senderIndex);
    if (m.role === 'host') hosts++;
  }
  if (hosts > 1) throw new CommitError('more than one host');
}

/** A package's associated data: the header's hash, then room for the member's id (see forMember). */
function packageAad(hash: Uint8Array): Uint8Array {
  const aad = new Uint8Array(COMMIT_HASH_BYTES + MEMBER_ID_BYTES);
  aad.set(hash);
  return aad;
}

/** Writes the member's id into a package's associated data: a distributor reuses one buffer for every member. */
function forMember(aad: Uint8Array, memberKeyId: string): Uint8Array {
  if (fromHexInto(memberKeyId, aad, COMMIT_HASH_BYTES) !== aad.length) throw new RangeError('a member key id is 8 bytes');
  return aad;
}

/**
 * Writes one member's package into `out` at `at` (PACKAGE_BYTES): the commit secret under its pairwise key, bound to
 * the header's hash and to the member (`aad`, from packageAad, gets the member's id here). Sealed and opened by
 * libsodium's XChaCha20-Poly1305: for a 32-byte secret its WebAssembly is about five times faster than noble's, and a
 * fresh epoch seals one per member and every member opens one.
 */
function sealPackageInto(out: Uint8Array, at: number, aad: Uint8Array, key: Uint8Array, memberKeyId: string, commitSecret: Uint8Array, nonce: Uint8Array): void {
  out.set(forMember(aad, memberKeyId).subarray(COMMIT_HASH_BYTES), at);
  out.set(nonce, at + MEMBER_ID_BYTES);
  out.set(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(commitSecret, aad, null, nonce, key), at + MEMBER_ID_BYTES + 24);
}

/** One member's package (see sealPackageInto), base64url. */
export function sealPackage(options: { key: Uint8Array; hash: Uint8Array; memberKeyId: string; commitSecret: Uint8Array; nonce?: Uint8Array }): string {
  const out = new Uint8Array(PACKAGE_BYTES);
  sealPackageInto(out, 0, packageAad(options.hash), options.key, options.memberKeyId, options.commitSecret, options.nonce ?? randomBytes(24));
  return toBase64url(out);
}

export function createCommit(options: {
  distributor: Identity;
  roomId: string;
  /** The link's epoch key (RoomKeys.linkKey) of the room this commit is made in. */
  linkKey: Uint8Array;
  epoch: number;
  kind: CommitKind;
  previous: Uint8Array;
  locked: boolean;
  /** Every member who holds the epoch's keys, the stage included. */
  members: string[];
  stage: RosterEntry[];
  /** Kicked members, oldest first: only the newest MAX_REMOVED are written. */
  removed?: string[];
  /** Random for 'fresh'; ratchetCommitSecret(current epoch secret) for 'ratchet'. */
  commitSecret: Uint8Array;
  /** Who gets a package: everyone for 'fresh', the newcomers for 'ratchet'. */
  packageFor: CommitRecipient[];
  /** The pairwise key with a recipient (the distributor keeps them); defaults to one X25519 step per recipient. */
  pairwiseKeyOf?: (recipient: CommitRecipient) => Uint8Array | null;
  newRoomSecret?: Uint8Array;
}): CreatedCommit {
  const { epoch, stage, roomId } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  if (options.previous.length !== COMMIT_HASH_BYTES) throw new RangeError('previous transcript hash is 32 bytes');
  checkStage(stage);
  const removed = (options.removed ?? []).slice(-MAX_REMOVED);
  checkRemoved(removed);
  const keyOf =
    options.pairwiseKeyOf ??
    ((r: CommitRecipient) => pairwiseKey({ roomId, mySecretKey: options.distributor.boxSecretKey, theirPublicKey: r.boxPublicKey, distributor: options.distributor.memberKeyId, member: r.memberKeyId }));
  const keyed: { memberKeyId: string; key: Uint8Array }[] = [];
  const skipped: string[] = [];
  for (const r of options.packageFor) {
    const key = keyOf(r);
    if (key) keyed.push({ memberKeyId: r.memberKeyId, key });
    else skipped.push(r.memberKeyId);
  }
  const left = new Set(skipped);
  const members = options.members.filter((id) => !left.has(id));
  const onStage = stage.filter((m) => !left.has(m.memberKeyId));
  const { hash: hashOfMembers, count: memberCount } = hashMembers(members);
  const parts: Uint8Array[] = [
    Uint8Array.of(VERSION, KIND_CODES[options.kind], options.locked ? FLAG_LOCKED : 0),
    bigEndian(epoch, 8),
    fromHex(options.distributor.memberKeyId),
    options.previous,
    hashOfMembers,
    bigEndian(memberCount, 4),
    bigEndian(onStage.length, 4),
  ];
  for (const m of onStage) parts.push(fromHex(m.memberKeyId), bigEndian(m.senderIndex, 2), Uint8Array.of(ROLES.indexOf(m.role)));
  parts.push(bigEndian(removed.length, 2));
  for (const id of removed) parts.push(fromHex(id));
  let newRoomSecret: Uint8Array | null = null;
  if (options.newRoomSecret) {
    newRoomSecret = options.newRoomSecret;
    const nonce = randomBytes(24);
    parts.push(Uint8Array.of(1), nonce, xchacha20poly1305(rotationKey(options.commitSecret, options.linkKey), nonce).encrypt(newRoomSecret));
  } else parts.push(Uint8Array.of(0));
  const body = concat(...parts);
  const t = transcript(roomId, body);
  const signature = sodium.crypto_sign_detached(t, options.distributor.signSecretKey);
  const hash = sha256(t);
  // Every nonce from one call for random bytes, every package into one buffer and encoded at once: a fresh epoch of
  // 10,000 members makes no string or array per member beyond its package's text.
  const nonces = randomBytes(24 * keyed.length);
  const sealed = new Uint8Array(PACKAGE_BYTES * keyed.length);
  const aad = packageAad(hash);
  for (let i = 0; i < keyed.length; i++) {
    const { memberKeyId, key } = keyed[i]!;
    sealPackageInto(sealed, PACKAGE_BYTES * i, aad, key, memberKeyId, options.commitSecret, nonces.subarray(24 * i, 24 * i + 24));
  }
  const texts = toBase64urlEach(sealed, PACKAGE_BYTES);
  const packages = keyed.map(({ memberKeyId }, i) => ({ memberKeyId, package: texts[i]! }));
  return {
    blob: toBase64url(concat(body, signature)),
    commitSecret: options.commitSecret,
    packages,
    skipped,
    epoch,
    kind: options.kind,
    distributor: options.distributor.memberKeyId,
    previous: options.previous,
    hash,
    locked: options.locked,
    membersHash: hashOfMembers,
    memberCount,
    stage: onStage,
    removed,
    epochSecret: deriveEpochSecret(options.commitSecret, hash, options.linkKey),
    newRoomSecret,
  };
}

class Reader {
  offset = 0;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  take(n: number): Uint8Array {
    if (this.offset + n > this.bytes.length) throw new CommitError('truncated');
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  uint(n: number): number {
    return Number(readBigEndian(this.take(n)));
  }
}

function decode(blob: string): Uint8Array {
  try {
    return fromBase64url(blob);
  } catch {
    throw new CommitError('not base64url');
  }
}

/** Reads the distributor and epoch without verifying: to pick the verification key. Trust nothing else from it. */
export function peekCommit(blob: string): { epoch: number; kind: CommitKind; distributor: string } {
  const r = new Reader(decode(blob));
  if (r.u8() !== VERSION) throw new CommitError('unknown version');
  const kind = r.u8() === KIND_CODES.fresh ? 'fresh' : 'ratchet';
  r.u8();
  return { kind, epoch: r.uint(8), distributor: toHex(r.take(MEMBER_ID_BYTES)) };
}

/** Verifies a header's signature under the key of the distributor it names, if the caller lets that member distribute. */
/** A header read but not yet proven: by its signature, or by a package bound to its hash. */
interface ReadHeader extends CommitHeader {
  rotation: Uint8Array | null;
  signature: Uint8Array;
  transcript: Uint8Array;
}

function readCommitHeader(blob: string, roomId: string): ReadHeader {
  const bytes = decode(blob);
  if (bytes.length < 64 + 3) throw new CommitError('truncated');
  const body = bytes.subarray(0, bytes.length - 64);
  const r = new Reader(body);
  if (r.u8() !== VERSION) throw new CommitError('unknown version');
  const kindCode = r.u8();
  const kind: CommitKind | null = kindCode === KIND_CODES.fresh ? 'fresh' : kindCode === KIND_CODES.ratchet ? 'ratchet' : null;
  if (!kind) throw new CommitError('unknown kind');
  const flags = r.u8();
  if ((flags & ~FLAG_LOCKED) !== 0) throw new CommitError('unknown flags');
  const epoch = r.uint(8);
  if (epoch < 1 || epoch > MAX_EPOCH) throw new CommitError('epoch out of range');
  const distributor = toHex(r.take(MEMBER_ID_BYTES));
  const previous = r.take(COMMIT_HASH_BYTES).slice();
  const hashOfMembers = r.take(COMMIT_HASH_BYTES).slice();
  const memberCount = r.uint(4);
  const stage: RosterEntry[] = [];
  for (let n = r.uint(4); n > 0; n--) {
    const memberKeyId = toHex(r.take(MEMBER_ID_BYTES));
    const senderIndex = r.uint(2);
    const role = ROLES[r.u8()];
    if (!role) throw new CommitError('unknown role');
    stage.push({ memberKeyId, senderIndex, role });
  }
  checkStage(stage);
  if (memberCount < stage.length) throw new CommitError('fewer members than on stage');
  const removed: string[] = [];
  const removedCount = r.uint(2);
  if (removedCount > MAX_REMOVED) throw new CommitError('too many removed members');
  for (let n = removedCount; n > 0; n--) removed.push(toHex(r.take(MEMBER_ID_BYTES)));
  checkRemoved(removed);
  const rotation = r.u8() === 1 ? r.take(ROTATION_BYTES).slice() : null;
  if (r.offset !== body.length) throw new CommitError('trailing bytes');
  const t = transcript(roomId, body);
  return { epoch, kind, distributor, previous, hash: sha256(t), locked: (flags & FLAG_LOCKED) !== 0, membersHash: hashOfMembers, memberCount, stage, removed, rotation, signature: bytes.subarray(bytes.length - 64), transcript: t };
}

/** `signKeyOf` is also the policy: null for anyone who may not distribute now. */
function mayDistribute(header: ReadHeader, signKeyOf: (memberKeyId: string) => Uint8Array | null): Uint8Array {
  const signKey = signKeyOf(header.distributor);
  if (!signKey) throw new CommitError('not from a member who may distribute keys');
  return signKey;
}

function withoutProof({ signature: _signature, transcript: _transcript, ...header }: ReadHeader): CommitHeader & { rotation: Uint8Array | null } {
  return header;
}

export function verifyCommitHeader(options: { blob: string; roomId: string; signKeyOf: (memberKeyId: string) => Uint8Array | null }): CommitHeader & { rotation: Uint8Array | null } {
  const header = readCommitHeader(options.blob, options.roomId);
  const signKey = mayDistribute(header, options.signKeyOf);
  if (!sodium.crypto_sign_verify_detached(header.signature, header.transcript, signKey)) throw new CommitError('not signed by its distributor for this room');
  return withoutProof(header);
}

/**
 * Proves a commit header and recovers the epoch secret: from this member's package, or, for a ratchet that follows our
 * own epoch (same previous transcript), from our own epoch secret. A package proves its header as the signature would:
 * it opens only under the pairwise key of this member and the distributor the header names (the X25519 keys of their
 * verified announcements), with the header's hash as associated data, so only that distributor could have made it
 * for this header. That spares each member an Ed25519 verification per fresh epoch (about 150 µs in libsodium's
 * WebAssembly, more than the rest of opening it). A header without a package is proven by its signature. Policy (who may distribute, epoch bounds, sender index reuse) is the
 * caller's: client/src/session/membership.ts.
 */
export function openCommit(options: {
  blob: string;
  /** This member's package from the same commit, if the relay delivered one. */
  package: string | null;
  roomId: string;
  /** The link's epoch key (RoomKeys.linkKey): without it no epoch secret follows, whatever else is known. */
  linkKey: Uint8Array;
  signKeyOf: (memberKeyId: string) => Uint8Array | null;
  /** The pairwise key with the distributor the header names (see pairwiseKey), or null when it cannot be made. */
  pairwiseKeyWith: (distributor: string) => Uint8Array | null;
  me: Identity;
  current: { epochSecret: Uint8Array; hash: Uint8Array } | null;
}): OpenedCommit {
  let header: CommitHeader;
  let rotation: Uint8Array | null;
  let commitSecret: Uint8Array;
  if (options.package) {
    const read = readCommitHeader(options.blob, options.roomId);
    mayDistribute(read, options.signKeyOf);
    ({ rotation, ...header } = withoutProof(read));
    const bytes = decode(options.package);
    if (bytes.length !== PACKAGE_BYTES || toHex(bytes.subarray(0, MEMBER_ID_BYTES)) !== options.me.memberKeyId) throw new CommitError('the package is not for me');
    const key = options.pairwiseKeyWith(header.distributor);
    if (!key) throw new CommitError('no pairwise key with the distributor');
    try {
      commitSecret = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, bytes.subarray(MEMBER_ID_BYTES + 24), forMember(packageAad(header.hash), options.me.memberKeyId), bytes.subarray(MEMBER_ID_BYTES, MEMBER_ID_BYTES + 24), key);
    } catch {
      throw new CommitError('the package does not open with my key for this commit');
    }
  } else {
    ({ rotation, ...header } = verifyCommitHeader(options));
    if (header.kind !== 'ratchet' || !options.current || !equalBytes(header.previous, options.current.hash)) throw new CommitNoKeyError();
    commitSecret = ratchetCommitSecret(options.current.epochSecret);
  }
  let newRoomSecret: Uint8Array | null = null;
  if (rotation) {
    try {
      newRoomSecret = xchacha20poly1305(rotationKey(commitSecret, options.linkKey), rotation.subarray(0, 24)).decrypt(rotation.subarray(24));
    } catch {
      throw new CommitError('rotated room secret does not authenticate');
    }
  }
  return { ...header, epochSecret: deriveEpochSecret(commitSecret, header.hash, options.linkKey), newRoomSecret };
}

export function generateCommitSecret(): Uint8Array {
  return randomBytes(EPOCH_SECRET_BYTES);
}
