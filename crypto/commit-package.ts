// One recipient's package of a commit: the commit secret sealed under its pairwise key, bound to the header and to it.
import { fromHexInto, randomBytes, toBase64url, toHex } from './bytes.ts';
import { COMMIT_HASH_BYTES, decode, MEMBER_ID_BYTES } from './commit-header.ts';
import { EPOCH_SECRET_BYTES } from './epoch-keys.ts';
import { CommitError } from './errors.ts';
import { sodium } from './sodium.ts';

/** A recipient's package: its memberKeyId, an XChaCha20 nonce, the commit secret and the Poly1305 tag. */
export const PACKAGE_BYTES = MEMBER_ID_BYTES + 24 + EPOCH_SECRET_BYTES + 16;

/** A package's associated data: the header's hash, then room for the member's id (see forMember). */
export function packageAad(hash: Uint8Array): Uint8Array {
  const aad = new Uint8Array(COMMIT_HASH_BYTES + MEMBER_ID_BYTES);
  aad.set(hash);
  return aad;
}

/** Writes the member's id into a package's associated data: a distributor reuses one buffer for every member. */
function forMember(aad: Uint8Array, memberKeyId: string): Uint8Array {
  if (fromHexInto(memberKeyId, aad, COMMIT_HASH_BYTES) !== aad.length) throw new RangeError('a member key id is 8 bytes');
  return aad;
}

/**
 * Writes one member's package into `out` at `at` (PACKAGE_BYTES): the commit secret under its pairwise key, bound to
 * the header's hash and to the member (`aad`, from packageAad, gets the member's id here). Sealed and opened by
 * libsodium's XChaCha20-Poly1305: for a 32-byte secret its WebAssembly is about five times faster than noble's, and a
 * fresh epoch seals one per member and every member opens one.
 */
export function sealPackageInto(out: Uint8Array, at: number, aad: Uint8Array, key: Uint8Array, memberKeyId: string, commitSecret: Uint8Array, nonce: Uint8Array): void {
  out.set(forMember(aad, memberKeyId).subarray(COMMIT_HASH_BYTES), at);
  out.set(nonce, at + MEMBER_ID_BYTES);
  out.set(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(commitSecret, aad, null, nonce, key), at + MEMBER_ID_BYTES + 24);
}

/** One member's package (see sealPackageInto), base64url. */
export function sealPackage(options: { key: Uint8Array; hash: Uint8Array; memberKeyId: string; commitSecret: Uint8Array; nonce?: Uint8Array }): string {
  const out = new Uint8Array(PACKAGE_BYTES);
  sealPackageInto(out, 0, packageAad(options.hash), options.key, options.memberKeyId, options.commitSecret, options.nonce ?? randomBytes(24));
  return toBase64url(out);
}

/** Opens this member's package of the commit whose header hashes to `hash`: its commit secret. `keyOf`: the pairwise key, asked only of a package for this member. */
export function openPackage(pkg: string, hash: Uint8Array, memberKeyId: string, keyOf: () => Uint8Array | null): Uint8Array {
  const bytes = decode(pkg);
  if (bytes.length !== PACKAGE_BYTES || toHex(bytes.subarray(0, MEMBER_ID_BYTES)) !== memberKeyId) throw new CommitError('the package is not for me');
  const key = keyOf();
  if (!key) throw new CommitError('no pairwise key with the distributor');
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, bytes.subarray(MEMBER_ID_BYTES + 24), forMember(packageAad(hash), memberKeyId), bytes.subarray(MEMBER_ID_BYTES, MEMBER_ID_BYTES + 24), key);
  } catch {
    throw new CommitError('the package does not open with my key for this commit');
  }
}
