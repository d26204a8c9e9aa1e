// Labelled key derivation (HKDF-SHA-256): every derived value in Teahouse has its own label, listed in docs/protocol.md.
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, utf8 } from './bytes.ts';

export const LABEL_PREFIX = 'teahouse/v1 ';

const SALT = utf8.encode('teahouse/v1');
// Encoded once per label: a member derives several keys for every commit it opens, and a room of 10,000 rekeys often.
const encodedLabels = new Map<string, Uint8Array>();

/** HKDF-Expand(HKDF-Extract(salt = "teahouse/v1", ikm), info = "teahouse/v1 " + label [+ context], length). */
export function deriveLabelled(ikm: Uint8Array, label: string, length: number, context: Uint8Array = new Uint8Array(0)): Uint8Array {
  let info = encodedLabels.get(label);
  if (!info) encodedLabels.set(label, (info = labelBytes(label)));
  return expand(sha256, extract(sha256, ikm, SALT), concat(info, context), length);
}

export function labelBytes(label: string): Uint8Array {
  return utf8.encode(LABEL_PREFIX + label);
}
