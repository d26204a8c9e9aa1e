// Room messages (reactions, chat, pins, recording notices): signed by their sender, sealed under the epoch's message key, padded to fixed sizes.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, fromBase64url, fromHex, randomBytes, readBigEndian, toBase64url, toHex, utf8 } from './bytes.ts';
import { RoomMessageError } from './errors.ts';
import type { Identity } from './identity.ts';
import { deriveLabelled, labelBytes } from './kdf.ts';
import { MAX_EPOCH } from './kid.ts';
import { sodium } from './sodium.ts';

/** 2: the signature and the associated data bind the commit that made the epoch (H(n)), not only its number. */
const VERSION = 2;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const SIGNATURE_BYTES = 64;
export const ROOM_MESSAGE_KINDS = ['reaction', 'chat', 'pin', 'recording'] as const;
export type RoomMessageKind = (typeof ROOM_MESSAGE_KINDS)[number];

/**
 * The padded plaintext is one of these sizes, so the relay learns which bucket a message fell in and nothing finer:
 * a reaction and a short line of chat look alike, a long message one of two larger sizes.
 */
export const ROOM_MESSAGE_BUCKETS = [256, 1024, 4096] as const;
/** version, kind, sender, sentAt, id, payload length: what precedes the payload in the signed body. */
const BODY_HEAD = 1 + 1 + 8 + 8 + 16 + 2;
/** The largest payload that fits the largest bucket with its head, signature and the padding marker. */
export const ROOM_MESSAGE_MAX_PAYLOAD = ROOM_MESSAGE_BUCKETS.at(-1)! - BODY_HEAD - SIGNATURE_BYTES - 1;
/** What precedes the ciphertext on the wire: version and the epoch in the clear, so a receiver picks the key. */
const WIRE_HEAD = 1 + 8 + NONCE_BYTES;
/** Every blob the relay can see has one of these lengths in bytes. */
export const ROOM_MESSAGE_WIRE_BYTES = ROOM_MESSAGE_BUCKETS.map((b) => WIRE_HEAD + b + TAG_BYTES);

export interface RoomMessage {
  kind: RoomMessageKind;
  /** memberKeyId of the signer: whose verified key the signature checked under. */
  sender: string;
  /**
   * The epoch the sender sealed it under. Signed with the commit hash that made that epoch, so nobody re-seals it under
   * another epoch, nor under the same number in another lineage (a fork a colluding member made).
   */
  epoch: number;
  /** The sender's clock, milliseconds since 1970: only shown, never trusted for order or freshness. */
  sentAt: number;
  /** Names the message once: receivers show each at most once, so a replay is dropped. */
  id: string;
  payload: Uint8Array;
}

/** The key that seals room messages of one epoch: apart from the SFrame keys of the same epoch. */
export function roomMessageKey(epochSecret: Uint8Array): Uint8Array {
  return deriveLabelled(epochSecret, 'room-message', 32);
}

function aad(roomId: string, epoch: number, commitHash: Uint8Array): Uint8Array {
  if (commitHash.length !== 32) throw new RangeError('a commit hash is 32 bytes');
  return concat(labelBytes('room-message'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), bigEndian(epoch, 8), commitHash);
}

function signed(roomId: string, epoch: number, commitHash: Uint8Array, body: Uint8Array): Uint8Array {
  return concat(aad(roomId, epoch, commitHash), body);
}

function bucketFor(length: number): number {
  const bucket = ROOM_MESSAGE_BUCKETS.find((b) => b >= length + 1);
  if (bucket === undefined) throw new RangeError(`a room message of ${length} bytes is too large`);
  return bucket;
}

export function sealRoomMessage(options: {
  roomId: string;
  epoch: number;
  epochSecret: Uint8Array;
  /** H(n) of the commit that made the epoch. */
  commitHash: Uint8Array;
  sender: Identity;
  kind: RoomMessageKind;
  payload: Uint8Array;
  sentAt?: number;
}): string {
  const { roomId, epoch, commitHash, payload } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  if (payload.length > ROOM_MESSAGE_MAX_PAYLOAD) throw new RangeError(`a room message payload is at most ${ROOM_MESSAGE_MAX_PAYLOAD} bytes`);
  const body = concat(
    Uint8Array.of(VERSION, ROOM_MESSAGE_KINDS.indexOf(options.kind)),
    fromHex(options.sender.memberKeyId),
    bigEndian(Math.max(0, Math.floor(options.sentAt ?? Date.now())), 8),
    randomBytes(16),
    bigEndian(payload.length, 2),
    payload,
  );
  const signature = sodium.crypto_sign_detached(signed(roomId, epoch, commitHash, body), options.sender.signSecretKey);
  const plain = concat(body, signature);
  const padded = new Uint8Array(bucketFor(plain.length));
  padded.set(plain);
  padded[plain.length] = 0x80;
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = xchacha20poly1305(roomMessageKey(options.epochSecret), nonce, aad(roomId, epoch, commitHash)).encrypt(padded);
  return toBase64url(concat(Uint8Array.of(VERSION), bigEndian(epoch, 8), nonce, sealed));
}

function decode(blob: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(blob);
  } catch {
    throw new RoomMessageError('not base64url');
  }
  if (bytes[0] !== VERSION || !ROOM_MESSAGE_WIRE_BYTES.includes(bytes.length)) throw new RoomMessageError('unknown format or size');
  return bytes;
}

/** The epoch a message names in the clear: which key to open it with. Says nothing about whether it is genuine. */
export function roomMessageEpoch(blob: string): number {
  return Number(readBigEndian(decode(blob).subarray(1, 9)));
}

/**
 * Opens a message sealed under this epoch's key and checks its signature, over the commit hash of the epoch the caller
 * holds, under the verified key of the member it names (signKeyOf returns null for anyone the caller does not know).
 * Whether that member may send this kind of message (pins, recording notices) is the caller's rule.
 */
export function openRoomMessage(options: { roomId: string; blob: string; epochSecret: Uint8Array; commitHash: Uint8Array; signKeyOf: (memberKeyId: string) => Uint8Array | null }): RoomMessage {
  const bytes = decode(options.blob);
  const epoch = Number(readBigEndian(bytes.subarray(1, 9)));
  let padded: Uint8Array;
  try {
    padded = xchacha20poly1305(roomMessageKey(options.epochSecret), bytes.subarray(9, WIRE_HEAD), aad(options.roomId, epoch, options.commitHash)).decrypt(bytes.subarray(WIRE_HEAD));
  } catch {
    throw new RoomMessageError("does not authenticate under this epoch's key");
  }
  if (padded[0] !== VERSION) throw new RoomMessageError('unknown body version');
  const kind = ROOM_MESSAGE_KINDS[padded[1]!];
  if (!kind) throw new RoomMessageError('unknown kind');
  const length = (padded[BODY_HEAD - 2]! << 8) | padded[BODY_HEAD - 1]!;
  const end = BODY_HEAD + length + SIGNATURE_BYTES;
  if (end >= padded.length || padded[end] !== 0x80 || padded.subarray(end + 1).some((b) => b !== 0)) throw new RoomMessageError('bad padding');
  const body = padded.subarray(0, BODY_HEAD + length);
  const sender = toHex(body.subarray(2, 10));
  const key = options.signKeyOf(sender);
  if (!key) throw new RoomMessageError('signed by someone this member does not know');
  if (!sodium.crypto_sign_verify_detached(padded.subarray(BODY_HEAD + length, end), signed(options.roomId, epoch, options.commitHash, body), key)) {
    throw new RoomMessageError('bad signature');
  }
  return {
    kind,
    sender,
    epoch,
    sentAt: Number(readBigEndian(body.subarray(10, 18))),
    id: toHex(sha256(body).subarray(0, 16)),
    payload: body.slice(BODY_HEAD),
  };
}
