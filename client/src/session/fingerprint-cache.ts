// Room fingerprints per (room secret, host key): derived once per pair in a short-lived Worker, kept in page memory.
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, toHex, type RoomFingerprint } from '../../../crypto/index.ts';
import type { FingerprintReply, FingerprintRequest } from './fingerprint-worker.ts';

/** A link rotation and a change of host each add one pair; a handful covers a session that flips back and forth. */
const MAX_ENTRIES = 8;

const cache = new Map<string, Promise<RoomFingerprint>>();

export class FingerprintWorkerError extends Error {
  override name = 'FingerprintWorkerError';
}

/** The same promise for the same pair, so a caller can tell by identity whether its input changed. */
export function cachedFingerprint(roomSecret: Uint8Array, hostSignPublicKey: Uint8Array): Promise<RoomFingerprint> {
  // Keyed by a hash, so that the map holds no copy of the secret in a string.
  const key = toHex(sha256(concat(roomSecret, hostSignPublicKey)));
  const hit = cache.get(key);
  if (hit) return hit;
  const pending = deriveInWorker(roomSecret, hostSignPublicKey);
  // A failed derivation (e.g. the 64 MiB allocation) is not cached, so that the next refresh tries again.
  pending.catch(() => cache.delete(key));
  cache.set(key, pending);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return pending;
}

/** Argon2id holds a core for about a second: on the page's thread it would delay signaling and rendering. */
function deriveInWorker(roomSecret: Uint8Array, hostSignPublicKey: Uint8Array): Promise<RoomFingerprint> {
  return new Promise((resolve, reject) => {
    // One worker per derivation: terminating it returns its 64 MiB at once.
    const worker = new Worker(new URL('./fingerprint-worker.ts', import.meta.url), { type: 'module', name: 'teahouse-fingerprint' });
    worker.onmessage = (event: MessageEvent<FingerprintReply>) => {
      worker.terminate();
      if (event.data.ok) resolve(event.data.fingerprint);
      else reject(new FingerprintWorkerError(event.data.message));
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new FingerprintWorkerError(event.message || 'the fingerprint worker failed'));
    };
    worker.postMessage({ roomSecret, hostSignPublicKey } satisfies FingerprintRequest);
  });
}
