// SFrame (RFC 9605): header coding, key derivation, the cipher suites, and sender and receiver contexts.
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import { bigEndian, concat, equalBytes, readBigEndian, utf8 } from './bytes.ts';
import {
  SframeAuthError,
  SframeCounterExhaustedError,
  SframeError,
  SframeHeaderError,
  SframeReplayError,
  SframeUnknownKidError,
} from './errors.ts';

export const MAX_U64 = (1n << 64n) - 1n;

export interface CipherSuite {
  id: number;
  name: string;
  hash: CHash;
  /** AEAD key length; for CTR+HMAC suites the encryption key (Nka bytes) followed by the HMAC key. */
  nk: number;
  nka: number | null;
  nn: number;
  nt: number;
}

/**
 * The five suites of RFC 9605 section 8.1, plus the AES-256-CTR/HMAC-SHA-512 suites 6 to 8 whose AEAD vectors ship in
 * the test-vector file. All are implemented with @noble/ciphers: synchronous, so a frame costs no promise.
 */
export const CIPHER_SUITES: Readonly<Record<number, CipherSuite>> = {
  1: { id: 1, name: 'AES_128_CTR_HMAC_SHA256_80', hash: sha256, nk: 48, nka: 16, nn: 12, nt: 10 },
  2: { id: 2, name: 'AES_128_CTR_HMAC_SHA256_64', hash: sha256, nk: 48, nka: 16, nn: 12, nt: 8 },
  3: { id: 3, name: 'AES_128_CTR_HMAC_SHA256_32', hash: sha256, nk: 48, nka: 16, nn: 12, nt: 4 },
  4: { id: 4, name: 'AES_128_GCM_SHA256_128', hash: sha256, nk: 16, nka: null, nn: 12, nt: 16 },
  5: { id: 5, name: 'AES_256_GCM_SHA512_128', hash: sha512, nk: 32, nka: null, nn: 12, nt: 16 },
  6: { id: 6, name: 'AES_256_CTR_HMAC_SHA512_80', hash: sha512, nk: 96, nka: 32, nn: 12, nt: 10 },
  7: { id: 7, name: 'AES_256_CTR_HMAC_SHA512_64', hash: sha512, nk: 96, nka: 32, nn: 12, nt: 8 },
  8: { id: 8, name: 'AES_256_CTR_HMAC_SHA512_32', hash: sha512, nk: 96, nka: 32, nn: 12, nt: 4 },
};

/** The design's default: AES_128_GCM_SHA256_128. */
export const DEFAULT_CIPHER_SUITE = 4;

export function cipherSuite(id: number): CipherSuite {
  const suite = CIPHER_SUITES[id];
  if (!suite) throw new RangeError(`unknown SFrame cipher suite ${id}`);
  return suite;
}

// ---- Header (section 4.3) ----

function minimalLength(value: bigint): number {
  let length = 1;
  while (value >> BigInt(8 * length) !== 0n) length++;
  return length;
}

export function encodeHeader(kid: bigint, counter: bigint): Uint8Array {
  if (kid < 0n || kid > MAX_U64 || counter < 0n || counter > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  const parts: Uint8Array[] = [];
  let first = 0;
  if (kid < 8n) first |= Number(kid) << 4;
  else {
    const length = minimalLength(kid);
    first |= 0x80 | ((length - 1) << 4);
    parts.push(bigEndian(kid, length));
  }
  if (counter < 8n) first |= Number(counter);
  else {
    const length = minimalLength(counter);
    first |= 0x08 | (length - 1);
    parts.push(bigEndian(counter, length));
  }
  return concat(Uint8Array.of(first), ...parts);
}

export interface SframeHeader {
  kid: bigint;
  counter: bigint;
  /** Bytes the header occupies at the start of the frame. */
  length: number;
}

export function decodeHeader(frame: Uint8Array): SframeHeader {
  if (frame.length < 1) throw new SframeHeaderError('empty frame');
  const first = frame[0]!;
  let offset = 1;
  let kid: bigint;
  if (first & 0x80) {
    const length = ((first >> 4) & 0x07) + 1;
    if (frame.length < offset + length) throw new SframeHeaderError('frame too short for its KID');
    kid = readBigEndian(frame.subarray(offset, offset + length));
    offset += length;
  } else kid = BigInt((first >> 4) & 0x07);
  let counter: bigint;
  if (first & 0x08) {
    const length = (first & 0x07) + 1;
    if (frame.length < offset + length) throw new SframeHeaderError('frame too short for its CTR');
    counter = readBigEndian(frame.subarray(offset, offset + length));
    offset += length;
  } else counter = BigInt(first & 0x07);
  return { kid, counter, length: offset };
}

// ---- Key schedule (section 4.4.2) ----

export interface SframeKeyMaterial {
  key: Uint8Array;
  salt: Uint8Array;
}

export function deriveKeySalt(suiteId: number, kid: bigint, baseKey: Uint8Array): SframeKeyMaterial & { secret: Uint8Array } {
  const suite = cipherSuite(suiteId);
  const secret = extract(suite.hash, baseKey, new Uint8Array(0));
  const tail = concat(bigEndian(kid, 8), bigEndian(suite.id, 2));
  const key = expand(suite.hash, secret, concat(utf8.encode('SFrame 1.0 Secret key '), tail), suite.nk);
  const salt = expand(suite.hash, secret, concat(utf8.encode('SFrame 1.0 Secret salt '), tail), suite.nn);
  return { secret, key, salt };
}

// ---- AEADs (sections 4.5.1 and 4.5.2) ----

function ctrHmacTag(suite: CipherSuite, authKey: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const authData = concat(bigEndian(aad.length, 8), bigEndian(ct.length, 8), bigEndian(suite.nt, 8), nonce, aad, ct);
  return hmac(suite.hash, authKey, authData).subarray(0, suite.nt);
}

export function aeadEncrypt(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const suite = cipherSuite(suiteId);
  if (suite.nka === null) return gcm(key, nonce, aad).encrypt(plaintext);
  const ct = ctr(key.subarray(0, suite.nka), concat(nonce, new Uint8Array(4))).encrypt(plaintext);
  return concat(ct, ctrHmacTag(suite, key.subarray(suite.nka), nonce, aad, ct));
}

/** Throws SframeAuthError when the tag does not verify; never returns unauthenticated plaintext. */
export function aeadDecrypt(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const suite = cipherSuite(suiteId);
  if (ciphertext.length < suite.nt) throw new SframeAuthError();
  if (suite.nka === null) {
    try {
      return gcm(key, nonce, aad).decrypt(ciphertext);
    } catch {
      throw new SframeAuthError();
    }
  }
  const ct = ciphertext.subarray(0, ciphertext.length - suite.nt);
  const tag = ciphertext.subarray(ciphertext.length - suite.nt);
  if (!equalBytes(tag, ctrHmacTag(suite, key.subarray(suite.nka), nonce, aad, ct))) throw new SframeAuthError();
  return ctr(key.subarray(0, suite.nka), concat(nonce, new Uint8Array(4))).decrypt(ct);
}

function nonceFor(salt: Uint8Array, counter: bigint): Uint8Array {
  const nonce = bigEndian(counter, salt.length);
  for (let i = 0; i < nonce.length; i++) nonce[i]! ^= salt[i]!;
  return nonce;
}

// ---- Stateless frame operations (section 4.4.3), used by the contexts and the conformance runner ----

export function encryptFrame(
  suiteId: number,
  material: SframeKeyMaterial,
  kid: bigint,
  counter: bigint,
  plaintext: Uint8Array,
  metadata: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const header = encodeHeader(kid, counter);
  const ct = aeadEncrypt(suiteId, material.key, nonceFor(material.salt, counter), concat(header, metadata), plaintext);
  return concat(header, ct);
}

export function decryptFrame(
  suiteId: number,
  material: SframeKeyMaterial,
  frame: Uint8Array,
  metadata: Uint8Array = new Uint8Array(0),
): { header: SframeHeader; plaintext: Uint8Array } {
  const header = decodeHeader(frame);
  const aad = concat(frame.subarray(0, header.length), metadata);
  const plaintext = aeadDecrypt(suiteId, material.key, nonceFor(material.salt, header.counter), aad, frame.subarray(header.length));
  return { header, plaintext };
}

// ---- Contexts (section 4.4.3 and 7.2) ----

/** One sender's state: its KID and key, and a counter that is never reused and refuses to wrap. */
export class SframeSender {
  readonly kid: bigint;
  readonly suite: number;
  private readonly material: SframeKeyMaterial;
  private counter = 0n;
  private readonly limit: bigint;

  constructor(options: { kid: bigint; baseKey: Uint8Array; suite?: number; startCounter?: bigint; counterLimit?: bigint }) {
    this.kid = options.kid;
    this.suite = options.suite ?? DEFAULT_CIPHER_SUITE;
    this.material = deriveKeySalt(this.suite, this.kid, options.baseKey);
    this.counter = options.startCounter ?? 0n;
    this.limit = options.counterLimit ?? MAX_U64;
  }

  get nextCounter(): bigint {
    return this.counter;
  }

  encrypt(plaintext: Uint8Array, metadata?: Uint8Array): Uint8Array {
    if (this.counter > this.limit) throw new SframeCounterExhaustedError();
    const frame = encryptFrame(this.suite, this.material, this.kid, this.counter, plaintext, metadata);
    this.counter++;
    return frame;
  }
}

/** Counters at most this far behind the highest one seen are accepted once each (reordering tolerance). */
export const REPLAY_WINDOW = 128;

class ReplayWindow {
  private highest = -1n;
  private readonly seen = new Uint8Array(REPLAY_WINDOW);

  check(counter: bigint): void {
    if (counter > this.highest) return;
    if (this.highest - counter >= BigInt(REPLAY_WINDOW) || this.seen[Number(counter % BigInt(REPLAY_WINDOW))]) {
      throw new SframeReplayError(counter);
    }
  }

  /** Called only after the frame authenticated, so forged counters cannot move the window. */
  accept(counter: bigint): void {
    const w = BigInt(REPLAY_WINDOW);
    if (counter > this.highest) {
      if (counter - this.highest >= w) this.seen.fill(0);
      else for (let c = this.highest + 1n; c < counter; c++) this.seen[Number(c % w)] = 0;
      this.highest = counter;
    }
    this.seen[Number(counter % w)] = 1;
  }
}

interface ReceiveKey {
  material: SframeKeyMaterial;
  suite: number;
  window: ReplayWindow;
  retireAt: number | null;
}

/** Receive keys by KID, each with its own replay window; retired keys keep working for a grace period. */
export class SframeReceiver {
  private readonly keys = new Map<bigint, ReceiveKey>();
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(options: { graceMs?: number; now?: () => number } = {}) {
    this.graceMs = options.graceMs ?? 5_000;
    this.now = options.now ?? (() => Date.now());
  }

  addKey(kid: bigint, baseKey: Uint8Array, suite: number = DEFAULT_CIPHER_SUITE): void {
    this.keys.set(kid, { material: deriveKeySalt(suite, kid, baseKey), suite, window: new ReplayWindow(), retireAt: null });
  }

  hasKey(kid: bigint): boolean {
    this.expire();
    return this.keys.has(kid);
  }

  /** The key stays valid for the grace period (frames of the previous epoch still in flight), then goes. */
  retireKey(kid: bigint): void {
    const entry = this.keys.get(kid);
    if (entry && entry.retireAt === null) entry.retireAt = this.now() + this.graceMs;
  }

  removeKey(kid: bigint): void {
    this.keys.delete(kid);
  }

  get kids(): bigint[] {
    this.expire();
    return [...this.keys.keys()];
  }

  /** Plaintext of an authenticated, fresh frame; otherwise one of the typed SframeErrors and nothing else. */
  decrypt(frame: Uint8Array, metadata?: Uint8Array): Uint8Array {
    try {
      const header = decodeHeader(frame);
      this.expire();
      const entry = this.keys.get(header.kid);
      if (!entry) throw new SframeUnknownKidError(header.kid);
      entry.window.check(header.counter);
      const { plaintext } = decryptFrame(entry.suite, entry.material, frame, metadata);
      entry.window.accept(header.counter);
      return plaintext;
    } catch (error) {
      if (error instanceof SframeError) throw error;
      throw new SframeAuthError();
    }
  }

  private expire(): void {
    const now = this.now();
    for (const [kid, entry] of this.keys) if (entry.retireAt !== null && now >= entry.retireAt) this.keys.delete(kid);
  }
}
