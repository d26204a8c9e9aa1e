// SFrame (RFC 9605) cipher suites, key schedule and AEADs: AES in WebCrypto, the CTR suites' truncated HMAC on @noble/hashes.
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import { bigEndian, concat, equalBytes, utf8 } from './bytes.ts';
import { SframeAuthError } from './errors.ts';

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
    this.importing ??= subtle.importKey('raw', this.rawKey as BufferSource, this.authKey ? 'AES-CTR' : 'AES-GCM', false, ['encrypt', 'decrypt']).then((key) => {
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
