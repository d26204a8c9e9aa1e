import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AnnouncementError,
  bigEndian,
  buildRoomLink,
  canSealTo,
  CommitError,
  CommitNoKeyError,
  concat,
  createAnnouncement,
  createCommit,
  createConfirmation,
  createDecision,
  DECISION_ACTIONS,
  DecisionError,
  DEFAULT_CIPHER_SUITE,
  deriveEpochSecret,
  deriveRoomKeys,
  deriveSenderBaseKey,
  encodeRoomSecret,
  epochCode,
  fromBase64url,
  fromHex,
  generateCommitSecret,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  makeKid,
  MAX_REMOVED,
  MetadataError,
  METADATA_BUCKET,
  membersHash,
  newChallengeNonce,
  NO_PREVIOUS_COMMIT,
  openCommit,
  openMetadata,
  PACKAGE_BYTES,
  pairwiseKey,
  parseKid,
  parseRoomLink,
  parseRoomSecret,
  peekCommit,
  ratchetCommitSecret,
  ROLES,
  RoomLinkError,
  ROOM_ID_PATTERN,
  sealMetadata,
  sealPackage,
  SframeAuthError,
  SframeReceiver,
  SframeSender,
  toBase64url,
  toHex,
  utf8,
  verifyAnnouncement,
  verifyCommitHeader,
  verifyConfirmation,
  verifyDecision,
  type CreatedCommit,
  type Identity,
  type RosterEntry,
  type RosterRole,
} from '../../crypto/index.ts';
import { labelBytes } from '../../crypto/kdf.ts';
import { sodium } from '../../crypto/sodium.ts';

beforeAll(() => initCrypto());

function flipBit(blob: string, position: number): string {
  const bytes = fromBase64url(blob);
  bytes[position % bytes.length]! ^= 1 << (position % 8);
  return toBase64url(bytes);
}

/** X25519 public keys of small order: libsodium's blacklist (RFC 7748 section 7): 0, 1, the two order-8 points, p - 1, p, p + 1. */
const SMALL_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('base64url', () => {
  it('round-trips and is strict', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromBase64url(toBase64url(b))).toEqual(b);
      }),
    );
    expect(() => fromBase64url('ab=')).toThrow();
    expect(() => fromBase64url('a')).toThrow();
    expect(() => fromBase64url('AB')).toThrow(/non-canonical/);
  });
});

describe('room secret and link', () => {
  it('derives a public 22-character room id and distinct keys', () => {
    const s = generateRoomSecret();
    const k = deriveRoomKeys(s);
    expect(k.roomId).toMatch(ROOM_ID_PATTERN);
    expect(k.authKey).not.toEqual(k.metaKey);
    expect(deriveRoomKeys(s)).toEqual(k);
    expect(deriveRoomKeys(generateRoomSecret()).roomId).not.toBe(k.roomId);
  });

  it('builds and parses links', () => {
    const s = generateRoomSecret();
    const link = buildRoomLink('http://127.0.0.1:3000/', s);
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:3000\/r\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$/);
    const parsed = parseRoomLink(link);
    expect(parsed.secret).toEqual(s);
    expect(parsed.origin).toBe('http://127.0.0.1:3000');
  });

  it('gives clear errors for truncated, mangled or spliced links', () => {
    const s = generateRoomSecret();
    const link = buildRoomLink('https://example.org', s);
    expect(() => parseRoomLink(link.slice(0, -1))).toThrow(/truncated/);
    expect(() => parseRoomLink(link.replace('#', '#!'))).toThrow(RoomLinkError);
    expect(() => parseRoomLink(link.split('#')[0]!)).toThrow(/no secret/);
    const other = buildRoomLink('https://example.org', generateRoomSecret());
    expect(() => parseRoomLink(`${link.split('#')[0]}#${other.split('#')[1]}`)).toThrow(/does not belong/);
    expect(() => parseRoomSecret(`${encodeRoomSecret(s)}x`)).toThrow(/extra/);
    expect(() => parseRoomSecret(`${encodeRoomSecret(s).slice(0, 42)}*`)).toThrow(/mangled/);
  });
});

describe('metadata sealing', () => {
  const { roomId, metaKey } = deriveRoomKeys(generateRoomSecret());

  it('round-trips and hides length within a bucket', () => {
    const a = sealMetadata(metaKey, roomId, 'profile', { name: 'A' });
    const b = sealMetadata(metaKey, roomId, 'profile', { name: 'A much longer name' });
    expect(openMetadata(metaKey, roomId, 'profile', b)).toEqual({ name: 'A much longer name' });
    expect(a.length).toBe(b.length);
    expect(fromBase64url(a).length).toBe(1 + 24 + METADATA_BUCKET + 16);
    expect(a).not.toBe(sealMetadata(metaKey, roomId, 'profile', { name: 'A' }));
  });

  it('rejects another room, another purpose and any flipped bit', () => {
    const sealed = sealMetadata(metaKey, roomId, 'room-title', 'Tea talk');
    expect(() => openMetadata(metaKey, 'x'.repeat(22), 'room-title', sealed)).toThrow(MetadataError);
    expect(() => openMetadata(metaKey, roomId, 'profile', sealed)).toThrow(MetadataError);
    fc.assert(
      fc.property(fc.nat(), (p) => {
        expect(() => openMetadata(metaKey, roomId, 'room-title', flipBit(sealed, p))).toThrow(MetadataError);
      }),
    );
  });
});

describe('announcements', () => {
  it('verify for the room and reject forgeries, other rooms and any flipped bit', () => {
    const room = deriveRoomKeys(generateRoomSecret());
    const other = deriveRoomKeys(generateRoomSecret());
    const identity = generateIdentity();
    const sealedProfile = sealMetadata(room.metaKey, room.roomId, 'profile', { name: 'Lin' });
    const blob = createAnnouncement({ roomId: room.roomId, authKey: room.authKey, identity, sealedProfile });
    const v = verifyAnnouncement({ roomId: room.roomId, authKey: room.authKey, blob });
    expect(v.signPublicKey).toEqual(identity.signPublicKey);
    expect(v.boxPublicKey).toEqual(identity.boxPublicKey);
    expect(v.memberKeyId).toBe(identity.memberKeyId);
    expect(v.sealedProfile).toBe(sealedProfile);
    // Replayed into another room (the relay knows both room ids but neither authKey).
    expect(() => verifyAnnouncement({ roomId: other.roomId, authKey: room.authKey, blob })).toThrow(AnnouncementError);
    expect(() => verifyAnnouncement({ roomId: other.roomId, authKey: other.authKey, blob })).toThrow(AnnouncementError);
    fc.assert(
      fc.property(fc.nat(), (p) => {
        expect(() => verifyAnnouncement({ roomId: room.roomId, authKey: room.authKey, blob: flipBit(blob, p) })).toThrow(AnnouncementError);
      }),
      { numRuns: 200 },
    );
  });

  it('refuse a small-order box key although MAC and signature are valid', () => {
    const room = deriveRoomKeys(generateRoomSecret());
    const identity = generateIdentity();
    const sealedProfile = sealMetadata(room.metaKey, room.roomId, 'profile', { name: 'Lin' });
    const announceWith = (boxPublicKey: Uint8Array) =>
      verifyAnnouncement({ roomId: room.roomId, authKey: room.authKey, blob: createAnnouncement({ roomId: room.roomId, authKey: room.authKey, identity: { ...identity, boxPublicKey }, sealedProfile }) });
    expect(announceWith(identity.boxPublicKey).boxPublicKey).toEqual(identity.boxPublicKey);
    for (const point of SMALL_ORDER_POINTS) expect(() => announceWith(fromHex(point)), point).toThrow(/small order/);
    expect(() => announceWith(new Uint8Array(32))).toThrow(AnnouncementError);
  });
});

describe('epoch commits', () => {
  const room = deriveRoomKeys(generateRoomSecret());
  let host: Identity, a: Identity, b: Identity, c: Identity, d: Identity;
  beforeAll(() => {
    [host, a, b, c, d] = [generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()];
  });
  const entry = (m: Identity, senderIndex: number, role: RosterRole = 'speaker'): RosterEntry => ({ memberKeyId: m.memberKeyId, senderIndex, role });
  const idsOf = (...people: Identity[]) => people.map((m) => m.memberKeyId);
  const keysOf =
    (...signers: Identity[]) =>
    (memberKeyId: string) =>
      signers.find((m) => m.memberKeyId === memberKeyId)?.signPublicKey ?? null;
  /** What a member computes to open its package: one X25519 step with the box key of the distributor the header names. */
  const pairwiseWith = (me: Identity, roomId: string) => (distributor: string) => {
    const them = [host, a, b, c, d].find((m) => m.memberKeyId === distributor);
    return them ? pairwiseKey({ roomId, mySecretKey: me.boxSecretKey, theirPublicKey: them.boxPublicKey, distributor, member: me.memberKeyId }) : null;
  };
  const packageOf = (created: CreatedCommit, me: Identity) => created.packages.find((p) => p.memberKeyId === me.memberKeyId)?.package ?? null;
  const open = (blob: string, pkg: string | null, me: Identity, current: { epochSecret: Uint8Array; hash: Uint8Array } | null = null, roomId = room.roomId) =>
    openCommit({ blob, package: pkg, roomId, linkKey: room.linkKey, signKeyOf: keysOf(host, a), pairwiseKeyWith: pairwiseWith(me, roomId), me, current });
  /** What the relay hands a member: the header, and its own package if the commit has one. */
  const openFor = (created: CreatedCommit, me: Identity, current: { epochSecret: Uint8Array; hash: Uint8Array } | null = null) => open(created.blob, packageOf(created, me), me, current);
  const holding = (commit: CreatedCommit) => ({ epochSecret: commit.epochSecret, hash: commit.hash });
  const fresh = (options: Partial<Parameters<typeof createCommit>[0]> = {}) =>
    createCommit({
      distributor: host,
      roomId: room.roomId,
      linkKey: room.linkKey,
      epoch: 1,
      kind: 'fresh',
      previous: NO_PREVIOUS_COMMIT,
      locked: false,
      members: idsOf(host, a, b),
      stage: [entry(host, 0, 'host'), entry(a, 1)],
      commitSecret: generateCommitSecret(),
      packageFor: [a, b],
      ...options,
    });
  /** The ratchet that follows `before`, c joining as a listener: members compute the commit secret, c gets a package. */
  const ratchet = (before: CreatedCommit, options: Partial<Parameters<typeof createCommit>[0]> = {}) =>
    createCommit({
      distributor: host,
      roomId: room.roomId,
      linkKey: room.linkKey,
      epoch: before.epoch + 1,
      kind: 'ratchet',
      previous: before.hash,
      locked: false,
      members: idsOf(host, a, b, c),
      stage: before.stage,
      commitSecret: ratchetCommitSecret(before.epochSecret),
      packageFor: [c],
      ...options,
    });
  /** Rewrites a header's signed body and signs it again with the host's key: what only a hostile distributor could send. */
  const resign = (blob: string, mutate: (body: Uint8Array) => void, roomId = room.roomId) => {
    const bytes = fromBase64url(blob);
    const body = bytes.slice(0, bytes.length - 64);
    mutate(body);
    const transcript = concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
    return toBase64url(concat(body, sodium.crypto_sign_detached(transcript, host.signSecretKey)));
  };
  // Version, kind, flags (3), epoch (8), distributor (8), previous hash (32), members hash (32), member count (4),
  // stage length (4); then 11 bytes a stage entry.
  const COUNT_AT = 83;
  const STAGE_AT = 91;
  const STAGE_ENTRY = 11;

  it('fresh: every member with a package opens the same epoch secret, bound to the header; others cannot', () => {
    const commitSecret = generateCommitSecret();
    const created = fresh({ commitSecret });
    expect(created.skipped).toEqual([]);
    expect(created.packages.map((p) => p.memberKeyId)).toEqual(idsOf(a, b));
    expect(created.packages.map((p) => fromBase64url(p.package).length)).toEqual([PACKAGE_BYTES, PACKAGE_BYTES]);
    expect(created.epochSecret).toEqual(deriveEpochSecret(commitSecret, created.hash, room.linkKey));
    expect(created.epochSecret).not.toEqual(commitSecret);
    expect(created).toMatchObject({ memberCount: 3, membersHash: membersHash(idsOf(host, a, b)) });
    expect(peekCommit(created.blob)).toEqual({ epoch: 1, kind: 'fresh', distributor: host.memberKeyId });
    for (const m of [a, b]) {
      const opened = openFor(created, m);
      expect(opened.epochSecret).toEqual(created.epochSecret);
      expect(opened.hash).toEqual(created.hash);
      expect(opened).toMatchObject({
        epoch: 1,
        kind: 'fresh',
        distributor: host.memberKeyId,
        locked: false,
        stage: created.stage,
        membersHash: created.membersHash,
        memberCount: 3,
        previous: NO_PREVIOUS_COMMIT,
        newRoomSecret: null,
      });
    }
    // Listeners hold the keys but sit on no stage: b has no sender index.
    expect(created.stage.map((m) => m.memberKeyId)).toEqual(idsOf(host, a));
    expect(() => openFor(created, c)).toThrow(CommitNoKeyError);
    // A fresh commit ignores the epoch a member holds: only its package counts.
    expect(() => openFor(created, c, holding(created))).toThrow(/no key for me/);
    const locked = fresh({ locked: true });
    expect(openFor(locked, a).locked).toBe(true);
  });

  it('ratchet: holders of the previous epoch with its hash and packaged newcomers open it; a forked holder does not', () => {
    const first = fresh();
    const next = ratchet(first);
    expect(next.epochSecret).not.toEqual(first.epochSecret);
    expect(next.epochSecret).not.toEqual(ratchetCommitSecret(first.epochSecret));
    expect(next.packages.map((p) => p.memberKeyId)).toEqual(idsOf(c));
    for (const m of [host, a, b]) {
      const opened = open(next.blob, null, m, holding(first));
      expect(opened.epochSecret).toEqual(next.epochSecret);
      expect(opened).toMatchObject({ epoch: 2, kind: 'ratchet', previous: first.hash, stage: next.stage, memberCount: 4, membersHash: membersHash(idsOf(host, a, b, c)) });
    }
    expect(openFor(next, c).epochSecret).toEqual(next.epochSecret);
    // Same secret, but a member who followed another commit (a fork) holds another transcript hash. The header carries
    // no secret, so only a header that differs makes another hash.
    expect(fresh({ commitSecret: generateCommitSecret() }).hash).toEqual(first.hash);
    const forked = fresh({ stage: [entry(host, 0, 'host')] });
    expect(() => open(next.blob, null, a, { epochSecret: first.epochSecret, hash: forked.hash })).toThrow(/no key for me/);
    expect(() => open(next.blob, null, a)).toThrow(/no key for me/);
  });

  it('fork: ratchets of the same epoch with different stages, members, distributors or flags never share a key', async () => {
    const first = fresh();
    const current = holding(first);
    // No packages (their nonces are random), so these commits differ only where the fork makes them differ.
    const base = { packageFor: [] };
    const sideX = ratchet(first, { ...base, stage: [...first.stage, entry(b, 2)] });
    const sideY = ratchet(first, { ...base, stage: [...first.stage, entry(c, 2)] });
    const otherIndex = ratchet(first, { ...base, stage: [...first.stage, entry(b, 3)] });
    const otherRole = ratchet(first, { ...base, stage: [...first.stage, entry(b, 2, 'moderator')] });
    const otherMembers = ratchet(first, { ...base, stage: sideX.stage, members: idsOf(host, a, b, d) });
    const fewerMembers = ratchet(first, { ...base, stage: sideX.stage, members: idsOf(host, a, b) });
    const otherDistributor = ratchet(first, { ...base, stage: sideX.stage, distributor: a });
    const sameButLocked = ratchet(first, { ...base, stage: sideX.stage, locked: true });
    // Ed25519 is deterministic: the same commit again gives the same key, a control for the inequalities below.
    expect(ratchet(first, { ...base, stage: sideX.stage }).epochSecret).toEqual(sideX.epochSecret);
    // The member list is a set: listing it in another order is the same commit.
    expect(ratchet(first, { ...base, stage: sideX.stage, members: idsOf(c, b, a, host) }).epochSecret).toEqual(sideX.epochSecret);
    const onX = open(sideX.blob, null, b, current);
    const onY = open(sideY.blob, null, a, current);
    expect(onX.epochSecret).toEqual(sideX.epochSecret);
    expect(onX.epochSecret).not.toEqual(onY.epochSecret);
    const secrets = [onX, onY, ...[otherIndex, otherRole, otherMembers, fewerMembers, otherDistributor, sameButLocked].map((side) => open(side.blob, null, b, current))].map((o) => toHex(o.epochSecret));
    expect(new Set(secrets).size).toBe(secrets.length);

    // A's frames under side X's key do not authenticate for side Y's listeners, whose key for the same KID differs.
    const kid = makeKid(2, 1);
    const sender = new SframeSender({ kid, baseKey: deriveSenderBaseKey(onX.epochSecret, 1, DEFAULT_CIPHER_SUITE) });
    const frame = await sender.encrypt(utf8.encode('only for side X'));
    const listenerX = new SframeReceiver();
    listenerX.addKey(kid, deriveSenderBaseKey(onX.epochSecret, 1, DEFAULT_CIPHER_SUITE));
    const listenerY = new SframeReceiver();
    listenerY.addKey(kid, deriveSenderBaseKey(onY.epochSecret, 1, DEFAULT_CIPHER_SUITE));
    await expect(listenerY.decrypt(frame)).rejects.toThrow(SframeAuthError);
    expect(utf8.decode(await listenerX.decrypt(frame))).toBe('only for side X');
  });

  it('any changed header byte, another room or another signer fails, for newcomers and holders alike', () => {
    const first = fresh();
    const created = ratchet(first, { members: idsOf(host, a, b, c, d), packageFor: [c, d] });
    const pkg = packageOf(created, c);
    const bytes = fromBase64url(created.blob);
    const signatureAt = bytes.length - 64;
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 0x01;
      const blob = toBase64url(tampered);
      // The newcomer's package proves the header (the header's hash is its associated data) in place of the
      // signature, which it does not check: a changed signature byte leaves the signed body, and its secret, intact.
      if (i < signatureAt) expect(() => open(blob, pkg, c), `byte ${i}`).toThrow(CommitError);
      else expect(open(blob, pkg, c).epochSecret, `byte ${i}`).toEqual(created.epochSecret);
      expect(() => open(blob, null, a, holding(first)), `byte ${i}`).toThrow(CommitError);
    }
    expect(() => open(toBase64url(bytes.subarray(0, bytes.length - 1)), pkg, c)).toThrow(CommitError);
    expect(() => open(`${created.blob}A`, pkg, c)).toThrow(CommitError);
    expect(() => open(created.blob, pkg, c, null, 'y'.repeat(22))).toThrow(/does not open/);
    expect(() => open(created.blob, null, a, holding(first), 'y'.repeat(22))).toThrow(/not signed/);
    const as = (signKeyOf: (id: string) => Uint8Array | null, pkgOf: Identity | null) =>
      openCommit({
        blob: created.blob,
        package: pkgOf ? packageOf(created, pkgOf) : null,
        roomId: room.roomId,
        linkKey: room.linkKey,
        signKeyOf,
        pairwiseKeyWith: pairwiseWith(pkgOf ?? a, room.roomId),
        me: pkgOf ?? a,
        current: pkgOf ? null : holding(first),
      });
    expect(() => as(() => b.signPublicKey, null)).toThrow(/not signed/);
    // Whom the member lets distribute is its policy, with a package or without.
    expect(() => as(() => null, c)).toThrow(/may distribute/);
    expect(() => as(() => null, null)).toThrow(/may distribute/);
    expect(() => verifyCommitHeader({ blob: created.blob, roomId: room.roomId, signKeyOf: () => b.signPublicKey })).toThrow(/not signed/);
    // The same body signed for another room id is refused in this one by a member it must convince by its signature.
    expect(() =>
      open(
        resign(created.blob, () => {}, 'y'.repeat(22)),
        null,
        a,
        holding(first),
      ),
    ).toThrow(/not signed/);
    expect(verifyCommitHeader({ blob: created.blob, roomId: room.roomId, signKeyOf: keysOf(host) }).hash).toEqual(created.hash);
    expect(open(created.blob, pkg, c).epochSecret).toEqual(created.epochSecret);
  });

  it('the removed list is in the signed header: it round-trips, is bounded, and any changed byte of it fails', () => {
    const kicked = [generateIdentity(), generateIdentity(), generateIdentity()].map((m) => m.memberKeyId);
    const first = fresh({ removed: kicked });
    expect(first.removed).toEqual(kicked);
    expect(openFor(first, a).removed).toEqual(kicked);
    const created = ratchet(first, { removed: kicked, members: idsOf(host, a, b, c), packageFor: [c] });
    expect(open(created.blob, null, a, holding(first)).removed).toEqual(kicked);
    expect(openFor(created, c).removed).toEqual(kicked);
    // A header without the list is another header: another hash, another epoch secret.
    expect(ratchet(first, { members: idsOf(host, a, b, c), packageFor: [c] }).hash).not.toEqual(created.hash);
    // The list sits after the stage (its u16 count, then 8 bytes a member): every byte of it is under H(n), so a
    // changed one fails the newcomer's package and the holder's signature alike.
    const at = STAGE_AT + STAGE_ENTRY * created.stage.length;
    const bytes = fromBase64url(created.blob);
    expect(toHex(bytes.subarray(at + 2, at + 2 + 8))).toBe(kicked[0]);
    for (let i = at; i < at + 2 + 8 * kicked.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 0x01;
      expect(() => open(toBase64url(tampered), packageOf(created, c), c), `byte ${i}`).toThrow(CommitError);
      expect(() => open(toBase64url(tampered), null, a, holding(first)), `byte ${i}`).toThrow(CommitError);
    }
    // Bounded: the newest MAX_REMOVED are written, the oldest drop out; a header listing more, or one twice, is refused.
    const many = Array.from({ length: MAX_REMOVED + 3 }, (_, i) => toHex(bigEndian(i + 1, 8)));
    expect(fresh({ removed: many }).removed).toEqual(many.slice(3));
    expect(() => fresh({ removed: [kicked[0]!, kicked[0]!] })).toThrow(/listed twice/);
    expect(() => fresh({ removed: ['abc'] })).toThrow(/8 bytes/);
    const twice = resign(created.blob, (body) => body.set(body.slice(at + 2, at + 10), at + 10));
    expect(() => open(twice, null, a, holding(first))).toThrow(/listed twice/);
    const full = fresh({ removed: many });
    const fullAt = STAGE_AT + STAGE_ENTRY * full.stage.length;
    expect(() =>
      open(
        resign(full.blob, (body) => body.set([0x01, 0x01], fullAt)),
        null,
        a,
        holding(full),
      ),
    ).toThrow(/too many/);
  });

  it("a package proves only its own distributor's header: another member who signs the same body cannot key anyone", () => {
    const first = fresh();
    // a, a member on the stage, makes the newcomer's header itself: same body but naming a as the distributor, signed
    // by a, with a package under a's own pairwise key with c. It is a's commit, so c opens it only if a may distribute.
    const forged = ratchet(first, { distributor: a, members: idsOf(host, a, b, c), packageFor: [c] });
    const byHost = ratchet(first, { members: idsOf(host, a, b, c), packageFor: [c] });
    const onlyHost = (id: string) => (id === host.memberKeyId ? host.signPublicKey : null);
    const openAs = (blob: string, pkg: string | null) => openCommit({ blob, package: pkg, roomId: room.roomId, linkKey: room.linkKey, signKeyOf: onlyHost, pairwiseKeyWith: pairwiseWith(c, room.roomId), me: c, current: null });
    expect(() => openAs(forged.blob, packageOf(forged, c))).toThrow(/may distribute/);
    // a's package paired with the host's header, or the host's package with a's header: neither opens.
    expect(() => openAs(byHost.blob, packageOf(forged, c))).toThrow(/does not open/);
    const claimingHost = fromBase64url(forged.blob);
    claimingHost.set(fromHex(host.memberKeyId), 3 + 8);
    expect(() => openAs(toBase64url(claimingHost), packageOf(forged, c))).toThrow(/does not open/);
    expect(openAs(byHost.blob, packageOf(byHost, c)).epochSecret).toEqual(byHost.epochSecret);
  });

  it("a package opens only for its member, only with its own header, and never with another epoch's", () => {
    const first = fresh();
    const created = ratchet(first, { members: idsOf(host, a, b, c, d), packageFor: [c, d] });
    const forC = packageOf(created, c)!;
    const forD = packageOf(created, d)!;
    expect(open(created.blob, forD, d).epochSecret).toEqual(created.epochSecret);
    expect(() => open(created.blob, forD, c)).toThrow(/not for me/);
    expect(() => open(created.blob, forC, d)).toThrow(/not for me/);
    // Any changed package byte: its address no longer names c, or it no longer authenticates.
    const raw = fromBase64url(forC);
    for (let i = 0; i < raw.length; i++) {
      const tampered = raw.slice();
      tampered[i]! ^= 0x01;
      expect(() => open(created.blob, toBase64url(tampered), c), `byte ${i}`).toThrow(CommitError);
    }
    expect(() => open(created.blob, toBase64url(raw.subarray(1)), c)).toThrow(/not for me/);
    // Another header of the same epoch (a fork the relay might pair it with), and the next epoch: c's package opens neither.
    const sibling = ratchet(first, { members: idsOf(host, a, b, c, d), packageFor: [c, d], locked: true });
    expect(() => open(sibling.blob, forC, c)).toThrow(/does not open/);
    expect(open(sibling.blob, packageOf(sibling, c), c).epochSecret).toEqual(sibling.epochSecret);
    const later = fresh({ epoch: 3, previous: created.hash, members: idsOf(host, a, b, c, d), packageFor: [a, b, c, d] });
    expect(() => open(later.blob, forC, c)).toThrow(/does not open/);
    expect(openFor(later, c).epochSecret).toEqual(later.epochSecret);
    // Without a pairwise key (a distributor whose box key c cannot use), a package cannot be opened at all.
    expect(() => openCommit({ blob: created.blob, package: forC, roomId: room.roomId, linkKey: room.linkKey, signKeyOf: keysOf(host), pairwiseKeyWith: () => null, me: c, current: null })).toThrow(/no pairwise key/);
    // Another member's pairwise key with the distributor does not open c's package.
    const withAsKey = (distributor: string) => pairwiseWith(a, room.roomId)(distributor);
    expect(() => openCommit({ blob: created.blob, package: forC, roomId: room.roomId, linkKey: room.linkKey, signKeyOf: keysOf(host), pairwiseKeyWith: withAsKey, me: c, current: null })).toThrow(/does not open/);
  });

  it('the pairwise key is the same from either side, and tied to the room, the distributor and the member', () => {
    const key = (options: Partial<Parameters<typeof pairwiseKey>[0]> = {}) =>
      pairwiseKey({ roomId: room.roomId, mySecretKey: host.boxSecretKey, theirPublicKey: c.boxPublicKey, distributor: host.memberKeyId, member: c.memberKeyId, ...options });
    const fromHost = key();
    expect(fromHost).toEqual(key({ mySecretKey: c.boxSecretKey, theirPublicKey: host.boxPublicKey }));
    const others = [key({ roomId: 'y'.repeat(22) }), key({ distributor: a.memberKeyId }), key({ member: d.memberKeyId }), key({ theirPublicKey: d.boxPublicKey })];
    for (const other of others) expect(other).not.toEqual(fromHost);
    for (const point of SMALL_ORDER_POINTS) expect(key({ theirPublicKey: fromHex(point) }), point).toBeNull();
  });

  it('membersHash commits to a set: any order gives the same hash, another set another', () => {
    const id = fc.uint8Array({ minLength: 8, maxLength: 8 }).map(toHex);
    fc.assert(
      fc.property(
        fc.uniqueArray(id, { minLength: 1, maxLength: 20 }).chain((members) => fc.tuple(fc.constant(members), fc.shuffledSubarray(members, { minLength: members.length, maxLength: members.length }))),
        id,
        ([members, shuffled], extra) => {
          expect(membersHash(shuffled)).toEqual(membersHash(members));
          expect(membersHash([...members, members[0]!])).toEqual(membersHash(members));
          if (!members.includes(extra)) expect(membersHash([...members, extra])).not.toEqual(membersHash(members));
          if (members.length > 1) expect(membersHash(members.slice(1))).not.toEqual(membersHash(members));
          // Its definition: SHA-256 of the label, a zero byte and the sorted members' bytes.
          expect(membersHash(shuffled)).toEqual(sha256(concat(labelBytes('members'), Uint8Array.of(0), ...[...members].sort().map(fromHex))));
        },
      ),
      { numRuns: 200 },
    );
    expect(() => membersHash(['abc'])).toThrow(RangeError);
    // Ids that are not 16 lowercase hex digits (uppercase, other lengths, anywhere in the list) sort as text too.
    const definition = (ids: string[]) => sha256(concat(labelBytes('members'), Uint8Array.of(0), ...[...new Set(ids)].sort().map(fromHex)));
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 9 }), fc.boolean()).map(([b, upper]) => (upper ? toHex(b).toUpperCase() : toHex(b))),
          { maxLength: 20 },
        ),
        (ids) => {
          expect(membersHash(ids)).toEqual(definition(ids));
          expect(membersHash(new Set(ids))).toEqual(definition(ids));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every package is its member id, its nonce and the commit secret sealed under the pairwise key with the header hash and member id as data', () => {
    const people = [a, b, c, d];
    const keyOf = (m: { memberKeyId: string }) =>
      pairwiseKey({ roomId: room.roomId, mySecretKey: host.boxSecretKey, theirPublicKey: people.find((p) => p.memberKeyId === m.memberKeyId)!.boxPublicKey, distributor: host.memberKeyId, member: m.memberKeyId })!;
    const created = fresh({ members: idsOf(host, ...people), packageFor: people });
    expect(created.packages.map((p) => p.memberKeyId)).toEqual(idsOf(...people));
    const nonces = new Set<string>();
    for (const { memberKeyId, package: pkg } of created.packages) {
      const nonce = fromBase64url(pkg).subarray(8, 32);
      nonces.add(toHex(nonce));
      const id = fromHex(memberKeyId);
      // noble's XChaCha20-Poly1305, not the libsodium the distributor seals with.
      const expected = toBase64url(concat(id, nonce, xchacha20poly1305(keyOf({ memberKeyId }), nonce, concat(created.hash, id)).encrypt(created.commitSecret)));
      expect(pkg).toBe(expected);
      expect(sealPackage({ key: keyOf({ memberKeyId }), hash: created.hash, memberKeyId, commitSecret: created.commitSecret, nonce })).toBe(expected);
    }
    expect(nonces.size).toBe(people.length);
  });

  it('refuses duplicate members, duplicate sender indexes, two hosts, listeners on stage and too few members, whether building or opening', () => {
    expect(() => fresh({ stage: [entry(host, 0, 'host'), entry(a, 1), entry(a, 2)] })).toThrow(/listed twice/);
    expect(() => fresh({ stage: [entry(host, 0, 'host'), entry(a, 1), entry(b, 1)] })).toThrow(/sender index is given twice/);
    expect(() => fresh({ stage: [entry(host, 0, 'host'), entry(a, 1, 'host')] })).toThrow(/more than one host/);
    expect(() => fresh({ stage: [entry(host, 0, 'host'), entry(b, 1, 'listener')] })).toThrow(/listener on the stage/);
    expect(() => fresh({ stage: [entry(host, 65536, 'host')] })).toThrow(/out of range/);
    expect(() => fresh({ stage: [entry(host, -1, 'host')] })).toThrow(CommitError);

    // Opened by a holder of epoch 1, so a re-signed header (a new hash) still opens without a package.
    const first = fresh();
    const created = ratchet(first, { stage: [entry(host, 0, 'host'), entry(a, 1), entry(b, 2)] });
    const current = holding(first);
    const a1 = STAGE_AT + STAGE_ENTRY; // a at index 1, b at index 2
    const b2 = STAGE_AT + 2 * STAGE_ENTRY;
    // The helper itself makes commits that open, and a legal change (b becomes a moderator) still opens.
    expect(
      open(
        resign(created.blob, () => {}),
        null,
        a,
        current,
      ).epochSecret,
    ).toEqual(created.epochSecret);
    expect(
      open(
        resign(created.blob, (body) => (body[b2 + 10] = ROLES.indexOf('moderator'))),
        null,
        a,
        current,
      ).stage[2]!.role,
    ).toBe('moderator');
    expect(() =>
      open(
        resign(created.blob, (body) => body.set(body.slice(a1, a1 + 8), b2)),
        null,
        a,
        current,
      ),
    ).toThrow(/listed twice/);
    expect(() =>
      open(
        resign(created.blob, (body) => body.set(body.slice(a1 + 8, a1 + 10), b2 + 8)),
        null,
        a,
        current,
      ),
    ).toThrow(/sender index is given twice/);
    expect(() =>
      open(
        resign(created.blob, (body) => (body[b2 + 10] = ROLES.indexOf('host'))),
        null,
        a,
        current,
      ),
    ).toThrow(/more than one host/);
    expect(() =>
      open(
        resign(created.blob, (body) => (body[b2 + 10] = ROLES.indexOf('listener'))),
        null,
        a,
        current,
      ),
    ).toThrow(/listener on the stage/);
    expect(() =>
      open(
        resign(created.blob, (body) => (body[b2 + 10] = ROLES.length)),
        null,
        a,
        current,
      ),
    ).toThrow(/unknown role/);
    expect(() =>
      open(
        resign(created.blob, (body) => body.set([0, 0, 0, 2], COUNT_AT)),
        null,
        a,
        current,
      ),
    ).toThrow(/fewer members than on stage/);
  });

  it('skips recipients whose box key is of small order: left out of the members and the stage; the others still open the commit', () => {
    const broken = SMALL_ORDER_POINTS.map((point) => ({ ...generateIdentity(), boxPublicKey: fromHex(point) }));
    const created = fresh({
      members: [...idsOf(host, a), ...broken.map((m) => m.memberKeyId)],
      stage: [entry(host, 0, 'host'), entry(a, 1), entry(broken[0]!, 2), entry(broken[1]!, 3, 'moderator')],
      packageFor: [...broken.slice(0, 3), a, ...broken.slice(3)],
    });
    expect(created.skipped).toEqual(broken.map((m) => m.memberKeyId));
    expect(created.packages.map((p) => p.memberKeyId)).toEqual(idsOf(a));
    expect(created).toMatchObject({ memberCount: 2, membersHash: membersHash(idsOf(host, a)), stage: [entry(host, 0, 'host'), entry(a, 1)] });
    const opened = openFor(created, a);
    expect(opened.epochSecret).toEqual(created.epochSecret);
    expect(opened.stage).toEqual(created.stage);
    for (const m of broken) expect(() => openFor(created, m)).toThrow(/no key for me/);
    expect(canSealTo(a.boxPublicKey)).toBe(true);
    for (const point of SMALL_ORDER_POINTS) expect(canSealTo(fromHex(point))).toBe(false);
  });

  it('carries a rotated room secret to holders of the commit secret, bound to that secret', () => {
    const next = generateRoomSecret();
    const first = fresh({ newRoomSecret: next });
    expect(first.newRoomSecret).toEqual(next);
    for (const m of [a, b]) expect(openFor(first, m).newRoomSecret).toEqual(next);
    // A ratchet's rotation is read by a holder of the previous epoch, who has no package.
    const rotated = ratchet(first, { newRoomSecret: next });
    expect(open(rotated.blob, null, a, holding(first)).newRoomSecret).toEqual(next);
    expect(openFor(rotated, c).newRoomSecret).toEqual(next);
    // The rotation of a commit with another commit secret moved into this one, even signed by the distributor, does not open.
    const other = ratchet(first, { newRoomSecret: generateRoomSecret() });
    const rotation = fromBase64url(first.blob).slice(-64 - 72, -64);
    const transplanted = resign(other.blob, (body) => body.set(rotation, body.length - 72));
    expect(() => open(transplanted, null, a, holding(first))).toThrow(/rotated room secret does not authenticate/);
    expect(
      open(
        resign(other.blob, () => {}),
        null,
        a,
        holding(first),
      ).newRoomSecret,
    ).toEqual(other.newRoomSecret);
  });

  it('epoch codes read "ddd ddd", alike for the same secret and apart for different ones', () => {
    const secrets = Array.from({ length: 20 }, (_, i) => new Uint8Array(32).fill(i));
    const codes = secrets.map(epochCode);
    for (const code of codes) expect(code).toMatch(/^\d{3} \d{3}$/);
    expect(new Set(codes).size).toBe(secrets.length);
    expect(secrets.map((s) => epochCode(s.slice()))).toEqual(codes);
  });

  it('sender base keys differ per index, epoch and suite; KIDs carry epoch and index', () => {
    const s = generateCommitSecret();
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(s, 1, 4));
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(s, 0, 1));
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(deriveEpochSecret(s, NO_PREVIOUS_COMMIT, s), 0, 4));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 65535 }), (epoch, senderIndex) => {
        expect(parseKid(makeKid(epoch, senderIndex))).toEqual({ epoch, senderIndex });
      }),
    );
    expect(() => makeKid(1, 65536)).toThrow(RangeError);
  });
});

describe('stage decisions', () => {
  const room = deriveRoomKeys(generateRoomSecret());
  let host: Identity, a: Identity, c: Identity;
  beforeAll(() => {
    [host, a, c] = [generateIdentity(), generateIdentity(), generateIdentity()];
  });
  const keysOf =
    (...signers: Identity[]) =>
    (memberKeyId: string) =>
      signers.find((m) => m.memberKeyId === memberKeyId)?.signPublicKey ?? null;
  /** The commit hashes of the verifier's lineage, by epoch. */
  const lineage = new Map([3, 7].map((epoch) => [epoch, generateCommitSecret()]));
  const H = (epoch: number) => lineage.get(epoch)!;
  const verify = (blob: string, roomId = room.roomId, hashes = lineage) => verifyDecision({ roomId, blob, signKeyOf: keysOf(host, a), commitHashOf: (epoch) => hashes.get(epoch) ?? null });
  const invite = (actor: Identity = host, roomId = room.roomId) => createDecision({ roomId, actor, action: 'invite', target: a.memberKeyId, epoch: 3, commitHash: H(3) });
  const accept = (embedded: string) => createDecision({ roomId: room.roomId, actor: a, action: 'accept', target: host.memberKeyId, epoch: 3, commitHash: H(3), embedded });

  it('round-trip for every action, each with its own id', () => {
    for (const action of DECISION_ACTIONS) {
      const target = action === 'lock' || action === 'unlock' ? null : a.memberKeyId;
      const embedded = action === 'accept' ? invite() : undefined;
      const blob = createDecision({ roomId: room.roomId, actor: host, action, target, epoch: 7, commitHash: H(7), embedded });
      const decision = verify(blob);
      expect(decision).toMatchObject({ action, actor: host.memberKeyId, target, epoch: 7, blob });
      expect(decision.id).toMatch(/^[0-9a-f]{32}$/);
      expect(decision.embedded === null).toBe(action !== 'accept');
      expect(verify(createDecision({ roomId: room.roomId, actor: host, action, target, epoch: 7, commitHash: H(7), embedded })).id).not.toBe(decision.id);
    }
  });

  it('an acceptance carries the invitation it answers', () => {
    const invitation = invite();
    const decision = verify(accept(invitation));
    expect(decision).toMatchObject({ action: 'accept', actor: a.memberKeyId, target: host.memberKeyId });
    expect(decision.embedded).toMatchObject({ action: 'invite', actor: host.memberKeyId, target: a.memberKeyId, epoch: 3, embedded: null, blob: invitation });
    expect(decision.embedded!.id).toBe(verify(invitation).id);
  });

  it('refuses another room, any changed byte, unknown or impersonated signers', () => {
    const blob = accept(invite());
    expect(() => verify(blob, 'y'.repeat(22))).toThrow(DecisionError);
    const bytes = fromBase64url(blob);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 0x01;
      expect(() => verify(toBase64url(tampered)), `byte ${i}`).toThrow(DecisionError);
    }
    expect(() => verify(toBase64url(bytes.subarray(0, bytes.length - 1)))).toThrow(DecisionError);
    expect(() => verify('not base64!')).toThrow(DecisionError);
    const byStranger = createDecision({ roomId: room.roomId, actor: c, action: 'mute', target: a.memberKeyId, epoch: 3, commitHash: H(3) });
    expect(() => verify(byStranger)).toThrow(/does not know/);
    // c names the host as its actor but can only sign with its own key.
    const impersonation = createDecision({ roomId: room.roomId, actor: { ...c, memberKeyId: host.memberKeyId }, action: 'kick', target: a.memberKeyId, epoch: 3, commitHash: H(3) });
    expect(() => verify(impersonation)).toThrow(/bad signature/);
  });

  it('refuses an acceptance of a forged invitation, and nesting deeper than one', () => {
    expect(() => verify(accept(invite({ ...c, memberKeyId: host.memberKeyId })))).toThrow(DecisionError);
    expect(() => verify(accept(invite(c)))).toThrow(/does not know/);
    expect(() => verify(accept(invite(host, 'y'.repeat(22))))).toThrow(/bad signature/);
    const acceptance = accept(invite());
    expect(() => verify(accept(acceptance))).toThrow(/nested too deep/);
    expect(() => createDecision({ roomId: room.roomId, actor: a, action: 'accept', target: null, epoch: 3, commitHash: H(3), embedded: toBase64url(new Uint8Array(513)) })).toThrow(RangeError);
    expect(() => createDecision({ roomId: room.roomId, actor: a, action: 'mute', target: null, epoch: -1, commitHash: H(3) })).toThrow(RangeError);
  });

  it('refuses a decision made in another lineage under the same epoch number, or under an epoch whose commit it does not hold', () => {
    // A colluding member's fork: its own commit for epoch 3, and a decision signed there by a genuine member.
    const fork = createDecision({ roomId: room.roomId, actor: host, action: 'mute', target: a.memberKeyId, epoch: 3, commitHash: generateCommitSecret() });
    expect(() => verify(fork)).toThrow(/bad signature/);
    expect(verify(createDecision({ roomId: room.roomId, actor: host, action: 'mute', target: a.memberKeyId, epoch: 3, commitHash: H(3) })).epoch).toBe(3);
    // An acceptance of this lineage that carries an invitation of the fork fails too.
    expect(() => verify(accept(createDecision({ roomId: room.roomId, actor: host, action: 'invite', target: a.memberKeyId, epoch: 7, commitHash: generateCommitSecret() })))).toThrow(/bad signature/);
    const unheld = createDecision({ roomId: room.roomId, actor: host, action: 'mute', target: a.memberKeyId, epoch: 5, commitHash: generateCommitSecret() });
    expect(() => verify(unheld)).toThrow(/does not hold/);
    expect(() => verify(invite(), room.roomId, new Map())).toThrow(DecisionError);
  });

  it('confirmations round-trip and refuse another signer, another room or any changed byte', () => {
    const nonce = newChallengeNonce();
    expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(newChallengeNonce()).not.toBe(nonce);
    const commitHash = generateCommitSecret();
    const blob = createConfirmation({ roomId: room.roomId, distributor: host, epoch: 4, commitHash, nonce });
    const check = (b: string, signKeyOf = keysOf(host), roomId = room.roomId) => verifyConfirmation({ roomId, blob: b, signKeyOf });
    expect(check(blob)).toEqual({ distributor: host.memberKeyId, epoch: 4, commitHash, nonce });
    expect(() => check(blob, () => a.signPublicKey)).toThrow(DecisionError);
    expect(() => check(blob, keysOf(a))).toThrow(DecisionError);
    expect(() => check(blob, keysOf(host), 'y'.repeat(22))).toThrow(DecisionError);
    const impersonation = createConfirmation({ roomId: room.roomId, distributor: { ...a, memberKeyId: host.memberKeyId }, epoch: 4, commitHash, nonce });
    expect(() => check(impersonation)).toThrow(DecisionError);
    const bytes = fromBase64url(blob);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 0x01;
      expect(() => check(toBase64url(tampered)), `byte ${i}`).toThrow(DecisionError);
    }
    expect(() => check(toBase64url(bytes.subarray(1)))).toThrow(DecisionError);
  });
});
