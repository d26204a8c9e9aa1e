// Epoch commits: the distributor's signed header (stage, member-list hash, removed members), one small package per recipient, and the epoch secret.
// The header's format is commit-header.ts, a package commit-package.ts, the key schedule epoch-keys.ts; this file makes and opens whole commits.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, equalBytes, randomBytes, toBase64url, toBase64urlEach } from './bytes.ts';
import {
  checkRemoved,
  checkStage,
  COMMIT_HASH_BYTES,
  encodeCommitHeader,
  hashMembers,
  MAX_REMOVED,
  mayDistribute,
  readCommitHeader,
  transcript,
  verifyCommitHeader,
  withoutProof,
  type CommitHeader,
  type CommitKind,
  type RosterEntry,
} from './commit-header.ts';
import { openPackage, PACKAGE_BYTES, packageAad, sealPackageInto } from './commit-package.ts';
import { deriveEpochSecret, pairwiseKey, ratchetCommitSecret, rotationKey } from './epoch-keys.ts';
import { CommitError, CommitNoKeyError } from './errors.ts';
import type { Identity } from './identity.ts';
import { MAX_EPOCH } from './kid.ts';
import { sodium } from './sodium.ts';

export { COMMIT_HASH_BYTES, MAX_REMOVED, membersHash, NO_PREVIOUS_COMMIT, peekCommit, ROLES, verifyCommitHeader, type CommitHeader, type CommitKind, type RosterEntry, type RosterRole } from './commit-header.ts';
export { PACKAGE_BYTES, sealPackage } from './commit-package.ts';
export { deriveEpochSecret, EPOCH_SECRET_BYTES, epochCode, generateCommitSecret, lineageCode, pairwiseKey, ratchetCommitSecret } from './epoch-keys.ts';
export { deriveSenderBaseKey } from './sender-key.ts';

export interface OpenedCommit extends CommitHeader {
  epochSecret: Uint8Array;
  /** A rotated room secret (link rotation), readable only by holders of this commit's secret. */
  newRoomSecret: Uint8Array | null;
}

export interface CommitRecipient {
  memberKeyId: string;
  boxPublicKey: Uint8Array;
}

export interface CreatedCommit extends OpenedCommit {
  /** The signed header, the same for every member. */
  blob: string;
  commitSecret: Uint8Array;
  /** One package per recipient that could be keyed, addressed by memberKeyId. */
  packages: { memberKeyId: string; package: string }[];
  /** Recipients whose public key could not be keyed: left out of the commit, never a reason to abort it. */
  skipped: string[];
}

export function createCommit(options: {
  distributor: Identity;
  roomId: string;
  /** The link's epoch key (RoomKeys.linkKey) of the room this commit is made in. */
  linkKey: Uint8Array;
  epoch: number;
  kind: CommitKind;
  previous: Uint8Array;
  locked: boolean;
  /** Every member who holds the epoch's keys, the stage included. */
  members: string[];
  stage: RosterEntry[];
  /** Kicked members, oldest first: only the newest MAX_REMOVED are written. */
  removed?: string[];
  /** Random for 'fresh'; ratchetCommitSecret(current epoch secret) for 'ratchet'. */
  commitSecret: Uint8Array;
  /** Who gets a package: everyone for 'fresh', the newcomers for 'ratchet'. */
  packageFor: CommitRecipient[];
  /** The pairwise key with a recipient (the distributor keeps them); defaults to one X25519 step per recipient. */
  pairwiseKeyOf?: (recipient: CommitRecipient) => Uint8Array | null;
  newRoomSecret?: Uint8Array;
}): CreatedCommit {
  const { epoch, stage, roomId } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new RangeError('epoch out of range');
  if (options.previous.length !== COMMIT_HASH_BYTES) throw new RangeError('previous transcript hash is 32 bytes');
  checkStage(stage);
  const removed = (options.removed ?? []).slice(-MAX_REMOVED);
  checkRemoved(removed);
  const keyOf = options.pairwiseKeyOf ?? ((r: CommitRecipient) => pairwiseKey({ roomId, mySecretKey: options.distributor.boxSecretKey, theirPublicKey: r.boxPublicKey, distributor: options.distributor.memberKeyId, member: r.memberKeyId }));
  const keyed: { memberKeyId: string; key: Uint8Array }[] = [];
  const skipped: string[] = [];
  for (const r of options.packageFor) {
    const key = keyOf(r);
    if (key) keyed.push({ memberKeyId: r.memberKeyId, key });
    else skipped.push(r.memberKeyId);
  }
  const left = new Set(skipped);
  const members = options.members.filter((id) => !left.has(id));
  const onStage = stage.filter((m) => !left.has(m.memberKeyId));
  const { hash: hashOfMembers, count: memberCount } = hashMembers(members);
  let newRoomSecret: Uint8Array | null = null;
  let rotation: Uint8Array | null = null;
  if (options.newRoomSecret) {
    newRoomSecret = options.newRoomSecret;
    const nonce = randomBytes(24);
    rotation = concat(nonce, xchacha20poly1305(rotationKey(options.commitSecret, options.linkKey), nonce).encrypt(newRoomSecret));
  }
  const body = encodeCommitHeader({ kind: options.kind, locked: options.locked, epoch, distributor: options.distributor.memberKeyId, previous: options.previous, membersHash: hashOfMembers, memberCount, stage: onStage, removed, rotation });
  const t = transcript(roomId, body);
  const signature = sodium.crypto_sign_detached(t, options.distributor.signSecretKey);
  const hash = sha256(t);
  // Every nonce from one call for random bytes, every package into one buffer and encoded at once: a fresh epoch of
  // 10,000 members makes no string or array per member beyond its package's text.
  const nonces = randomBytes(24 * keyed.length);
  const sealed = new Uint8Array(PACKAGE_BYTES * keyed.length);
  const aad = packageAad(hash);
  for (let i = 0; i < keyed.length; i++) {
    const { memberKeyId, key } = keyed[i]!;
    sealPackageInto(sealed, PACKAGE_BYTES * i, aad, key, memberKeyId, options.commitSecret, nonces.subarray(24 * i, 24 * i + 24));
  }
  const texts = toBase64urlEach(sealed, PACKAGE_BYTES);
  const packages = keyed.map(({ memberKeyId }, i) => ({ memberKeyId, package: texts[i]! }));
  return {
    blob: toBase64url(concat(body, signature)),
    commitSecret: options.commitSecret,
    packages,
    skipped,
    epoch,
    kind: options.kind,
    distributor: options.distributor.memberKeyId,
    previous: options.previous,
    hash,
    locked: options.locked,
    membersHash: hashOfMembers,
    memberCount,
    stage: onStage,
    removed,
    epochSecret: deriveEpochSecret(options.commitSecret, hash, options.linkKey),
    newRoomSecret,
  };
}

/**
 * Proves a commit header and recovers the epoch secret: from this member's package, or, for a ratchet that follows our
 * own epoch (same previous transcript), from our own epoch secret. A package proves its header as the signature would:
 * it opens only under the pairwise key of this member and the distributor the header names (the X25519 keys of their
 * verified announcements), with the header's hash as associated data, so only that distributor could have made it
 * for this header. That spares each member an Ed25519 verification per fresh epoch (about 150 µs in libsodium's
 * WebAssembly, more than the rest of opening it). A header without a package is proven by its signature. Policy (who may distribute, epoch bounds, sender index reuse) is the
 * caller's: client/src/session/membership.ts.
 */
export function openCommit(options: {
  blob: string;
  /** This member's package from the same commit, if the relay delivered one. */
  package: string | null;
  roomId: string;
  /** The link's epoch key (RoomKeys.linkKey): without it no epoch secret follows, whatever else is known. */
  linkKey: Uint8Array;
  signKeyOf: (memberKeyId: string) => Uint8Array | null;
  /** The pairwise key with the distributor the header names (see pairwiseKey), or null when it cannot be made. */
  pairwiseKeyWith: (distributor: string) => Uint8Array | null;
  me: Identity;
  current: { epochSecret: Uint8Array; hash: Uint8Array } | null;
}): OpenedCommit {
  let header: CommitHeader;
  let rotation: Uint8Array | null;
  let commitSecret: Uint8Array;
  if (options.package) {
    const read = readCommitHeader(options.blob, options.roomId);
    mayDistribute(read, options.signKeyOf);
    ({ rotation, ...header } = withoutProof(read));
    commitSecret = openPackage(options.package, header.hash, options.me.memberKeyId, () => options.pairwiseKeyWith(header.distributor));
  } else {
    ({ rotation, ...header } = verifyCommitHeader(options));
    if (header.kind !== 'ratchet' || !options.current || !equalBytes(header.previous, options.current.hash)) throw new CommitNoKeyError();
    commitSecret = ratchetCommitSecret(options.current.epochSecret);
  }
  let newRoomSecret: Uint8Array | null = null;
  if (rotation) {
    try {
      newRoomSecret = xchacha20poly1305(rotationKey(commitSecret, options.linkKey), rotation.subarray(0, 24)).decrypt(rotation.subarray(24));
    } catch {
      throw new CommitError('rotated room secret does not authenticate');
    }
  }
  return { ...header, epochSecret: deriveEpochSecret(commitSecret, header.hash, options.linkKey), newRoomSecret };
}
