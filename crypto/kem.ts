// X-Wing (ML-KEM-768 with X25519) for the hybrid pairwise keys: encapsulation and decapsulation that refuse, never throw.
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromBase64url, fromHex, toBase64url, utf8 } from './bytes.ts';
import type { Identity } from './identity.ts';
import { labelBytes } from './kdf.ts';
import { sodium } from './sodium.ts';

export const KEM_PUBLIC_KEY_BYTES = 1216;
export const KEM_SECRET_KEY_BYTES = 32;
export const KEM_CIPHERTEXT_BYTES = 1120;
export const KEM_SHARED_SECRET_BYTES = 32;

export interface KemKeyPair {
  publicKey: Uint8Array;
  /** X-Wing's 32-byte seed: the whole decapsulation key. */
  secretKey: Uint8Array;
}

export function generateKemKeyPair(): KemKeyPair {
  const { publicKey, privateKey } = sodium.crypto_kem_xwing_keypair();
  return { publicKey, secretKey: privateKey };
}

/**
 * A shared secret and its ciphertext for the holder of `publicKey`; null for a key of the wrong length or one
 * libsodium refuses, which the caller handles as it does a box key of small order: that member is skipped.
 */
export function encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } | null {
  if (publicKey.length !== KEM_PUBLIC_KEY_BYTES) return null;
  try {
    return sodium.crypto_kem_xwing_enc(publicKey);
  } catch {
    return null;
  }
}

/**
 * The shared secret of a ciphertext; null for one of the wrong length. ML-KEM rejects implicitly: a ciphertext altered
 * on the way gives a secret unrelated to the sender's, so what it keys opens nothing (a package that does not open).
 */
export function decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array | null {
  if (ciphertext.length !== KEM_CIPHERTEXT_BYTES || secretKey.length !== KEM_SECRET_KEY_BYTES) return null;
  try {
    return sodium.crypto_kem_xwing_dec(ciphertext, secretKey);
  } catch {
    return null;
  }
}

/** A KEM offer: the member's ciphertext to a stage member's KEM key, signed so the relay cannot slip in its own. */
export const KEM_OFFER_BYTES = KEM_CIPHERTEXT_BYTES + 64;

function offerTranscript(roomId: string, from: string, to: string, toKemPublicKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return concat(labelBytes('kem-offer'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), fromHex(from), fromHex(to), sha256(toKemPublicKey), ciphertext);
}

/**
 * Encapsulates to a stage member's KEM key for the pairwise key it will use as distributor to `from`: the offer to
 * send it, and the shared secret `from` keeps. Null when the key cannot be used (skipped and reported like a bad box key).
 */
export function createKemOffer(options: { roomId: string; from: Identity; to: string; toKemPublicKey: Uint8Array }): { offer: string; sharedSecret: Uint8Array } | null {
  const sent = encapsulate(options.toKemPublicKey);
  if (!sent) return null;
  const signature = sodium.crypto_sign_detached(offerTranscript(options.roomId, options.from.memberKeyId, options.to, options.toKemPublicKey, sent.ciphertext), options.from.signSecretKey);
  return { offer: toBase64url(concat(sent.ciphertext, signature)), sharedSecret: sent.sharedSecret };
}

/**
 * The shared secret of an offer made by `from` (checked under its verified signing key) to this member's current KEM
 * key; null for anything else: a forged, replayed-elsewhere or malformed offer keys nothing.
 */
export function openKemOffer(options: { roomId: string; offer: string; from: string; fromSignPublicKey: Uint8Array; me: Identity; kem: KemKeyPair }): Uint8Array | null {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.offer);
  } catch {
    return null;
  }
  if (bytes.length !== KEM_OFFER_BYTES) return null;
  const ciphertext = bytes.subarray(0, KEM_CIPHERTEXT_BYTES);
  const t = offerTranscript(options.roomId, options.from, options.me.memberKeyId, options.kem.publicKey, ciphertext);
  if (!sodium.crypto_sign_verify_detached(bytes.subarray(KEM_CIPHERTEXT_BYTES), t, options.fromSignPublicKey)) return null;
  return decapsulate(ciphertext, options.kem.secretKey);
}
