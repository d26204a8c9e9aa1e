// Stream keys for frame signatures: a speaker's E2EE Worker signs batches with a key of its own, certified by the identity
// key; the certificate travels by signaling with the producer (docs/protocol.md section 7, "Source authentication").
import { concat } from './bytes.ts';
import { BatchVerifier, type Verify } from './frame-signature.ts';
import { labelBytes } from './kdf.ts';

/** The certificate: the stream's Ed25519 public key, then the identity key's signature over it (32 + 64 bytes). */
export const STREAM_CERT_BYTES = 96;
const LABEL = labelBytes('frame-stream-key');

/** What the identity key signs: the label and the stream's public key (identity keys are drawn per room, per member). */
export function streamKeyMessage(streamPublicKey: Uint8Array): Uint8Array {
  return concat(LABEL, streamPublicKey);
}

/** The certificate of `streamPublicKey`, signed by `identitySign`. */
export async function certifyStreamKey(identitySign: (message: Uint8Array) => Promise<Uint8Array>, streamPublicKey: Uint8Array): Promise<Uint8Array> {
  return concat(streamPublicKey, await identitySign(streamKeyMessage(streamPublicKey)));
}

/** The check of the key `certificate` certifies, if the identity key signed it; null otherwise. */
async function certifiedKey(identity: Verify, certificate: Uint8Array, load: (publicKey: Uint8Array) => Promise<Verify>): Promise<Verify | null> {
  if (certificate.length !== STREAM_CERT_BYTES) return null;
  const publicKey = certificate.slice(0, 32);
  const ok = await identity(certificate.subarray(32), streamKeyMessage(publicKey)).catch(() => false);
  return ok ? load(publicKey).catch(() => null) : null;
}

/**
 * The verifier of one received stream, made before its first frame plays, from the certificate its producer came with
 * and the identity key the signed stage names for its participant. Under a certificate that identity signed, batches
 * are checked under the certified key, and frames play from the first batch heard whole unless the speaker's earlier
 * stream still owed verified batches (`needAtStart`). Without a certificate (withheld) nothing plays; one that fails
 * (another member's, corrupted) counts as a forgery, shown to the member, and nothing plays. `load` turns a certified
 * public key into a verifier.
 */
export async function certifiedVerifier(identity: Verify, certificate: Uint8Array | null, load: (publicKey: Uint8Array) => Promise<Verify>, now?: () => number, needAtStart = 0): Promise<BatchVerifier> {
  const key = certificate ? await certifiedKey(identity, certificate, load) : null;
  if (key) return new BatchVerifier(key, now, needAtStart);
  const silent = new BatchVerifier(() => Promise.resolve(null), now);
  if (certificate) silent.forged();
  return silent;
}
