import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AnnouncementError,
  buildRoomLink,
  canSealTo,
  CommitError,
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
  MetadataError,
  METADATA_BUCKET,
  newChallengeNonce,
  NO_PREVIOUS_COMMIT,
  openCommit,
  openMetadata,
  parseKid,
  parseRoomLink,
  parseRoomSecret,
  peekCommit,
  ratchetCommitSecret,
  ROLES,
  RoomLinkError,
  ROOM_ID_PATTERN,
  sealMetadata,
  SframeAuthError,
  SframeReceiver,
  SframeSender,
  toBase64url,
  utf8,
  verifyAnnouncement,
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
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      expect(fromBase64url(toBase64url(b))).toEqual(b);
    }));
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
    fc.assert(fc.property(fc.nat(), (p) => {
      expect(() => openMetadata(metaKey, roomId, 'room-title', flipBit(sealed, p))).toThrow(MetadataError);
    }));
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
  const entry = (m: Identity, senderIndex: number, role: RosterRole = 'listener'): RosterEntry => ({ memberKeyId: m.memberKeyId, senderIndex, role });
  const keysOf = (...signers: Identity[]) => (memberKeyId: string) => signers.find((m) => m.memberKeyId === memberKeyId)?.signPublicKey ?? null;
  const open = (blob: string, me: Identity, current: { epochSecret: Uint8Array; hash: Uint8Array } | null = null, roomId = room.roomId) =>
    openCommit({ blob, roomId, signKeyOf: keysOf(host, a), me, current });
  const fresh = (options: Partial<Parameters<typeof createCommit>[0]> = {}) =>
    createCommit({
      distributor: host,
      roomId: room.roomId,
      epoch: 1,
      kind: 'fresh',
      previous: NO_PREVIOUS_COMMIT,
      locked: false,
      roster: [entry(host, 0, 'host'), entry(a, 1, 'speaker'), entry(b, 2)],
      commitSecret: generateCommitSecret(),
      sealFor: [host, a, b],
      ...options,
    });
  /** The ratchet that follows `before`: members compute the commit secret, newcomers get it sealed. */
  const ratchet = (before: CreatedCommit, options: Partial<Parameters<typeof createCommit>[0]> = {}) =>
    createCommit({
      distributor: host,
      roomId: room.roomId,
      epoch: before.epoch + 1,
      kind: 'ratchet',
      previous: before.hash,
      locked: false,
      roster: [...before.roster, entry(c, 3)],
      commitSecret: ratchetCommitSecret(before.epochSecret),
      sealFor: [c],
      ...options,
    });
  /** Rewrites a commit's signed body and signs it again with the host's key: what only a hostile distributor could send. */
  const resign = (blob: string, mutate: (body: Uint8Array) => void, roomId = room.roomId) => {
    const bytes = fromBase64url(blob);
    const body = bytes.slice(0, bytes.length - 64);
    mutate(body);
    const transcript = concat(labelBytes('commit'), Uint8Array.of(0), utf8.encode(roomId), Uint8Array.of(0), body);
    return toBase64url(concat(body, sodium.crypto_sign_detached(transcript, host.signSecretKey)));
  };
  // Version, kind, flags (3), epoch (8), distributor (8), previous hash (32), roster length (4); then 11 bytes a member.
  const ROSTER_AT = 55;
  const ROSTER_ENTRY = 11;

  it('fresh: every sealed member opens the same epoch secret, bound to the commit; others cannot', () => {
    const commitSecret = generateCommitSecret();
    const created = fresh({ commitSecret });
    expect(created.skipped).toEqual([]);
    expect(created.epochSecret).toEqual(deriveEpochSecret(commitSecret, created.hash));
    expect(created.epochSecret).not.toEqual(commitSecret);
    expect(peekCommit(created.blob)).toEqual({ epoch: 1, kind: 'fresh', distributor: host.memberKeyId });
    for (const m of [host, a, b]) {
      const opened = open(created.blob, m);
      expect(opened.epochSecret).toEqual(created.epochSecret);
      expect(opened.hash).toEqual(created.hash);
      expect(opened).toMatchObject({ epoch: 1, kind: 'fresh', distributor: host.memberKeyId, locked: false, roster: created.roster, previous: NO_PREVIOUS_COMMIT, newRoomSecret: null });
    }
    expect(() => open(created.blob, c)).toThrow(/no key for me/);
    // A fresh commit ignores the epoch a member holds: only the sealed secret counts.
    expect(() => open(created.blob, c, { epochSecret: created.epochSecret, hash: created.hash })).toThrow(/no key for me/);
    const locked = fresh({ locked: true });
    expect(open(locked.blob, a).locked).toBe(true);
  });

  it('ratchet: holders of the previous epoch with its hash and sealed newcomers open it; a forked holder does not', () => {
    const first = fresh();
    const next = ratchet(first);
    expect(next.epochSecret).not.toEqual(first.epochSecret);
    expect(next.epochSecret).not.toEqual(ratchetCommitSecret(first.epochSecret));
    for (const m of [host, a, b]) {
      const opened = open(next.blob, m, { epochSecret: first.epochSecret, hash: first.hash });
      expect(opened.epochSecret).toEqual(next.epochSecret);
      expect(opened).toMatchObject({ epoch: 2, kind: 'ratchet', previous: first.hash, roster: next.roster });
    }
    expect(open(next.blob, c).epochSecret).toEqual(next.epochSecret);
    // Same secret, but a member who followed another commit (a fork) holds another transcript hash.
    const forked = fresh({ commitSecret: generateCommitSecret() });
    expect(() => open(next.blob, a, { epochSecret: first.epochSecret, hash: forked.hash })).toThrow(/no key for me/);
    expect(() => open(next.blob, a)).toThrow(/no key for me/);
  });

  it('fork: ratchets of the same epoch with different rosters, distributors or flags never share a key', () => {
    const first = fresh();
    const current = { epochSecret: first.epochSecret, hash: first.hash };
    // Nothing sealed (sealing is randomised), so these commits differ only where the fork makes them differ.
    const sideX = ratchet(first, { roster: [...first.roster, entry(c, 3)], sealFor: [] });
    const sideY = ratchet(first, { roster: [...first.roster, entry(d, 3)], sealFor: [] });
    const otherDistributor = ratchet(first, { distributor: a, sealFor: [] });
    const sameButLocked = ratchet(first, { locked: true, sealFor: [] });
    // Ed25519 is deterministic: the same commit again gives the same key, a control for the inequalities below.
    expect(ratchet(first, { sealFor: [] }).epochSecret).toEqual(sideX.epochSecret);
    const onX = open(sideX.blob, b, current);
    const onY = open(sideY.blob, a, current);
    expect(onX.epochSecret).not.toEqual(onY.epochSecret);
    expect(open(otherDistributor.blob, b, current).epochSecret).not.toEqual(onX.epochSecret);
    expect(open(sameButLocked.blob, b, current).epochSecret).not.toEqual(onX.epochSecret);

    // A's frames under side X's key do not authenticate for side Y's listeners, whose key for the same KID differs.
    const kid = makeKid(2, 1);
    const sender = new SframeSender({ kid, baseKey: deriveSenderBaseKey(onX.epochSecret, 1, DEFAULT_CIPHER_SUITE) });
    const frame = sender.encrypt(utf8.encode('only for side X'));
    const listenerX = new SframeReceiver();
    listenerX.addKey(kid, deriveSenderBaseKey(onX.epochSecret, 1, DEFAULT_CIPHER_SUITE));
    const listenerY = new SframeReceiver();
    listenerY.addKey(kid, deriveSenderBaseKey(onY.epochSecret, 1, DEFAULT_CIPHER_SUITE));
    expect(() => listenerY.decrypt(frame)).toThrow(SframeAuthError);
    expect(utf8.decode(listenerX.decrypt(frame))).toBe('only for side X');
  });

  it('any changed byte, another room or another signer fails', () => {
    const created = ratchet(fresh(), { sealFor: [c, d] });
    const bytes = fromBase64url(created.blob);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 0x01;
      expect(() => open(toBase64url(tampered), c), `byte ${i}`).toThrow(CommitError);
    }
    expect(() => open(toBase64url(bytes.subarray(0, bytes.length - 1)), c)).toThrow(CommitError);
    expect(() => open(`${created.blob}A`, c)).toThrow(CommitError);
    expect(() => open(created.blob, c, null, 'y'.repeat(22))).toThrow(/not signed/);
    expect(() => openCommit({ blob: created.blob, roomId: room.roomId, signKeyOf: () => b.signPublicKey, me: c, current: null })).toThrow(/not signed/);
    expect(() => openCommit({ blob: created.blob, roomId: room.roomId, signKeyOf: () => null, me: c, current: null })).toThrow(/may distribute/);
    // The same body signed for another room id is refused in this one.
    expect(() => open(resign(created.blob, () => {}, 'y'.repeat(22)), c)).toThrow(/not signed/);
    expect(open(created.blob, c).epochSecret).toEqual(created.epochSecret);
  });

  it('refuses duplicate members, duplicate sender indexes and two hosts, whether building or opening', () => {
    expect(() => fresh({ roster: [entry(host, 0, 'host'), entry(a, 1), entry(a, 2)] })).toThrow(/listed twice/);
    expect(() => fresh({ roster: [entry(host, 0, 'host'), entry(a, 1), entry(b, 1)] })).toThrow(/sender index is given twice/);
    expect(() => fresh({ roster: [entry(host, 0, 'host'), entry(a, 1, 'host')] })).toThrow(/more than one host/);
    expect(() => fresh({ roster: [entry(host, 65536, 'host')] })).toThrow(/out of range/);
    expect(() => fresh({ roster: [entry(host, -1, 'host')] })).toThrow(CommitError);

    const created = fresh();
    const a1 = ROSTER_AT + ROSTER_ENTRY; // a at index 1, b at index 2
    const b2 = ROSTER_AT + 2 * ROSTER_ENTRY;
    // The helper itself makes commits that open, and a legal change (b becomes a speaker) still opens.
    expect(open(resign(created.blob, () => {}), a).epochSecret).toEqual(created.epochSecret);
    expect(open(resign(created.blob, (body) => (body[b2 + 10] = ROLES.indexOf('speaker'))), a).roster[2]!.role).toBe('speaker');
    expect(() => open(resign(created.blob, (body) => body.set(body.slice(a1, a1 + 8), b2)), a)).toThrow(/listed twice/);
    expect(() => open(resign(created.blob, (body) => body.set(body.slice(a1 + 8, a1 + 10), b2 + 8)), a)).toThrow(/sender index is given twice/);
    expect(() => open(resign(created.blob, (body) => (body[b2 + 10] = ROLES.indexOf('host'))), a)).toThrow(/more than one host/);
    expect(() => open(resign(created.blob, (body) => (body[b2 + 10] = ROLES.length)), a)).toThrow(/unknown role/);
  });

  it('skips recipients whose box key is of small order; the others still open the commit', () => {
    const broken = SMALL_ORDER_POINTS.map((point) => ({ ...generateIdentity(), boxPublicKey: fromHex(point) }));
    const created = fresh({
      roster: [entry(host, 0, 'host'), entry(a, 1), ...broken.map((m, i) => entry(m, i + 2))],
      sealFor: [host, ...broken.slice(0, 3), a, ...broken.slice(3)],
    });
    expect(created.skipped).toEqual(broken.map((m) => m.memberKeyId));
    for (const m of [host, a]) expect(open(created.blob, m).epochSecret).toEqual(created.epochSecret);
    for (const m of broken) expect(() => open(created.blob, m)).toThrow(/no key for me/);
    expect(canSealTo(a.boxPublicKey)).toBe(true);
    for (const point of SMALL_ORDER_POINTS) expect(canSealTo(fromHex(point))).toBe(false);
  });

  it('carries a rotated room secret to holders of the commit secret, bound to that secret', () => {
    const next = generateRoomSecret();
    const first = fresh({ newRoomSecret: next });
    expect(first.newRoomSecret).toEqual(next);
    for (const m of [host, a, b]) expect(open(first.blob, m).newRoomSecret).toEqual(next);
    // A ratchet's rotation is read by a holder of the previous epoch, who has no sealed entry.
    const rotated = ratchet(first, { newRoomSecret: next });
    expect(open(rotated.blob, a, { epochSecret: first.epochSecret, hash: first.hash }).newRoomSecret).toEqual(next);
    expect(open(rotated.blob, c).newRoomSecret).toEqual(next);
    // The same rotation moved into a commit with another commit secret, even signed by the distributor, does not open.
    const other = fresh({ newRoomSecret: generateRoomSecret() });
    const rotation = fromBase64url(first.blob).slice(-64 - 72, -64);
    const transplanted = resign(other.blob, (body) => body.set(rotation, body.length - 72));
    expect(() => open(transplanted, a)).toThrow(/rotated room secret does not authenticate/);
    expect(open(resign(other.blob, () => {}), a).newRoomSecret).toEqual(other.newRoomSecret);
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
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(deriveEpochSecret(s, NO_PREVIOUS_COMMIT), 0, 4));
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 65535 }), (epoch, senderIndex) => {
      expect(parseKid(makeKid(epoch, senderIndex))).toEqual({ epoch, senderIndex });
    }));
    expect(() => makeKid(1, 65536)).toThrow(RangeError);
  });
});

describe('stage decisions', () => {
  const room = deriveRoomKeys(generateRoomSecret());
  let host: Identity, a: Identity, c: Identity;
  beforeAll(() => {
    [host, a, c] = [generateIdentity(), generateIdentity(), generateIdentity()];
  });
  const keysOf = (...signers: Identity[]) => (memberKeyId: string) => signers.find((m) => m.memberKeyId === memberKeyId)?.signPublicKey ?? null;
  const verify = (blob: string, roomId = room.roomId) => verifyDecision({ roomId, blob, signKeyOf: keysOf(host, a) });
  const invite = (actor: Identity = host, roomId = room.roomId) => createDecision({ roomId, actor, action: 'invite', target: a.memberKeyId, epoch: 3 });
  const accept = (embedded: string) => createDecision({ roomId: room.roomId, actor: a, action: 'accept', target: host.memberKeyId, epoch: 3, embedded });

  it('round-trip for every action, each with its own id', () => {
    for (const action of DECISION_ACTIONS) {
      const target = action === 'lock' || action === 'unlock' ? null : a.memberKeyId;
      const embedded = action === 'accept' ? invite() : undefined;
      const blob = createDecision({ roomId: room.roomId, actor: host, action, target, epoch: 7, embedded });
      const decision = verify(blob);
      expect(decision).toMatchObject({ action, actor: host.memberKeyId, target, epoch: 7, blob });
      expect(decision.id).toMatch(/^[0-9a-f]{32}$/);
      expect(decision.embedded === null).toBe(action !== 'accept');
      expect(verify(createDecision({ roomId: room.roomId, actor: host, action, target, epoch: 7, embedded })).id).not.toBe(decision.id);
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
    const byStranger = createDecision({ roomId: room.roomId, actor: c, action: 'mute', target: a.memberKeyId, epoch: 3 });
    expect(() => verify(byStranger)).toThrow(/does not know/);
    // c names the host as its actor but can only sign with its own key.
    const impersonation = createDecision({ roomId: room.roomId, actor: { ...c, memberKeyId: host.memberKeyId }, action: 'kick', target: a.memberKeyId, epoch: 3 });
    expect(() => verify(impersonation)).toThrow(/bad signature/);
  });

  it('refuses an acceptance of a forged invitation, and nesting deeper than one', () => {
    expect(() => verify(accept(invite({ ...c, memberKeyId: host.memberKeyId })))).toThrow(DecisionError);
    expect(() => verify(accept(invite(c)))).toThrow(/does not know/);
    expect(() => verify(accept(invite(host, 'y'.repeat(22))))).toThrow(/bad signature/);
    const acceptance = accept(invite());
    expect(() => verify(accept(acceptance))).toThrow(/nested too deep/);
    expect(() => createDecision({ roomId: room.roomId, actor: a, action: 'accept', target: null, epoch: 3, embedded: toBase64url(new Uint8Array(513)) })).toThrow(RangeError);
    expect(() => createDecision({ roomId: room.roomId, actor: a, action: 'mute', target: null, epoch: -1 })).toThrow(RangeError);
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

