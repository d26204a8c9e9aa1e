// Ed25519 for frame signatures: WebCrypto's native Ed25519 where the platform has it, libsodium otherwise.
import { toBase64url } from './bytes.ts';
import type { Sign, Verify } from './frame-signature.ts';
import { initCrypto, sodium } from './sodium.ts';

let native: Promise<boolean> | null = null;

/** Whether this platform's WebCrypto signs and verifies Ed25519 (probed once with a throwaway key). */
export function nativeEd25519(): Promise<boolean> {
  native ??= crypto.subtle
    .generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])
    .then(() => true)
    .catch(() => false);
  return native;
}

/** libsodium, imported only where WebCrypto lacks Ed25519. */
async function sodiumLoaded() {
  await initCrypto();
  return sodium;
}

/** A signer for libsodium's 64-byte secret key (seed then public key), as identities keep it. */
export async function ed25519Signer(secretKey: Uint8Array): Promise<Sign> {
  if (await nativeEd25519()) {
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: toBase64url(secretKey.subarray(0, 32)), x: toBase64url(secretKey.subarray(32, 64)) };
    const key = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);
    return async (message) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, message as BufferSource));
  }
  const sodium = await sodiumLoaded();
  const copy = secretKey.slice();
  return (message) => Promise.resolve(sodium.crypto_sign_detached(message, copy));
}

export async function ed25519Verifier(publicKey: Uint8Array): Promise<Verify> {
  if (await nativeEd25519()) {
    const key = await crypto.subtle.importKey('raw', publicKey as BufferSource, { name: 'Ed25519' }, false, ['verify']);
    return (signature, message) => crypto.subtle.verify({ name: 'Ed25519' }, key, signature as BufferSource, message as BufferSource);
  }
  const sodium = await sodiumLoaded();
  const copy = publicKey.slice();
  return (signature, message) => {
    try {
      return Promise.resolve(sodium.crypto_sign_verify_detached(signature, message, copy));
    } catch {
      return Promise.resolve(false);
    }
  };
}

/**
 * A fresh Ed25519 key pair for one sending stream: its public key, and a signer whose secret never leaves this context
 * (a non-extractable WebCrypto key where the platform has Ed25519, libsodium's key in this context's memory otherwise).
 */
export async function ed25519StreamKey(): Promise<{ publicKey: Uint8Array; sign: Sign }> {
  if (await nativeEd25519()) {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    return { publicKey, sign: async (message) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, message as BufferSource)) };
  }
  const sodium = await sodiumLoaded();
  const pair = sodium.crypto_sign_keypair();
  return { publicKey: pair.publicKey, sign: (message) => Promise.resolve(sodium.crypto_sign_detached(message, pair.privateKey)) };
}
