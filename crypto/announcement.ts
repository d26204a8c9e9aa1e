// Join announcements: a member's public keys and sealed profile, MAC'd under the room's authKey and self-signed.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigEndian, concat, equalBytes, fromBase64url, randomBytes, toBase64url, utf8 } from './bytes.ts';
import { AnnouncementError } from './errors.ts';
import { memberKeyIdOf, type Identity } from './identity.ts';
import { labelBytes } from './kdf.ts';
import { KEM_PUBLIC_KEY_BYTES } from './kem.ts';
import { sodium } from './sodium.ts';

const VERSION = 1;
/** The same with a KEM public key after the profile: a stage member's, whom every member encapsulates to. */
const VERSION_WITH_KEM = 2;
const NONCE_BYTES = 16;
export const MAX_SEALED_PROFILE = 4096;

export interface VerifiedAnnouncement {
  boxPublicKey: Uint8Array;
  signPublicKey: Uint8Array;
  sealedProfile: string;
  memberKeyId: string;
  /** X-Wing public key: stage members publish one (docs/protocol.md §5, hybrid pairwise keys). */
  kemPublicKey: Uint8Array | null;
}

function transcript(roomId: string, body: Uint8Array): Uint8Array {
  return concat(labelBytes('announcement'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
}

export function createAnnouncement(options: { roomId: string; authKey: Uint8Array; identity: Identity; sealedProfile: string; kemPublicKey?: Uint8Array }): string {
  const profile = utf8.encode(options.sealedProfile);
  if (profile.length > MAX_SEALED_PROFILE) throw new RangeError('sealed profile too large');
  if (options.kemPublicKey && options.kemPublicKey.length !== KEM_PUBLIC_KEY_BYTES) throw new RangeError('a KEM public key is 1,216 bytes');
  const body = concat(
    Uint8Array.of(options.kemPublicKey ? VERSION_WITH_KEM : VERSION),
    options.identity.boxPublicKey,
    options.identity.signPublicKey,
    randomBytes(NONCE_BYTES),
    bigEndian(profile.length, 2),
    profile,
    options.kemPublicKey ?? new Uint8Array(0),
  );
  const t = transcript(options.roomId, body);
  const signature = sodium.crypto_sign_detached(t, options.identity.signSecretKey);
  const mac = hmac(sha256, options.authKey, concat(t, signature));
  return toBase64url(concat(body, signature, mac));
}

/**
 * Accepts only announcements made by a holder of this room's link (the MAC: the relay lacks authKey, and the roomId
 * in the transcript stops replays into other rooms) by the holder of the announced signing key (the signature).
 */
export function verifyAnnouncement(options: { roomId: string; authKey: Uint8Array; blob: string }): VerifiedAnnouncement {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(options.blob);
  } catch {
    throw new AnnouncementError('not base64url');
  }
  const head = 1 + 32 + 32 + NONCE_BYTES + 2;
  if (bytes.length < head + 64 + 32 || (bytes[0] !== VERSION && bytes[0] !== VERSION_WITH_KEM)) throw new AnnouncementError('unknown format');
  const profileLength = (bytes[head - 2]! << 8) | bytes[head - 1]!;
  const kemLength = bytes[0] === VERSION_WITH_KEM ? KEM_PUBLIC_KEY_BYTES : 0;
  const bodyLength = head + profileLength + kemLength;
  if (bytes.length !== bodyLength + 64 + 32) throw new AnnouncementError('wrong length');
  const body = bytes.subarray(0, bodyLength);
  const signature = bytes.subarray(bodyLength, bodyLength + 64);
  const mac = bytes.subarray(bodyLength + 64);
  const t = transcript(options.roomId, body);
  if (!equalBytes(mac, hmac(sha256, options.authKey, concat(t, signature)))) {
    throw new AnnouncementError('not made with this room link');
  }
  const signPublicKey = body.slice(33, 65);
  if (!sodium.crypto_sign_verify_detached(signature, t, signPublicKey)) throw new AnnouncementError('bad signature');
  const boxPublicKey = body.slice(1, 33);
  if (!canSealTo(boxPublicKey)) throw new AnnouncementError('box public key is of small order');
  let sealedProfile: string;
  try {
    sealedProfile = utf8.decode(body.subarray(head, head + profileLength));
  } catch {
    throw new AnnouncementError('profile is not text');
  }
  const kemPublicKey = kemLength > 0 ? body.slice(head + profileLength) : null;
  return { boxPublicKey, signPublicKey, sealedProfile, memberKeyId: memberKeyIdOf(signPublicKey), kemPublicKey };
}

const PROBE_SCALAR = new Uint8Array(32).fill(0x5a);

/**
 * An X25519 key of small order (all zeros among them) gives every sealed box an all-zero shared secret, which libsodium
 * refuses: sealing to such a member would throw. Any clamped scalar times a small-order point is the identity, so one
 * multiplication tells. Ed25519 keys need no such check: libsodium's verify refuses small-order keys itself.
 */
export function canSealTo(boxPublicKey: Uint8Array): boolean {
  try {
    sodium.crypto_scalarmult(PROBE_SCALAR, boxPublicKey);
    return true;
  } catch {
    return false;
  }
}

/**
 * The public keys an announcement claims, read WITHOUT verification: the relay uses this to refuse a kicked member's
 * identity (it cannot verify, lacking authKey); members must always use verifyAnnouncement.
 */
export function announcementSignKey(blob: string): string | null {
  try {
    const bytes = fromBase64url(blob);
    return bytes.length >= 65 && (bytes[0] === VERSION || bytes[0] === VERSION_WITH_KEM) ? toBase64url(bytes.subarray(33, 65)) : null;
  } catch {
    return null;
  }
}
