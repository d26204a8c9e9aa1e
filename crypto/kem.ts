// X-Wing (ML-KEM-768 with X25519) for the hybrid pairwise keys: encapsulation and decapsulation that refuse, never throw.
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
