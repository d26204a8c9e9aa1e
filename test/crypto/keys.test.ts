import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AnnouncementError,
  buildRoomLink,
  CommitError,
  createAnnouncement,
  createCommit,
  deriveRoomKeys,
  deriveSenderBaseKey,
  encodeRoomSecret,
  fromBase64url,
  generateEpochSecret,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  makeKid,
  MetadataError,
  METADATA_BUCKET,
  openCommit,
  openMetadata,
  parseKid,
  parseRoomLink,
  parseRoomSecret,
  ratchetEpochSecret,
  RoomLinkError,
  ROOM_ID_PATTERN,
  sealMetadata,
  toBase64url,
  verifyAnnouncement,
  type Identity,
} from '../../crypto/index.ts';

beforeAll(() => initCrypto());

function flipBit(blob: string, position: number): string {
  const bytes = fromBase64url(blob);
  bytes[position % bytes.length]! ^= 1 << (position % 8);
  return toBase64url(bytes);
}

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
});

describe('epoch commits', () => {
  const room = deriveRoomKeys(generateRoomSecret());
  let host: Identity, a: Identity, b: Identity, c: Identity;
  beforeAll(() => {
    [host, a, b, c] = [generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()];
  });
  const open = (blob: string, me: Identity, currentEpoch: number | null = null, currentSecret: Uint8Array | null = null) =>
    openCommit({ blob, roomId: room.roomId, distributorSignPublicKey: host.signPublicKey, me, currentEpoch, currentSecret });

  it('fresh: every sealed member gets the secret; others cannot', () => {
    const secret = generateEpochSecret();
    const members = [host, a, b].map((m, i) => ({ memberKeyId: m.memberKeyId, senderIndex: i }));
    const blob = createCommit({ distributor: host, roomId: room.roomId, epoch: 1, kind: 'fresh', members, epochSecret: secret, sealFor: [host, a, b] });
    for (const m of [host, a, b]) {
      const opened = open(blob, m);
      expect(opened.epochSecret).toEqual(secret);
      expect(opened.members).toEqual(members);
      expect(opened).toMatchObject({ epoch: 1, kind: 'fresh', distributor: host.memberKeyId, newRoomSecret: null });
    }
    expect(() => open(blob, c)).toThrow(/no key for me/);
  });

  it('ratchet: members step forward themselves, the newcomer gets only the new secret', () => {
    const s1 = generateEpochSecret();
    const s2 = ratchetEpochSecret(s1);
    expect(s2).not.toEqual(s1);
    const blob = createCommit({
      distributor: host, roomId: room.roomId, epoch: 2, kind: 'ratchet',
      members: [host, a, c].map((m, i) => ({ memberKeyId: m.memberKeyId, senderIndex: i })), epochSecret: s2, sealFor: [c],
    });
    expect(open(blob, a, 1, s1).epochSecret).toEqual(s2);
    expect(open(blob, c).epochSecret).toEqual(s2);
    // A member two epochs behind cannot ratchet across a gap.
    expect(() => open(blob, a, 0, s1)).toThrow(CommitError);
  });

  it('rejects a non-increasing epoch, another room, another signer and any flipped bit', () => {
    const secret = generateEpochSecret();
    const blob = createCommit({ distributor: host, roomId: room.roomId, epoch: 5, kind: 'fresh', members: [], epochSecret: secret, sealFor: [a] });
    expect(() => open(blob, a, 5, secret)).toThrow(/not newer/);
    expect(() => openCommit({ blob, roomId: 'y'.repeat(22), distributorSignPublicKey: host.signPublicKey, me: a, currentEpoch: null, currentSecret: null })).toThrow(/not signed/);
    expect(() => openCommit({ blob, roomId: room.roomId, distributorSignPublicKey: b.signPublicKey, me: a, currentEpoch: null, currentSecret: null })).toThrow(/not signed/);
    fc.assert(fc.property(fc.nat(), (p) => {
      expect(() => open(flipBit(blob, p), a)).toThrow(CommitError);
    }), { numRuns: 200 });
  });

  it('carries a rotated room secret readable with the epoch secret', () => {
    const next = generateRoomSecret();
    const blob = createCommit({ distributor: host, roomId: room.roomId, epoch: 9, kind: 'fresh', members: [], epochSecret: generateEpochSecret(), sealFor: [a], newRoomSecret: next });
    expect(open(blob, a).newRoomSecret).toEqual(next);
  });

  it('sender base keys differ per index, epoch and suite; KIDs carry epoch and index', () => {
    const s = generateEpochSecret();
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(s, 1, 4));
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(s, 0, 1));
    expect(deriveSenderBaseKey(s, 0, 4)).not.toEqual(deriveSenderBaseKey(ratchetEpochSecret(s), 0, 4));
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 65535 }), (epoch, senderIndex) => {
      expect(parseKid(makeKid(epoch, senderIndex))).toEqual({ epoch, senderIndex });
    }));
    expect(() => makeKid(1, 65536)).toThrow(RangeError);
  });
});
