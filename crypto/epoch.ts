// Epoch commits: the distributor's signed roster and the sealed commit secret, and the epoch secret derived from both.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, equalBytes, fromBase64url, fromHex, randomBytes, readBigEndian, toBase64url, toHex, utf8 } from './bytes.ts';
import { CommitError } from './errors.ts';
import type { Identity } from './identity.ts';
import { deriveLabelled, labelBytes } from './kdf.ts';
import { MAX_EPOCH, MAX_SENDER_INDEX } from './kid.ts';
import { sodium } from './sodium.ts';

const VERSION = 2;
const KIND_CODES = { fresh: 1, ratchet: 2 } as const;
export type CommitKind = keyof typeof KIND_CODES;
export const ROLES = ['host', 'moderator', 'speaker', 'listener'] as const;
export type RosterRole = (typeof ROLES)[number];
export const EPOCH_SECRET_BYTES = 32;
export const COMMIT_HASH_BYTES = 32;
/** The transcript hash before the first commit of a lineage. */
export const NO_PREVIOUS_COMMIT = new Uint8Array(COMMIT_HASH_BYTES);
const MEMBER_ID_BYTES = 8;
const SEALED_BYTES = EPOCH_SECRET_BYTES + 48; // crypto_box_seal overhead: ephemeral key and MAC
const ROTATION_BYTES = 24 + 32 + 16;
const FLAG_LOCKED = 1;

/** One member of an epoch as the distributor signed it: who, which SFrame sender index, which role on the stage. */
export interface RosterEntry {
  memberKeyId: string;
  senderIndex: number;
  role: RosterRole;
}

export interface OpenedCommit {
  epoch: number;
  kind: CommitKind;
  distributor: string;
  /** The transcript hash of the commit this one follows, as the distributor saw it. */
  previous: Uint8Array;
  /** SHA-256 of this commit's signed transcript: the next commit names it, and the epoch secret is bound to it. */
  hash: Uint8Array;
  locked: boolean;
  roster: RosterEntry[];
  epochSecret: Uint8Array;
  /** A rotated room secret (link rotation), readable only by holders of this commit's secret. */
  newRoomSecret: Uint8Array | null;
}

export interface CommitRecipient {
  memberKeyId: string;
  boxPublicKey: Uint8Array;
}

export interface CreatedCommit extends OpenedCommit {
  blob: string;
  /** Recipients whose public key could not be sealed to: left out of the commit, never a reason to abort it. */
  skipped: string[];
}

/**
 * The join step's commit secret: everyone holding epoch n's secret computes it; a newcomer is given it sealed. HKDF is
 * one-way, so a newcomer learns nothing of epoch n.
 */
export function ratchetCommitSecret(epochSecret: Uint8Array): Uint8Array {
  return deriveLabelled(epochSecret, 'epoch-ratchet', EPOCH_SECRET_BYTES);
}

/**
 * The epoch secret is bound to the whole signed commit (roster, sender indexes, distributor, the previous transcript):
 * two groups shown different commits derive different keys, so a fork means silence, never a shared key.
 */
export function deriveEpochSecret(commitSecret: Uint8Array, commitHash: Uint8Array): Uint8Array {
  return deriveLabelled(commitSecret, 'epoch-secret', EPOCH_SECRET_BYTES, commitHash);
}

/** The SFrame base key of one sender in one epoch. */
export function deriveSenderBaseKey(epochSecret: Uint8Array, senderIndex: number, suite: number): Uint8Array {
  return deriveLabelled(epochSecret, 'sender-base-key', 32, concat(bigEndian(senderIndex, 2), bigEndian(suite, 2)));
}

/** A short code that members sharing an epoch's keys read alike and a split room does not: 6 digits, "123 456". */
export function epochCode(epochSecret: Uint8Array): string {
  const n = Number(readBigEndian(deriveLabelled(epochSecret, 'epoch-code', 4))) % 1_000_000;
  const digits = String(n).padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

function rotationKey(commitSecret: Uint8Array): Uint8Array {
  return deriveLabelled(commitSecret, 'room-rotation', 32);
}

function transcript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

/** Refuses rosters no honest distributor makes: duplicate members or sender indexes, more than one host. */
function checkRoster(roster: RosterEntry[]): void {
  const ids = new Set<string>();
  const indexes = new Set<number>();
  let hosts = 0;
  for (const m of roster) {
    if (!Number.isInteger(m.senderIndex) || m.senderIndex < 0 || m.senderIndex > MAX_SENDER_INDEX) throw new CommitError('sender index out of range');
    if (ids.has(m.memberKeyId)) throw new CommitError('a member is listed twice');
    if (indexes.has(m.senderIndex)) throw new CommitError('a sender index is given twice');
    ids.add(m.memberKeyId);
    indexes.add(m.senderIndex);
    if (m.role === 'host') hosts++;
  }
  if (hosts > 1) throw new CommitError('more than one host');
}

export function createCommit(options: {
  distributor: Identity;
  roomId: string;
  epoch: number;
  kind: CommitKind;
  previous: Uint8Array;
  locked: boolean;
  roster: RosterEntry[];
  /** Random for 'fresh'; ratchetCommitSecret(current epoch secret) for 'ratchet'. */
  commitSecret: Uint8Array;
  /** Who gets the commit secret sealed: everyone for 'fresh', the newcomers for 'ratchet'. */
  sealFor: CommitRecipient[];
  newRoomSecret?: Uint8Array;
}): CreatedCommit {
  const { epoch, roster } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  if (options.previous.length !== COMMIT_HASH_BYTES) throw new RangeError('previous transcript hash is 32 bytes');
  checkRoster(roster);
  const parts: Uint8Array[] = [
    Uint8Array.of(VERSION, KIND_CODES[options.kind], options.locked ? FLAG_LOCKED : 0),
    bigEndian(epoch, 8),
    fromHex(options.distributor.memberKeyId),
    options.previous,
    bigEndian(roster.length, 4),
  ];
  for (const m of roster) parts.push(fromHex(m.memberKeyId), bigEndian(m.senderIndex, 2), Uint8Array.of(ROLES.indexOf(m.role)));
  const sealed: Uint8Array[] = [];
  const skipped: string[] = [];
  for (const r of options.sealFor) {
    try {
      sealed.push(fromHex(r.memberKeyId), sodium.crypto_box_seal(options.commitSecret, r.boxPublicKey));
    } catch {
      skipped.push(r.memberKeyId);
    }
  }
  parts.push(bigEndian(sealed.length / 2, 4), ...sealed);
  let newRoomSecret: Uint8Array | null = null;
  if (options.newRoomSecret) {
    newRoomSecret = options.newRoomSecret;
    const nonce = randomBytes(24);
    parts.push(Uint8Array.of(1), nonce, xchacha20poly1305(rotationKey(options.commitSecret), nonce).encrypt(newRoomSecret));
  } else parts.push(Uint8Array.of(0));
  const body = concat(...parts);
  const t = transcript(options.roomId, body);
  const signature = sodium.crypto_sign_detached(t, options.distributor.signSecretKey);
  const hash = sha256(t);
  return {
    blob: toBase64url(concat(body, signature)),
    skipped,
    epoch,
    kind: options.kind,
    distributor: options.distributor.memberKeyId,
    previous: options.previous,
    hash,
    locked: options.locked,
    roster,
    epochSecret: deriveEpochSecret(options.commitSecret, hash),
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

/** Reads the distributor and epoch without verifying: to pick the verification key. Trust nothing else from it. */
export function peekCommit(blob: string): { epoch: number; kind: CommitKind; distributor: string } {
  try {
    const r = new Reader(fromBase64url(blob));
    if (r.u8() !== VERSION) throw new CommitError('unknown version');
    const kind = r.u8() === KIND_CODES.fresh ? 'fresh' : 'ratchet';
    r.u8();
    return { kind, epoch: r.uint(8), distributor: toHex(r.take(MEMBER_ID_BYTES)) };
  } catch (error) {
    throw error instanceof CommitError ? error : new CommitError('not base64url');
  }
}

/**
 * Verifies a commit's signature under the key of the distributor it names (the caller says whose keys it knows and
 * whether that member may distribute) and recovers the epoch secret: from the sealed entry for `me`, or, for a ratchet
 * that follows our own epoch (same previous transcript), from our own epoch secret. Policy (who may distribute, epoch
 * bounds, sender index reuse) is the caller's: client/src/session/membership.ts.
 */
export function openCommit(options: {
  blob: string;
  roomId: string;
  /** The verified signing key of the member a commit names as distributor, or null to refuse it. */
  signKeyOf: (memberKeyId: string) => Uint8Array | null;
  me: Identity;
  current: { epochSecret: Uint8Array; hash: Uint8Array } | null;
}): OpenedCommit {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.blob);
  } catch {
    throw new CommitError('not base64url');
  }
  if (bytes.length < 64 + 3) throw new CommitError('truncated');
  const body = bytes.subarray(0, bytes.length - 64);
  const signature = bytes.subarray(bytes.length - 64);
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
  const signKey = options.signKeyOf(distributor);
  if (!signKey) throw new CommitError('not from a member who may distribute keys');
  const t = transcript(options.roomId, body);
  if (!sodium.crypto_sign_verify_detached(signature, t, signKey)) throw new CommitError('not signed by its distributor for this room');
  const previous = r.take(COMMIT_HASH_BYTES).slice();
  const roster: RosterEntry[] = [];
  for (let n = r.uint(4); n > 0; n--) {
    const memberKeyId = toHex(r.take(MEMBER_ID_BYTES));
    const senderIndex = r.uint(2);
    const role = ROLES[r.u8()];
    if (!role) throw new CommitError('unknown role');
    roster.push({ memberKeyId, senderIndex, role });
  }
  checkRoster(roster);
  let sealed: Uint8Array | null = null;
  for (let n = r.uint(4); n > 0; n--) {
    const id = toHex(r.take(MEMBER_ID_BYTES));
    const box = r.take(SEALED_BYTES);
    if (id === options.me.memberKeyId) sealed = box;
  }
  const rotation = r.u8() === 1 ? r.take(ROTATION_BYTES) : null;
  if (r.offset !== body.length) throw new CommitError('trailing bytes');

  let commitSecret: Uint8Array;
  if (sealed) {
    try {
      commitSecret = sodium.crypto_box_seal_open(sealed, options.me.boxPublicKey, options.me.boxSecretKey);
    } catch {
      throw new CommitError('sealed secret does not open with my key');
    }
  } else if (kind === 'ratchet' && options.current && equalBytes(previous, options.current.hash)) {
    commitSecret = ratchetCommitSecret(options.current.epochSecret);
  } else {
    throw new CommitError('this commit holds no key for me');
  }
  let newRoomSecret: Uint8Array | null = null;
  if (rotation) {
    try {
      newRoomSecret = xchacha20poly1305(rotationKey(commitSecret), rotation.subarray(0, 24)).decrypt(rotation.subarray(24));
    } catch {
      throw new CommitError('rotated room secret does not authenticate');
    }
  }
  const hash = sha256(t);
  return { epoch, kind, distributor, previous, hash, locked: (flags & FLAG_LOCKED) !== 0, roster, epochSecret: deriveEpochSecret(commitSecret, hash), newRoomSecret };
}

export function generateCommitSecret(): Uint8Array {
  return randomBytes(EPOCH_SECRET_BYTES);
}
