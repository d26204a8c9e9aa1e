import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bigEndian,
  concat,
  createAnnouncement,
  deriveRoomKeys,
  fromBase64url,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  lineageCode,
  randomBytes,
  roomMessageKey,
  sealMetadata,
  toBase64url,
  utf8,
  type RoomKeys,
} from '../../crypto/index.ts';
import { Membership, type VerifiedMember } from '../../client/src/session/membership.ts';
import { RoomLife } from '../../client/src/session/room-life.ts';

// A colluding member forks a newcomer onto a lineage of its own that names the real host (so the fingerprint, made
// from the link and the host's key, is unchanged), and bridges what the real room signs into it. These are the page's
// own rules (membership.ts, room-life.ts) with real crypto, the relay's part played by handing blobs over by hand.

beforeAll(() => initCrypto());

interface Person {
  name: string;
  announcement: string;
  m: Membership;
  life: RoomLife;
  id: string;
}

function person(keys: RoomKeys, name: string): Person {
  const identity = generateIdentity();
  const announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });
  const m = new Membership(keys, identity);
  const life = new RoomLife({
    roomId: () => keys.roomId,
    identity,
    signKeyOf: (id) => signKeys.get(id) ?? null,
    roleOf: (id) => m.roleOf(id),
    fresh: () => true,
  });
  signKeys.set(identity.memberKeyId, identity.signPublicKey);
  return { name, announcement, m, life, id: identity.memberKeyId };
}
/** Every member's verified signing key: the announcements the relay shows everyone verify. */
const signKeys = new Map<string, Uint8Array>();

const v = (p: Person, viewer: Membership): VerifiedMember => viewer.verify(`p-${p.name}`, p.announcement)!;

function take(p: Person, issued: { blob: string; packages: { memberKeyId: string; package: string }[] }, present: Set<string>): void {
  const state = p.m.accept(issued.blob, issued.packages.find((x) => x.memberKeyId === p.id)?.package ?? null, present);
  p.life.setEpoch(state.epoch, state.secret, state.hash);
}

/** What the colluder does with a message it can open in the real room: the same signed plaintext, sealed for the fork. */
function bridge(blob: string, from: { roomId: string; epoch: number; secret: Uint8Array; hash: Uint8Array }, to: { secret: Uint8Array; hash: Uint8Array }): string {
  const bytes = fromBase64url(blob);
  const aad = (hash: Uint8Array) => concat(utf8.encode('teahouse/v1 room-message'), Uint8Array.of(0), utf8.encode(from.roomId), Uint8Array.of(0), bigEndian(from.epoch, 8), hash);
  const padded = xchacha20poly1305(roomMessageKey(from.secret), bytes.subarray(9, 33), aad(from.hash)).decrypt(bytes.subarray(33));
  const nonce = randomBytes(24);
  return toBase64url(concat(bytes.subarray(0, 9), nonce, xchacha20poly1305(roomMessageKey(to.secret), nonce, aad(to.hash)).encrypt(padded)));
}

describe('a colluding member forks a newcomer while naming the real host', () => {
  it('the newcomer plays nothing, opens no bridged notice, chat or decision, and reads another lineage code', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = person(keys, 'Host');
    const mallory = person(keys, 'Mallory');
    const alice = person(keys, 'Alice');
    const newcomer = person(keys, 'Newcomer');
    const room = [host, mallory, alice];
    const present = new Set([...room, newcomer].map((p) => p.id));
    for (const a of [...room, newcomer]) for (const b of [...room, newcomer]) a.m.verify(`p-${b.name}`, b.announcement);
    // The real room: Mallory is a speaker (a stage member may key a newcomer's first epoch), Alice a listener.
    const first = host.m.issueFresh(
      room.map((p) => v(p, host.m)),
      {
        roles: new Map([
          [host.id, 'host'],
          [mallory.id, 'speaker'],
        ]),
      },
    );
    host.life.setEpoch(first.epoch, first.secret, first.hash);
    for (const p of [mallory, alice]) take(p, first, present);
    const real = mallory.m.current!;

    // Mallory's own lineage for the newcomer: a fresh commit under the same epoch number, the real host as its host.
    const forger = new Membership(keys, mallory.m.identity);
    forger.raiseNextEpoch(real.epoch);
    const fork = forger.issueFresh([v(host, forger), v(newcomer, forger)], {
      roles: new Map([
        [host.id, 'host'],
        [mallory.id, 'speaker'],
      ]),
    });
    take(newcomer, fork, present);
    const forked = newcomer.m.current!;
    expect(forked.epoch).toBe(real.epoch);
    expect(forked.stage.find((m) => m.role === 'host')?.memberKeyId).toBe(host.id);

    // What the real room signs: the host's recording notice, Alice's chat, the host's decision.
    const notice = host.life.recordingNotice(false);
    const chat = alice.life.chat('said in the real room');
    const decision = host.m.decide('mute', mallory.id);
    const from = { roomId: keys.roomId, epoch: real.epoch, secret: real.secret, hash: real.hash };
    const to = { secret: forked.secret, hash: forked.hash };
    // The control: in the real room each of them holds.
    expect(() => alice.life.receive(notice)).not.toThrow();
    expect(alice.m.check(decision).decision.action).toBe('mute');

    // Passed on as they are, or sealed again under the fork's key: nothing opens, nothing plays.
    for (const blob of [notice, chat, bridge(notice, from, to), bridge(chat, from, to)]) expect(() => newcomer.life.receive(blob)).toThrow();
    expect(() => newcomer.m.check(decision)).toThrow(/bad signature/);
    expect(newcomer.life.mayPlay(forked.stage)).toBe(false);
    expect(newcomer.life.messages).toEqual([]);
    expect(newcomer.life.recording).toBeNull();

    // The codes people compare: the fork follows Mallory's commits, the room the host's.
    expect(forked.lineage).toBe(lineageCode(mallory.id));
    expect(forked.lineage).not.toBe(real.lineage);
    expect(forked.code).not.toBe(real.code);
  });
});

describe('lineage code', () => {
  it('holds still through every epoch one distributor makes and changes at a hand-over', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = person(keys, 'Host');
    const mod = person(keys, 'Mod');
    const alice = person(keys, 'Alice');
    const everyone = [host, mod, alice];
    for (const a of everyone) for (const b of everyone) a.m.verify(`p-${b.name}`, b.announcement);
    const present = new Set(everyone.map((p) => p.id));
    const first = host.m.issueFresh([v(host, host.m), v(mod, host.m)], {
      roles: new Map([
        [host.id, 'host'],
        [mod.id, 'moderator'],
      ]),
    });
    take(mod, first, present);
    const joined = host.m.issueRatchet([v(alice, host.m)]);
    for (const p of [mod, alice]) take(p, joined, present);
    // Alice came in on a ratchet, and reads the same lineage code as those who saw the fresh epoch.
    expect(new Set([first.lineage, joined.lineage, mod.m.current!.lineage, alice.m.current!.lineage]).size).toBe(1);
    expect(joined.code).not.toBe(first.code);
    const again = host.m.issueFresh(everyone.map((p) => v(p, host.m)));
    expect(again.lineage).toBe(first.lineage);
    // The host leaves: the moderator takes over with a fresh epoch of its own lineage.
    const without = new Set([mod.id, alice.id]);
    for (const p of [mod, alice]) take(p, again, present);
    expect(mod.m.isDistributor(without)).toBe(true);
    const handedOver = mod.m.issueFresh([v(mod, mod.m), v(alice, mod.m)]);
    take(alice, handedOver, without);
    expect(alice.m.current!.lineage).toBe(handedOver.lineage);
    expect(handedOver.lineage).not.toBe(first.lineage);
    expect(handedOver.lineage).toMatch(/^\d{3} \d{3}$/);
  });
});
