// Hybrid pairwise keys in Membership: members offer to stage members' KEM keys; no offer, no key; the relay can neither forge nor downgrade.
import { beforeAll, describe, expect, it } from 'vitest';
import { CommitError, deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, toBase64url, type RoomKeys } from '../../crypto/index.ts';
import { Membership, type VerifiedMember } from '../../client/src/session/membership.ts';

beforeAll(() => initCrypto());

interface Person {
  name: string;
  m: Membership;
  id: string;
  announcement: string;
}

function person(keys: RoomKeys, name: string, kem: boolean): Person {
  const m = new Membership(keys, generateIdentity());
  return { name, m, id: m.me, announcement: m.announce(sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }), kem) };
}

const verified = (viewer: Person, p: Person): VerifiedMember => viewer.m.verify(`p-${p.name}`, p.announcement)!;
const ids = (...people: Person[]) => new Set(people.map((p) => p.id));
const pkgOf = (issued: { packages: { memberKeyId: string; package: string }[] }, p: Person) => issued.packages.find((x) => x.memberKeyId === p.id)?.package ?? null;

/** A host publishing its KEM key and two listeners that verified it; who offers is up to each test. */
function room() {
  const keys = deriveRoomKeys(generateRoomSecret());
  const host = person(keys, 'Host', true);
  const a = person(keys, 'A', false);
  const b = person(keys, 'B', false);
  for (const x of [host, a, b]) for (const y of [host, a, b]) x.m.verify(`p-${y.name}`, y.announcement);
  return { keys, host, a, b };
}

describe('hybrid pairwise keys in Membership', () => {
  it('members offer to the host; the host keys each member whose offer it took, and skips (reports) the others', () => {
    const { host, a, b } = room();
    expect(verified(a, host).kemPublicKey).not.toBeNull();
    expect(verified(host, a).kemPublicKey).toBeNull();
    // Listeners publish no KEM key: nobody offers to them.
    expect(host.m.offerTo(verified(host, a))).toBeNull();
    expect(host.m.takeOffer(a.id, a.m.offerTo(verified(a, host))!)).toBe('taken');
    const issued = host.m.issueFresh([verified(host, host), verified(host, a), verified(host, b)]);
    expect(issued.skipped).toEqual([b.id]);
    expect(a.m.accept(issued.blob, pkgOf(issued, a), ids(host, a)).secret).toEqual(issued.secret);
    // b's offer arrives: the next commit keys it too.
    expect(host.m.takeOffer(b.id, b.m.offerTo(verified(b, host))!)).toBe('taken');
    const next = host.m.issueFresh([verified(host, host), verified(host, a), verified(host, b)]);
    expect(next.skipped).toEqual([]);
    expect(b.m.accept(next.blob, pkgOf(next, b), ids(host, a, b)).secret).toEqual(next.secret);
    expect(a.m.accept(next.blob, pkgOf(next, a), ids(host, a, b)).secret).toEqual(next.secret);
  });

  it("a member's own identity and the link, without its KEM secret, open none of its packages", () => {
    const { keys, host, a } = room();
    host.m.takeOffer(a.id, a.m.offerTo(verified(a, host))!);
    const issued = host.m.issueFresh([verified(host, host), verified(host, a)]);
    // Every classical secret of a (its X25519 and Ed25519 keys) and the link; its offer made afresh, not the one sent.
    const clone = new Membership(keys, a.m.identity);
    clone.offerTo(clone.verify('p-Host', host.announcement)!);
    expect(() => clone.accept(issued.blob, pkgOf(issued, a), ids(host, a))).toThrow(CommitError);
    // Or no offer at all: then no key to try.
    const bare = new Membership(keys, a.m.identity);
    bare.verify('p-Host', host.announcement);
    expect(() => bare.accept(issued.blob, pkgOf(issued, a), ids(host, a))).toThrow(/no pairwise key/);
  });

  it('the relay cannot key a member with an offer of its own, nor move one to another member or room', () => {
    const { host, a, b } = room();
    const offer = a.m.offerTo(verified(a, host))!;
    // a's offer presented as b's: the signature is a's.
    expect(host.m.takeOffer(b.id, offer)).toBeNull();
    // An offer made by someone who is not a verified member of the room (the relay itself) verifies under no key.
    const outsider = person(deriveRoomKeys(generateRoomSecret()), 'Outsider', false);
    expect(host.m.takeOffer(outsider.id, offer)).toBeNull();
    // Altered, truncated, or not base64url.
    const bytes = Buffer.from(offer, 'base64url');
    bytes[10]! ^= 1;
    expect(host.m.takeOffer(a.id, toBase64url(bytes))).toBeNull();
    expect(host.m.takeOffer(a.id, offer.slice(0, -4))).toBeNull();
    expect(host.m.takeOffer(a.id, '!!')).toBeNull();
    // None of these keyed a or b.
    const issued = host.m.issueFresh([verified(host, host), verified(host, a), verified(host, b)]);
    expect(issued.skipped.sort()).toEqual([a.id, b.id].sort());
  });

  it("no downgrade: the host's announcement without its KEM key, shown by the relay, keys nothing that opens", () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const hostMembership = new Membership(keys, generateIdentity());
    const profile = sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Host' });
    const plain = hostMembership.announce(profile, false);
    const withKem = hostMembership.announce(profile, true);
    const host: Person = { name: 'Host', m: hostMembership, id: hostMembership.me, announcement: withKem };
    const a = person(keys, 'A', false);
    const c = person(keys, 'C', false);
    for (const x of [a, c]) hostMembership.verify(`p-${x.name}`, x.announcement);
    // a saw the KEM key and offered; c is shown the host's older announcement only, and makes no offer.
    a.m.verify('p-Host', withKem);
    host.m.takeOffer(a.id, a.m.offerTo(verified(a, host))!);
    c.m.verify('p-Host', plain);
    expect(c.m.offerTo(c.m.verify('p-Host', plain)!)).toBeNull();
    const issued = host.m.issueFresh([verified(host, host), verified(host, a), verified(host, c)]);
    // The host published its KEM key, so it seals only under hybrid keys: c, lacking an offer, is skipped, not keyed classically.
    expect(issued.skipped).toEqual([c.id]);
    expect(a.m.accept(issued.blob, pkgOf(issued, a), ids(host, a)).secret).toEqual(issued.secret);
    // And once a member has seen the KEM key, the older announcement no longer verifies for it.
    expect(a.m.verify('p-Host', plain)).toBeNull();
  });

  it('the KEM key is signed and MACed with the rest of the announcement: the relay cannot swap in its own', () => {
    const { host, a } = room();
    const bytes = Buffer.from(host.announcement, 'base64url');
    // The KEM key is the announcement's last 1,216 bytes before the signature and MAC.
    bytes[bytes.length - 96 - 10]! ^= 1;
    const fresh = new Membership(a.m.keys, generateIdentity());
    expect(fresh.verify('p-Host', toBase64url(bytes))).toBeNull();
    expect(fresh.verify('p-Host', host.announcement)!.kemPublicKey).toEqual(host.m.kem.publicKey);
  });

  it('a KEM public key that cannot be used is reported, never thrown', () => {
    const { host, a } = room();
    const broken = { ...verified(a, host), kemPublicKey: new Uint8Array(1215) };
    expect(a.m.offerTo(broken)).toBeNull();
  });
});
