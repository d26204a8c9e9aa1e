// Sealing free text (display names, room titles) under the room's metadata key, so the relay carries only ciphertext.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { concat, fromBase64url, randomBytes, toBase64url, utf8 } from './bytes.ts';
import { MetadataError } from './errors.ts';
import { labelBytes } from './kdf.ts';

const VERSION = 1;
const NONCE_BYTES = 24;
/** Plaintexts are padded to a multiple of this, so ciphertext length does not reveal a name's length. */
export const METADATA_BUCKET = 64;

export type MetadataPurpose = 'profile' | 'room-title';

function aad(roomId: string, purpose: MetadataPurpose): Uint8Array {
  return concat(labelBytes('metadata'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), utf8.encode(purpose));
}

function pad(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil((data.length + 1) / METADATA_BUCKET) * METADATA_BUCKET);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

function unpad(data: Uint8Array): Uint8Array {
  let end = data.length - 1;
  while (end >= 0 && data[end] === 0) end--;
  if (end < 0 || data[end] !== 0x80) throw new MetadataError('bad padding');
  return data.subarray(0, end);
}

export function sealMetadata(metaKey: Uint8Array, roomId: string, purpose: MetadataPurpose, value: unknown): string {
  const nonce = randomBytes(NONCE_BYTES);
  const ct = xchacha20poly1305(metaKey, nonce, aad(roomId, purpose)).encrypt(pad(utf8.encode(JSON.stringify(value))));
  return toBase64url(concat(Uint8Array.of(VERSION), nonce, ct));
}

export function openMetadata<T = unknown>(metaKey: Uint8Array, roomId: string, purpose: MetadataPurpose, sealed: string): T {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(sealed);
  } catch {
    throw new MetadataError('not base64url');
  }
  if (bytes.length < 1 + NONCE_BYTES + 16 || bytes[0] !== VERSION) throw new MetadataError('unknown format');
  let plain: Uint8Array;
  try {
    plain = xchacha20poly1305(metaKey, bytes.subarray(1, 1 + NONCE_BYTES), aad(roomId, purpose)).decrypt(bytes.subarray(1 + NONCE_BYTES));
  } catch {
    throw new MetadataError('does not authenticate under this room key');
  }
  try {
    return JSON.parse(utf8.decode(unpad(plain))) as T;
  } catch (error) {
    throw error instanceof MetadataError ? error : new MetadataError('not JSON');
  }
}
