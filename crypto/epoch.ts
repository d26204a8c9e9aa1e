// Epoch key commits: the distributor's signed announcement of a new epoch, its member list and the sealed secrets.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bigEndian, concat, fromBase64url, fromHex, randomBytes, readBigEndian, toBase64url, toHex, utf8 } from './bytes.ts';
import { CommitError } from './errors.ts';
import type { Identity } from './identity.ts';
import { deriveLabelled, labelBytes } from './kdf.ts';
import { MAX_EPOCH, MAX_SENDER_INDEX } from './kid.ts';
import { sodium } from './sodium.ts';

const VERSION = 1;
const KIND_CODES = { fresh: 1, ratchet: 2 } as const;
export type CommitKind = keyof typeof KIND_CODES;
export const EPOCH_SECRET_BYTES = 32;
const MEMBER_ID_BYTES = 8;
const SEALED_BYTES = EPOCH_SECRET_BYTES + 48; // crypto_box_seal overhead: ephemeral key and MAC
const ROTATION_BYTES = 24 + 32 + 16;

export interface CommitMember {
  memberKeyId: string;
  senderIndex: number;
}

export interface OpenedCommit {
  epoch: number;
  kind: CommitKind;
  distributor: string;
  members: CommitMember[];
  epochSecret: Uint8Array;
  /** A rotated room secret (link rotation), readable only with this epoch's secret. */
  newRoomSecret: Uint8Array | null;
}

export function generateEpochSecret(): Uint8Array {
  return randomBytes(EPOCH_SECRET_BYTES);
}

/** The join step: everyone holding epoch n's secret computes epoch n+1's; a newcomer is only given the result. */
export function ratchetEpochSecret(secret: Uint8Array): Uint8Array {
  return deriveLabelled(secret, 'epoch-ratchet', EPOCH_SECRET_BYTES);
}

/** The SFrame base key of one sender in one epoch. */
export function deriveSenderBaseKey(epochSecret: Uint8Array, senderIndex: number, suite: number): Uint8Array {
  return deriveLabelled(epochSecret, 'sender-base-key', 32, concat(bigEndian(senderIndex, 2), bigEndian(suite, 2)));
}

function rotationKey(epochSecret: Uint8Array): Uint8Array {
  return deriveLabelled(epochSecret, 'room-rotation', 32);
}

function transcript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

export interface CommitRecipient {
  memberKeyId: string;
  boxPublicKey: Uint8Array;
}

export function createCommit(options: {
  distributor: Identity;
  roomId: string;
  epoch: number;
  kind: CommitKind;
  members: CommitMember[];
  epochSecret: Uint8Array;
  /** Who gets the epoch secret sealed: everyone for 'fresh', the newcomers for 'ratchet'. */
  sealFor: CommitRecipient[];
  newRoomSecret?: Uint8Array;
}): string {
  const { epoch, members } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  const parts: Uint8Array[] = [
    Uint8Array.of(VERSION, KIND_CODES[options.kind]),
    bigEndian(epoch, 8),
    fromHex(options.distributor.memberKeyId),
    bigEndian(members.length, 4),
  ];
  for (const m of members) {
    if (m.senderIndex < 0 || m.senderIndex > MAX_SENDER_INDEX) throw new RangeError('sender index out of range');
    parts.push(fromHex(m.memberKeyId), bigEndian(m.senderIndex, 2));
  }
  parts.push(bigEndian(options.sealFor.length, 4));
  for (const r of options.sealFor) parts.push(fromHex(r.memberKeyId), sodium.crypto_box_seal(options.epochSecret, r.boxPublicKey));
  if (options.newRoomSecret) {
    const nonce = randomBytes(24);
    parts.push(Uint8Array.of(1), nonce, xchacha20poly1305(rotationKey(options.epochSecret), nonce).encrypt(options.newRoomSecret));
  } else parts.push(Uint8Array.of(0));
  const body = concat(...parts);
  const signature = sodium.crypto_sign_detached(transcript(options.roomId, body), options.distributor.signSecretKey);
  return toBase64url(concat(body, signature));
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
    const kind = r.u8() === 1 ? 'fresh' : 'ratchet';
    return { kind, epoch: r.uint(8), distributor: toHex(r.take(MEMBER_ID_BYTES)) };
  } catch (error) {
    throw error instanceof CommitError ? error : new CommitError('not base64url');
  }
}

/**
 * Verifies a commit from the expected distributor for this room with a higher epoch, and returns the epoch secret:
 * unsealed when sealed to `me`, otherwise (a ratchet following our current epoch) ratcheted from our own secret.
 */
export function openCommit(options: {
  blob: string;
  roomId: string;
  distributorSignPublicKey: Uint8Array;
  me: Identity;
  currentEpoch: number | null;
  currentSecret: Uint8Array | null;
}): OpenedCommit {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.blob);
  } catch {
    throw new CommitError('not base64url');
  }
  if (bytes.length < 64 + 2) throw new CommitError('truncated');
  const body = bytes.subarray(0, bytes.length - 64);
  const signature = bytes.subarray(bytes.length - 64);
  if (!sodium.crypto_sign_verify_detached(signature, transcript(options.roomId, body), options.distributorSignPublicKey)) {
    throw new CommitError('not signed by the room distributor for this room');
  }
  const r = new Reader(body);
  if (r.u8() !== VERSION) throw new CommitError('unknown version');
  const kindCode = r.u8();
  const kind: CommitKind | null = kindCode === 1 ? 'fresh' : kindCode === 2 ? 'ratchet' : null;
  if (!kind) throw new CommitError('unknown kind');
  const epoch = r.uint(8);
  if (options.currentEpoch !== null && epoch <= options.currentEpoch) throw new CommitError(`epoch ${epoch} is not newer than ${options.currentEpoch}`);
  const distributor = toHex(r.take(MEMBER_ID_BYTES));
  const members: CommitMember[] = [];
  for (let n = r.uint(4); n > 0; n--) members.push({ memberKeyId: toHex(r.take(MEMBER_ID_BYTES)), senderIndex: r.uint(2) });
  let sealed: Uint8Array | null = null;
  for (let n = r.uint(4); n > 0; n--) {
    const id = toHex(r.take(MEMBER_ID_BYTES));
    const box = r.take(SEALED_BYTES);
    if (id === options.me.memberKeyId) sealed = box;
  }
  const rotation = r.u8() === 1 ? r.take(ROTATION_BYTES) : null;
  if (r.offset !== body.length) throw new CommitError('trailing bytes');

  let epochSecret: Uint8Array;
  if (sealed) {
    try {
      epochSecret = sodium.crypto_box_seal_open(sealed, options.me.boxPublicKey, options.me.boxSecretKey);
    } catch {
      throw new CommitError('sealed secret does not open with my key');
    }
  } else if (kind === 'ratchet' && options.currentSecret && options.currentEpoch === epoch - 1) {
    epochSecret = ratchetEpochSecret(options.currentSecret);
  } else {
    throw new CommitError('this commit holds no key for me');
  }
  let newRoomSecret: Uint8Array | null = null;
  if (rotation) {
    try {
      newRoomSecret = xchacha20poly1305(rotationKey(epochSecret), rotation.subarray(0, 24)).decrypt(rotation.subarray(24));
    } catch {
      throw new CommitError('rotated room secret does not authenticate');
    }
  }
  return { epoch, kind, distributor, members, epochSecret, newRoomSecret };
}
