// SFrame (RFC 9605): header coding, key derivation, the cipher suites, and sender and receiver contexts.
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
 * the test-vector file. AES (GCM and CTR) runs in WebCrypto, the CTR suites' truncated HMAC on @noble/hashes.
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

/** Bytes that `value` takes in big-endian without leading zeros (at least one); a number test below 2^32. */
function minimalLength(value: bigint): number {
  if (value <= 0xffffffffn) {
    const n = Number(value);
    return n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  }
  let length = 5;
  while (value >> BigInt(8 * length) !== 0n) length++;
  return length;
}

function writeBigEndian(out: Uint8Array, offset: number, value: bigint, length: number): void {
  if (value <= 0xffffffffn) {
    let n = Number(value);
    for (let i = length - 1; i >= 0; i--, n = Math.floor(n / 256)) out[offset + i] = n & 0xff;
    return;
  }
  for (let i = 0; i < length; i++) out[offset + i] = Number((value >> BigInt(8 * (length - 1 - i))) & 0xffn);
}

export function headerLength(kid: bigint, counter: bigint): number {
  return 1 + (kid < 8n ? 0 : minimalLength(kid)) + (counter < 8n ? 0 : minimalLength(counter));
}

/** Writes the header at the start of `out` (at least headerLength bytes); returns its length. */
export function writeHeader(out: Uint8Array, kid: bigint, counter: bigint): number {
  if (kid < 0n || kid > MAX_U64 || counter < 0n || counter > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  let first = 0;
  let offset = 1;
  if (kid < 8n) first |= Number(kid) << 4;
  else {
    const length = minimalLength(kid);
    first |= 0x80 | ((length - 1) << 4);
    writeBigEndian(out, offset, kid, length);
    offset += length;
  }
  if (counter < 8n) first |= Number(counter);
  else {
    const length = minimalLength(counter);
    first |= 0x08 | (length - 1);
    writeBigEndian(out, offset, counter, length);
    offset += length;
  }
  out[0] = first;
  return offset;
}

export function encodeHeader(kid: bigint, counter: bigint): Uint8Array {
  if (kid < 0n || kid > MAX_U64 || counter < 0n || counter > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  const out = new Uint8Array(headerLength(kid, counter));
  writeHeader(out, kid, counter);
  return out;
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

const subtle = globalThis.crypto.subtle;

function ctrHmacTag(suite: CipherSuite, authKey: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const authData = concat(bigEndian(aad.length, 8), bigEndian(ct.length, 8), bigEndian(suite.nt, 8), nonce, aad, ct);
  return hmac(suite.hash, authKey, authData).subarray(0, suite.nt);
}

/** AES-CTR's initial counter block: the nonce, then a 32-bit block counter from zero (section 4.5.2). */
function ctrBlock(nonce: Uint8Array): Uint8Array {
  const block = new Uint8Array(16);
  block.set(nonce);
  return block;
}

/**
 * The AEAD of one key. AES runs in WebCrypto (native, constant time where the CPU has AES instructions, and a
 * maintained implementation rather than ours), with the key imported once per AEAD: a frame costs one call. The
 * CTR+HMAC suites truncate their tag, which WebCrypto's HMAC verify cannot check, so their HMAC stays on noble.
 *
 * WebCrypto copies nonce, AAD and data when it is called, so once `ready()` has resolved, `seal` and `open` read their
 * arguments synchronously and callers may reuse those buffers as soon as the call returns.
 */
export class FrameAead {
  readonly suite: CipherSuite;
  private readonly authKey: Uint8Array | null;
  private readonly rawKey: Uint8Array;
  private key: CryptoKey | null = null;
  private importing: Promise<void> | null = null;

  constructor(suiteId: number, key: Uint8Array) {
    this.suite = cipherSuite(suiteId);
    if (key.length !== this.suite.nk) throw new RangeError(`SFrame suite ${suiteId} takes a ${this.suite.nk}-byte key`);
    const nka = this.suite.nka;
    this.rawKey = nka === null ? key : key.subarray(0, nka);
    this.authKey = nka === null ? null : key.subarray(nka);
  }

  /** Imports the key into WebCrypto, once; resolves at once afterwards. */
  ready(): Promise<void> {
    this.importing ??= subtle
      .importKey('raw', this.rawKey as BufferSource, this.authKey ? 'AES-CTR' : 'AES-GCM', false, ['encrypt', 'decrypt'])
      .then((key) => {
        this.key = key;
      });
    return this.importing;
  }

  /** Ciphertext and tag, plaintext.length + Nt bytes. */
  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    if (!this.key) await this.ready();
    const key = this.key!;
    if (!this.authKey) {
      return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad as BufferSource }, key, plaintext as BufferSource));
    }
    // The tag covers nonce and AAD: taken now, before the caller may reuse their buffers.
    const [nonceCopy, aadCopy] = [nonce.slice(), aad.slice()];
    const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter: ctrBlock(nonce) as BufferSource, length: 32 }, key, plaintext as BufferSource));
    return concat(ct, ctrHmacTag(this.suite, this.authKey, nonceCopy, aadCopy, ct));
  }

  /** The plaintext; throws SframeAuthError, returning nothing, if the tag does not verify. */
  async open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
    const { nt } = this.suite;
    if (ciphertext.length < nt) throw new SframeAuthError();
    if (!this.key) await this.ready();
    const key = this.key!;
    if (!this.authKey) {
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad as BufferSource }, key, ciphertext as BufferSource));
      } catch {
        throw new SframeAuthError();
      }
    }
    const ct = ciphertext.subarray(0, ciphertext.length - nt);
    const tag = ciphertext.subarray(ciphertext.length - nt);
    if (!equalBytes(tag, ctrHmacTag(this.suite, this.authKey, nonce, aad, ct))) throw new SframeAuthError();
    return new Uint8Array(await subtle.decrypt({ name: 'AES-CTR', counter: ctrBlock(nonce) as BufferSource, length: 32 }, key, ct as BufferSource));
  }
}

export function aeadEncrypt(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  return new FrameAead(suiteId, key).seal(nonce, aad, plaintext);
}

/** Rejects with SframeAuthError when the tag does not verify; never returns unauthenticated plaintext. */
export function aeadDecrypt(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  return new FrameAead(suiteId, key).open(nonce, aad, ciphertext);
}

/** salt XOR the counter, big-endian over the nonce's width, into `nonce` (reused from frame to frame). */
function nonceInto(nonce: Uint8Array, salt: Uint8Array, counter: bigint): Uint8Array {
  nonce.set(salt);
  const end = nonce.length;
  if (counter <= 0xffffffffn) {
    const n = Number(counter);
    nonce[end - 1]! ^= n & 0xff;
    nonce[end - 2]! ^= (n >>> 8) & 0xff;
    nonce[end - 3]! ^= (n >>> 16) & 0xff;
    nonce[end - 4]! ^= n >>> 24;
    return nonce;
  }
  for (let i = 0; i < 8; i++) nonce[end - 1 - i]! ^= Number((counter >> BigInt(8 * i)) & 0xffn);
  return nonce;
}

/** The AAD is the header alone, a view into the frame, unless the caller adds metadata. */
function frameAad(header: Uint8Array, metadata: Uint8Array | undefined): Uint8Array {
  return metadata && metadata.length > 0 ? concat(header, metadata) : header;
}

/** One key's AEAD with its salt and a nonce buffer reused from frame to frame (section 4.4.3). */
class FrameKey {
  readonly aead: FrameAead;
  private readonly salt: Uint8Array;
  private readonly nonce: Uint8Array;

  constructor(suiteId: number, material: SframeKeyMaterial) {
    this.aead = new FrameAead(suiteId, material.key);
    this.salt = material.salt;
    this.nonce = new Uint8Array(this.aead.suite.nn);
  }

  /** Header, ciphertext and tag in one new buffer. */
  async seal(kid: bigint, counter: bigint, plaintext: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    const length = headerLength(kid, counter);
    const frame = new Uint8Array(length + plaintext.length + this.aead.suite.nt);
    writeHeader(frame, kid, counter);
    // The nonce buffer is shared: fill it only once the key is ready, so that WebCrypto copies it in the same turn.
    await this.aead.ready();
    frame.set(await this.aead.seal(nonceInto(this.nonce, this.salt, counter), frameAad(frame.subarray(0, length), metadata), plaintext), length);
    return frame;
  }

  async open(header: SframeHeader, frame: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    await this.aead.ready();
    return this.aead.open(nonceInto(this.nonce, this.salt, header.counter), frameAad(frame.subarray(0, header.length), metadata), frame.subarray(header.length));
  }
}

// ---- Stateless frame operations (section 4.4.3), used by the conformance runner ----

export function encryptFrame(
  suiteId: number,
  material: SframeKeyMaterial,
  kid: bigint,
  counter: bigint,
  plaintext: Uint8Array,
  metadata: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  return new FrameKey(suiteId, material).seal(kid, counter, plaintext, metadata);
}

export async function decryptFrame(
  suiteId: number,
  material: SframeKeyMaterial,
  frame: Uint8Array,
  metadata: Uint8Array = new Uint8Array(0),
): Promise<{ header: SframeHeader; plaintext: Uint8Array }> {
  const header = decodeHeader(frame);
  return { header, plaintext: await new FrameKey(suiteId, material).open(header, frame, metadata) };
}

// ---- Contexts (section 4.4.3 and 7.2) ----

/** One sender's state: its KID and key, and a counter that is never reused and refuses to wrap. */
export class SframeSender {
  readonly kid: bigint;
  readonly suite: number;
  private readonly key: FrameKey;
  private counter = 0n;
  private readonly limit: bigint;

  constructor(options: { kid: bigint; baseKey: Uint8Array; suite?: number; startCounter?: bigint; counterLimit?: bigint }) {
    this.kid = options.kid;
    this.suite = options.suite ?? DEFAULT_CIPHER_SUITE;
    this.key = new FrameKey(this.suite, deriveKeySalt(this.suite, this.kid, options.baseKey));
    this.counter = options.startCounter ?? 0n;
    this.limit = options.counterLimit ?? MAX_U64;
  }

  get nextCounter(): bigint {
    return this.counter;
  }

  /** Imports the key ahead of the first frame (optional: the first encrypt does it otherwise). */
  ready(): Promise<void> {
    return this.key.aead.ready();
  }

  /** The counter is taken when called, so frames encrypted concurrently never share one. */
  async encrypt(plaintext: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    if (this.counter > this.limit) throw new SframeCounterExhaustedError();
    const counter = this.counter++;
    return this.key.seal(this.kid, counter, plaintext, metadata);
  }
}

/** Counters at most this far behind the highest one seen are accepted once each (reordering tolerance). */
export const REPLAY_WINDOW = 128;

const WINDOW = BigInt(REPLAY_WINDOW);

class ReplayWindow {
  private highest = -1n;
  private readonly seen = new Uint8Array(REPLAY_WINDOW);

  check(counter: bigint): void {
    if (counter > this.highest) return;
    if (this.highest - counter >= WINDOW || this.seen[Number(counter % WINDOW)]) {
      throw new SframeReplayError(counter);
    }
  }

  /** Called only after the frame authenticated, so forged counters cannot move the window. */
  accept(counter: bigint): void {
    const w = WINDOW;
    if (counter > this.highest) {
      if (counter - this.highest >= w) this.seen.fill(0);
      else for (let c = this.highest + 1n; c < counter; c++) this.seen[Number(c % w)] = 0;
      this.highest = counter;
    }
    this.seen[Number(counter % w)] = 1;
  }
}

interface ReceiveKey {
  key: FrameKey;
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
    const key = new FrameKey(suite, deriveKeySalt(suite, kid, baseKey));
    // Imported now, so that the first frame does not wait for it; a failure shows on that frame's open.
    key.aead.ready().catch(() => undefined);
    this.keys.set(kid, { key, window: new ReplayWindow(), retireAt: null });
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
  async decrypt(frame: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    try {
      const header = decodeHeader(frame);
      this.expire();
      const entry = this.keys.get(header.kid);
      if (!entry) throw new SframeUnknownKidError(header.kid);
      // Checked before, so that a replay costs no decryption, and again after: another decrypt of the same counter
      // may have been accepted while this one waited for WebCrypto. Only authenticated frames move the window.
      entry.window.check(header.counter);
      const plaintext = await entry.key.open(header, frame, metadata);
      entry.window.check(header.counter);
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
