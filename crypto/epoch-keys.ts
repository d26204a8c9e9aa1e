// The epoch's key schedule: commit secret to epoch secret, the senders' keys, the codes read aloud, and the pairwise keys packages are sealed under.
import { concat, fromHex, randomBytes, readBigEndian, utf8 } from './bytes.ts';
import { deriveLabelled } from './kdf.ts';
import { sodium } from './sodium.ts';

export const EPOCH_SECRET_BYTES = 32;

/**
 * The join step's commit secret: everyone holding epoch n's secret computes it; a newcomer is given it in its package.
 * HKDF is one-way, so a newcomer learns nothing of epoch n.
 */
export function ratchetCommitSecret(epochSecret: Uint8Array): Uint8Array {
  return deriveLabelled(epochSecret, 'epoch-ratchet', EPOCH_SECRET_BYTES);
}

/**
 * The epoch secret is bound to the whole signed header (stage, sender indexes, member-list hash, distributor, previous
 * transcript): two groups shown different commits derive different keys, so a fork means silence, never a shared key.
 * The link's epoch key L (deriveRoomKeys) is keyed in beside C: whoever never held the link learns nothing of any
 * epoch from recorded traffic, even with every package opened (docs/protocol.md §5, the link is a key).
 */
export function deriveEpochSecret(commitSecret: Uint8Array, commitHash: Uint8Array, linkKey: Uint8Array): Uint8Array {
  if (linkKey.length !== 32) throw new RangeError('a link epoch key is 32 bytes');
  return deriveLabelled(concat(commitSecret, linkKey), 'epoch-secret', EPOCH_SECRET_BYTES, commitHash);
}

function sixDigits(derived: Uint8Array): string {
  const digits = String(Number(readBigEndian(derived)) % 1_000_000).padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

/** A short code that members sharing an epoch's keys read alike and a split room does not: 6 digits, "123 456". */
export function epochCode(epochSecret: Uint8Array): string {
  return sixDigits(deriveLabelled(epochSecret, 'epoch-code', 4));
}

/**
 * A short code for the lineage a member follows: it names the distributor whose commits the member takes, so it holds
 * still through every epoch that distributor makes and changes only at a hand-over. A newcomer forked by a colluding
 * member follows that member's commits (nobody else can sign them) and reads another code than the room.
 */
export function lineageCode(distributorMemberKeyId: string): string {
  return sixDigits(deriveLabelled(fromHex(distributorMemberKeyId), 'lineage-code', 4));
}

/**
 * The symmetric key between a distributor and one member, from one X25519 step that either side can do (the
 * distributor with its secret key and the member's public key, or the other way round). Every later package to that
 * member costs one XChaCha20-Poly1305 of 32 bytes. Null for a public key of small order.
 *
 * `kemSecret`: the X-Wing shared secret of the member's encapsulation to the distributor (crypto/kem.ts). With it the
 * key is hybrid, under a label of its own: a package then opens only for someone who breaks X25519 and ML-KEM-768.
 */
export function pairwiseKey(options: { roomId: string; mySecretKey: Uint8Array; theirPublicKey: Uint8Array; distributor: string; member: string; kemSecret?: Uint8Array }): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = sodium.crypto_scalarmult(options.mySecretKey, options.theirPublicKey);
  } catch {
    return null;
  }
  const context = concat(utf8.encode(options.roomId), fromHex(options.distributor), fromHex(options.member));
  if (!options.kemSecret) return deriveLabelled(shared, 'pairwise-key', 32, context);
  if (options.kemSecret.length !== 32) return null;
  return deriveLabelled(concat(shared, options.kemSecret), 'pairwise-key-hybrid', 32, context);
}

/** Keyed by the old link's L too: a rotated secret never follows from C alone, so S' is as sealed as S was. */
export function rotationKey(commitSecret: Uint8Array, linkKey: Uint8Array): Uint8Array {
  return deriveLabelled(concat(commitSecret, linkKey), 'room-rotation', 32);
}

export function generateCommitSecret(): Uint8Array {
  return randomBytes(EPOCH_SECRET_BYTES);
}
