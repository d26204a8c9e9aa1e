// Stage decisions: a member's signed word (invite, accept, mute, kick, admit, lock, …) that the relay carries but cannot forge.
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, fromBase64url, fromHex, randomBytes, readBigEndian, toBase64url, toHex, utf8 } from './bytes.ts';
import { DecisionError } from './errors.ts';
import type { Identity } from './identity.ts';
import { labelBytes } from './kdf.ts';
import { MAX_EPOCH } from './kid.ts';
import { sodium } from './sodium.ts';

/** 2: the signature binds the commit hash of the epoch the actor held (H(epoch)), not only its number. */
const VERSION = 2;
export const DECISION_ACTIONS = ['invite', 'accept', 'leave-stage', 'move-to-audience', 'mute', 'set-moderator', 'unset-moderator', 'kick', 'admit', 'lock', 'unlock'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];
const NO_TARGET = '0000000000000000';
const MAX_EMBEDDED = 512;

export interface Decision {
  action: DecisionAction;
  /** memberKeyId of the signer. */
  actor: string;
  /** memberKeyId of the member acted on; null for room-wide decisions (lock, unlock). */
  target: string | null;
  /**
   * The epoch the actor held when deciding, signed with the hash of the commit that made it: receivers refuse decisions
   * from long before their own epoch, and from an epoch of that number in another lineage (a fork).
   */
  epoch: number;
  /** Names the decision once: receivers apply each at most once. */
  id: string;
  /** An acceptance carries the invitation it answers, so whoever checks it needs nothing else. */
  embedded: Decision | null;
  blob: string;
}

function transcript(roomId: string, commitHash: Uint8Array, body: Uint8Array): Uint8Array {
  if (commitHash.length !== 32) throw new RangeError('a commit hash is 32 bytes');
  return concat(labelBytes('decision'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), commitHash, body);
}

export function createDecision(options: {
  roomId: string;
  actor: Identity;
  action: DecisionAction;
  target: string | null;
  epoch: number;
  /** H(epoch): the transcript hash of the commit that made the actor's epoch. */
  commitHash: Uint8Array;
  embedded?: string;
}): string {
  if (!Number.isSafeInteger(options.epoch) || options.epoch < 0 || options.epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  const embedded = options.embedded ? fromBase64url(options.embedded) : new Uint8Array(0);
  if (embedded.length > MAX_EMBEDDED) throw new RangeError('embedded decision too large');
  const body = concat(
    Uint8Array.of(VERSION, DECISION_ACTIONS.indexOf(options.action)),
    fromHex(options.actor.memberKeyId),
    fromHex(options.target ?? NO_TARGET),
    bigEndian(options.epoch, 8),
    randomBytes(16),
    bigEndian(embedded.length, 2),
    embedded,
  );
  const signature = sodium.crypto_sign_detached(transcript(options.roomId, options.commitHash, body), options.actor.signSecretKey);
  return toBase64url(concat(body, signature));
}

/**
 * Checks the signature under the verified key of the member the decision names as its actor (signKeyOf returns null
 * for anyone the caller does not know), over the hash of the commit that made the epoch it names in the caller's own
 * lineage (commitHashOf returns null for an epoch whose commit the caller does not hold). Whether that member had the
 * authority is the caller's rule, not this one's.
 */
export function verifyDecision(options: { roomId: string; blob: string; signKeyOf: (memberKeyId: string) => Uint8Array | null; commitHashOf: (epoch: number) => Uint8Array | null }, depth = 0): Decision {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.blob);
  } catch {
    throw new DecisionError('not base64url');
  }
  const head = 2 + 8 + 8 + 8 + 16 + 2;
  if (bytes.length < head + 64 || bytes[0] !== VERSION) throw new DecisionError('unknown format');
  const action = DECISION_ACTIONS[bytes[1]!];
  if (!action) throw new DecisionError('unknown action');
  const embeddedLength = (bytes[head - 2]! << 8) | bytes[head - 1]!;
  if (bytes.length !== head + embeddedLength + 64) throw new DecisionError('wrong length');
  const body = bytes.subarray(0, head + embeddedLength);
  const actor = toHex(body.subarray(2, 10));
  const key = options.signKeyOf(actor);
  if (!key) throw new DecisionError('signed by someone this member does not know');
  const epoch = Number(readBigEndian(body.subarray(18, 26)));
  const commitHash = options.commitHashOf(epoch);
  if (!commitHash) throw new DecisionError(`made under epoch ${epoch}, whose commit this member does not hold`);
  const t = transcript(options.roomId, commitHash, body);
  if (!sodium.crypto_sign_verify_detached(bytes.subarray(head + embeddedLength), t, key)) throw new DecisionError('bad signature');
  const targetHex = toHex(body.subarray(10, 18));
  let embedded: Decision | null = null;
  if (embeddedLength > 0) {
    if (depth > 0) throw new DecisionError('nested too deep');
    embedded = verifyDecision({ ...options, blob: toBase64url(body.subarray(head)) }, depth + 1);
  }
  return {
    action,
    actor,
    target: targetHex === NO_TARGET ? null : targetHex,
    epoch,
    id: toHex(sha256(t).subarray(0, 16)),
    embedded,
    blob: options.blob,
  };
}

const CONFIRMATION_VERSION = 1;

export interface Confirmation {
  distributor: string;
  epoch: number;
  /** The transcript hash of the distributor's current commit. */
  commitHash: Uint8Array;
  nonce: string;
}

function confirmationTranscript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('epoch-confirmation'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

/** The distributor's signed answer to a sender's challenge: "when your nonce reached me, my epoch was this commit". */
export function createConfirmation(options: { roomId: string; distributor: Identity; epoch: number; commitHash: Uint8Array; nonce: string }): string {
  const body = concat(Uint8Array.of(CONFIRMATION_VERSION), fromHex(options.distributor.memberKeyId), bigEndian(options.epoch, 8), options.commitHash, fromHex(options.nonce));
  return toBase64url(concat(body, sodium.crypto_sign_detached(confirmationTranscript(options.roomId, body), options.distributor.signSecretKey)));
}

export function verifyConfirmation(options: { roomId: string; blob: string; signKeyOf: (memberKeyId: string) => Uint8Array | null }): Confirmation {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.blob);
  } catch {
    throw new DecisionError('not base64url');
  }
  const bodyLength = 1 + 8 + 8 + 32 + 16;
  if (bytes.length !== bodyLength + 64 || bytes[0] !== CONFIRMATION_VERSION) throw new DecisionError('unknown confirmation format');
  const body = bytes.subarray(0, bodyLength);
  const distributor = toHex(body.subarray(1, 9));
  const key = options.signKeyOf(distributor);
  if (!key || !sodium.crypto_sign_verify_detached(bytes.subarray(bodyLength), confirmationTranscript(options.roomId, body), key)) {
    throw new DecisionError('confirmation not signed by the distributor');
  }
  return { distributor, epoch: Number(readBigEndian(body.subarray(9, 17))), commitHash: body.slice(17, 49), nonce: toHex(body.subarray(49, 65)) };
}

export function newChallengeNonce(): string {
  return toHex(randomBytes(16));
}
