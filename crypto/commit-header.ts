// A commit's signed header: its byte format, the checks on what it names, and reading and verifying it.
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, fromBase64url, fromHex, fromHexInto, fromLowercaseHexInto, readBigEndian, toHex, utf8 } from './bytes.ts';
import { CommitError } from './errors.ts';
import { labelBytes } from './kdf.ts';
import { MAX_EPOCH, MAX_SENDER_INDEX } from './kid.ts';
import { sodium } from './sodium.ts';

const VERSION = 4;
const KIND_CODES = { fresh: 1, ratchet: 2 } as const;
export type CommitKind = keyof typeof KIND_CODES;
export const ROLES = ['host', 'moderator', 'speaker', 'listener'] as const;
export type RosterRole = (typeof ROLES)[number];
export const COMMIT_HASH_BYTES = 32;
/** The transcript hash before the first commit of a lineage. */
export const NO_PREVIOUS_COMMIT = new Uint8Array(COMMIT_HASH_BYTES);
export const MEMBER_ID_BYTES = 8;
/**
 * The most removed members a header names: the newest, 2 KB at most in a header every member gets. Past it the
 * oldest drop out of the list (docs/protocol.md §5, removals).
 */
export const MAX_REMOVED = 256;
export const ROTATION_BYTES = 24 + 32 + 16;
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
export function hashMembers(memberKeyIds: Iterable<string>): { hash: Uint8Array; count: number } {
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

export function transcript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

/** Refuses a removed list no honest distributor makes: longer than the bound, or naming someone twice. */
export function checkRemoved(removed: string[]): void {
  if (removed.length > MAX_REMOVED) throw new CommitError('too many removed members');
  if (new Set(removed).size !== removed.length) throw new CommitError('a removed member is listed twice');
  if (!removed.every((id) => /^[0-9a-f]{16}$/.test(id))) throw new CommitError('a removed member key id is 8 bytes');
}

/** Refuses stages no honest distributor makes: duplicate members or sender indexes, a listener, more than one host. */
export function checkStage(stage: RosterEntry[]): void {
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

/** The header's bytes as its distributor signs them; `rotation`: the new room secret, sealed (nonce, then ciphertext). */
export function encodeCommitHeader(h: Omit<CommitHeader, 'hash'> & { rotation: Uint8Array | null }): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(VERSION, KIND_CODES[h.kind], h.locked ? FLAG_LOCKED : 0), bigEndian(h.epoch, 8), fromHex(h.distributor), h.previous, h.membersHash, bigEndian(h.memberCount, 4), bigEndian(h.stage.length, 4)];
  for (const m of h.stage) parts.push(fromHex(m.memberKeyId), bigEndian(m.senderIndex, 2), Uint8Array.of(ROLES.indexOf(m.role)));
  parts.push(bigEndian(h.removed.length, 2));
  for (const id of h.removed) parts.push(fromHex(id));
  if (h.rotation) parts.push(Uint8Array.of(1), h.rotation);
  else parts.push(Uint8Array.of(0));
  return concat(...parts);
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

export function decode(blob: string): Uint8Array {
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

/** A header read but not yet proven: by its signature, or by a package bound to its hash. */
export interface ReadHeader extends CommitHeader {
  rotation: Uint8Array | null;
  signature: Uint8Array;
  transcript: Uint8Array;
}

export function readCommitHeader(blob: string, roomId: string): ReadHeader {
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
export function mayDistribute(header: ReadHeader, signKeyOf: (memberKeyId: string) => Uint8Array | null): Uint8Array {
  const signKey = signKeyOf(header.distributor);
  if (!signKey) throw new CommitError('not from a member who may distribute keys');
  return signKey;
}

export function withoutProof({ signature: _signature, transcript: _transcript, ...header }: ReadHeader): CommitHeader & { rotation: Uint8Array | null } {
  return header;
}

/** Verifies a header's signature under the key of the distributor it names, if the caller lets that member distribute. */
export function verifyCommitHeader(options: { blob: string; roomId: string; signKeyOf: (memberKeyId: string) => Uint8Array | null }): CommitHeader & { rotation: Uint8Array | null } {
  const header = readCommitHeader(options.blob, options.roomId);
  const signKey = mayDistribute(header, options.signKeyOf);
  if (!sodium.crypto_sign_verify_detached(header.signature, header.transcript, signKey)) throw new CommitError('not signed by its distributor for this room');
  return withoutProof(header);
}
