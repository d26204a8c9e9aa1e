// The room fingerprint flow: derived (slowly, in a Worker) for the secret and the signed stage's host, shown, compared.
import { cachedFingerprint } from '../fingerprint-cache.ts';
import type { SessionState } from './state.ts';

/** A newcomer's first fingerprint starts when the room is heard, or this long after entering if nobody speaks. */
const FINGERPRINT_AFTER_JOIN_MS = 1_500;

/** A newcomer (not the room's creator) defers its first derivation, once: the join itself goes first. */
export function deferFirstFingerprint(s: SessionState): void {
  if (s.fingerprintShown !== null || s.fingerprintPending !== null || s.fingerprintDeferred) return;
  s.fingerprintDeferred = true;
  setTimeout(() => startFingerprint(s), FINGERPRINT_AFTER_JOIN_MS);
}

export function startFingerprint(s: SessionState): void {
  if (!s.fingerprintDeferred) return;
  s.fingerprintDeferred = false;
  refreshFingerprint(s);
}

export function refreshFingerprint(s: SessionState): void {
  if (s.fingerprintDeferred) return;
  const agent = s.agent;
  // The fingerprint names the host of the signed stage; after the host leaves it stays the one that was read aloud.
  const hostKey = agent?.current?.stage.find((m) => m.role === 'host')?.memberKeyId;
  const host = hostKey === agent?.me ? agent?.identity : hostKey ? s.byKey(hostKey)?.verified : undefined;
  // A first stage without a host (a colluder's, or a room whose host left before this member came) names nobody.
  const noHost = !hostKey && agent?.current != null && s.fingerprintShown === null;
  if (noHost !== s.fingerprintNoHost) {
    s.fingerprintNoHost = noHost;
    s.update({ fingerprintNoHost: noHost });
  }
  if (!host) return;
  // The derivation is slow (Argon2id, in a Worker): the panel says "computing" meanwhile, and a result whose secret
  // or host was replaced before it arrived is dropped. The cache hands back the same promise for the same pair.
  const pending = cachedFingerprint(s.secret, host.signPublicKey);
  if (pending === s.fingerprintPending) return;
  s.fingerprintPending = pending;
  s.update({ fingerprint: null });
  pending.then(
    (fp) => {
      if (pending !== s.fingerprintPending) return;
      const changed = s.fingerprintShown !== null && s.fingerprintShown !== fp.text;
      s.fingerprintShown = fp.text;
      s.update({ fingerprint: fp, ...(changed ? { fingerprintChanged: true, fingerprintVerified: false } : {}) });
    },
    () => {
      if (pending === s.fingerprintPending) s.fingerprintPending = null;
    },
  );
}
