// Page-memory cache of room fingerprints per (room secret, host key): the slow derivation runs once per pair.
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, roomFingerprint, toHex, type RoomFingerprint } from '../../../crypto/index.ts';

/** A link rotation and a change of host each add one pair; a handful covers a session that flips back and forth. */
const MAX_ENTRIES = 8;

const cache = new Map<string, Promise<RoomFingerprint>>();

/** The same promise for the same pair, so a caller can tell by identity whether its input changed. */
export function cachedFingerprint(roomSecret: Uint8Array, hostSignPublicKey: Uint8Array): Promise<RoomFingerprint> {
  // Keyed by a hash, so that the map holds no copy of the secret in a string.
  const key = toHex(sha256(concat(roomSecret, hostSignPublicKey)));
  const hit = cache.get(key);
  if (hit) return hit;
  const pending = roomFingerprint(roomSecret, hostSignPublicKey);
  // A failed derivation (e.g. the 64 MiB allocation) is not cached, so that the next refresh tries again.
  pending.catch(() => cache.delete(key));
  cache.set(key, pending);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return pending;
}
