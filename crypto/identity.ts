// A participant's identity: X25519 (receiving sealed keys) and Ed25519 (signing) key pairs made in the browser.
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64url, toBase64url, toHex } from './bytes.ts';
import { sodium } from './sodium.ts';

export interface Identity {
  boxPublicKey: Uint8Array;
  boxSecretKey: Uint8Array;
  signPublicKey: Uint8Array;
  signSecretKey: Uint8Array;
  /** Public, stable name of this member for everyone in the room: hex of the first 8 bytes of SHA-256(sign key). */
  memberKeyId: string;
}

export function memberKeyIdOf(signPublicKey: Uint8Array): string {
  return toHex(sha256(signPublicKey).subarray(0, 8));
}

export function generateIdentity(): Identity {
  const box = sodium.crypto_box_keypair();
  const sign = sodium.crypto_sign_keypair();
  return {
    boxPublicKey: box.publicKey,
    boxSecretKey: box.privateKey,
    signPublicKey: sign.publicKey,
    signSecretKey: sign.privateKey,
    memberKeyId: memberKeyIdOf(sign.publicKey),
  };
}

/** A JSON-safe form for IndexedDB, so a reload is the same member. */
export function exportIdentity(identity: Identity): Record<string, string> {
  return {
    boxPublicKey: toBase64url(identity.boxPublicKey),
    boxSecretKey: toBase64url(identity.boxSecretKey),
    signPublicKey: toBase64url(identity.signPublicKey),
    signSecretKey: toBase64url(identity.signSecretKey),
  };
}

export function importIdentity(data: Record<string, string>): Identity {
  const get = (k: string) => fromBase64url(data[k] ?? '');
  const signPublicKey = get('signPublicKey');
  return {
    boxPublicKey: get('boxPublicKey'),
    boxSecretKey: get('boxSecretKey'),
    signPublicKey,
    signSecretKey: get('signSecretKey'),
    memberKeyId: memberKeyIdOf(signPublicKey),
  };
}
