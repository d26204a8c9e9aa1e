import { beforeAll, describe, expect, it } from 'vitest';
import {
  createAnnouncement,
  createCommit,
  DEFAULT_CIPHER_SUITE,
  deriveRoomKeys,
  deriveSenderBaseKey,
  generateCommitSecret,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  makeKid,
  MAX_REMOVED,
  ratchetCommitSecret,
  sealMetadata,
  SframeReceiver,
  SframeSender,
  type Identity,
  type RoomKeys,
  type RosterEntry,
} from '../../crypto/index.ts';
import { EPOCH_LIMITS, Membership, MembershipError, type EpochState, type VerifiedMember } from '../../client/src/session/membership.ts';

beforeAll(() => initCrypto());

interface Person {
  name: string;
  identity: Identity;
  announcement: string;
  m: Membership;
  id: string;
}

function person(keys: RoomKeys, name: string): Person {
  const identity = generateIdentity();
  const sealedProfile = sealMetadata(keys.metaKey, keys.roomId, 'profile', { name });
  const announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile });
  return { name, identity, announcement, m: new Membership(keys, identity), id: identity.memberKeyId };
}

/** Every member verifies every announcement, as each does from the relay's snapshots. */
function meet(people: Person[]): void {
  for (const a of people) for (const b of people) a.m.verify(`p-${b.name}`, b.announcement);
}

const v = (p: Person, viewer: Person): VerifiedMember => viewer.m.verify(`p-${p.name}`, p.announcement)!;

/** What the relay hands one member of an issued commit: the header, and that member's own package if it has one. */
function deliver(issued: { blob: string; packages: { memberKeyId: string; package: string }[] }, to: Person, present: Set<string>) {
  return to.m.accept(issued.blob, issued.packages.find((p) => p.memberKeyId === to.id)?.package ?? null, present);
}
const ids = (...people: Person[]) => new Set(people.map((p) => p.id));

/** The host starts a room with everyone named: fresh epoch 1, roles as given, and everyone accepts it. */
function started(names: string[], roles: Record<string, 'moderator' | 'speaker'> = {}) {
  const keys = deriveRoomKeys(generateRoomSecret());
  const people = names.map((n) => person(keys, n));
  meet(people);
  const [host, ...others] = people as [Person, ...Person[]];
  const roleMap = new Map<string, 'host' | 'moderator' | 'speaker'>([[host.id, 'host']]);
  for (const p of others) if (roles[p.name]) roleMap.set(p.id, roles[p.name]!);
  const first = host.m.issueFresh(
    people.map((p) => v(p, host)),
    { roles: roleMap },
  );
  for (const p of others) deliver(first, p, ids(...people));
  const by = Object.fromEntries(people.map((p) => [p.name, p])) as Record<string, Person>;
  return { keys, people, by, host, first };
}

/** Whether a frame sealed under one member's epoch state authenticates under another's keys for the same KID. */
async function opensAcross(sender: EpochState, receiver: EpochState, senderIndex: number): Promise<boolean> {
  const kid = makeKid(sender.epoch, senderIndex);
  const frame = await new SframeSender({ kid, baseKey: deriveSenderBaseKey(sender.secret, senderIndex, DEFAULT_CIPHER_SUITE) }).encrypt(new Uint8Array(40));
  const rx = new SframeReceiver();
  rx.addKey(kid, deriveSenderBaseKey(receiver.secret, senderIndex, DEFAULT_CIPHER_SUITE), DEFAULT_CIPHER_SUITE);
  try {
    await rx.decrypt(frame);
    return true;
  } catch {
    return false;
  }
}

describe('Membership: keys follow the signed stage', () => {
  it('start, join (ratchet), leave (fresh): everyone present agrees and reads one epoch code; the leaver is left behind', () => {
    const { keys, people, by, host, first } = started(['Host', 'Alice', 'Bob']);
    expect(first).toMatchObject({ epoch: 1, kind: 'fresh', myIndex: 0 });
    expect(by.Alice!.m.current!.code).toBe(first.code);
    expect(by.Alice!.m.roleOf(host.id)).toBe('host');
    expect(by.Alice!.m.roleOf(by.Bob!.id)).toBe('listener');

    const carol = person(keys, 'Carol');
    meet([...people, carol]);
    const joined = host.m.issueRatchet([v(carol, host)]);
    const present = ids(...people, carol);
    for (const p of [by.Alice!, by.Bob!]) expect(deliver(joined, p, present).secret).toEqual(joined.secret);
    // A listener holds the keys but no sender index: only the stage sends.
    expect(deliver(joined, carol, present)).toMatchObject({ epoch: 2, kind: 'ratchet', myIndex: null, code: joined.code });
    expect(joined.packages.map((p) => p.memberKeyId)).toEqual([carol.id]);

    const left = host.m.issueFresh([v(host, host), v(by.Alice!, host), v(carol, host)]);
    expect(deliver(left, by.Alice!, ids(host, by.Alice!, carol)).secret).toEqual(left.secret);
    expect(() => deliver(left, by.Bob!, ids(host, by.Alice!, carol))).toThrow(/no key for me/);
    expect(by.Bob!.m.current!.epoch).toBe(2);
  });

  it('a relay telling two halves different stories splits the room into lineages that share no key and read different codes', async () => {
    const { by, host } = started(['Host', 'Mod', 'Alice', 'Bob'], { Mod: 'moderator', Bob: 'speaker' });
    const mod = by.Mod!;
    const alice = by.Alice!;
    const bob = by.Bob!;
    // Side A (Mod, Alice) is told the host left; side B (Host, Bob) is told nothing.
    const sideA = ids(mod, alice);
    const sideB = ids(host, bob);
    expect(mod.m.isDistributor(sideA)).toBe(true);
    expect(alice.m.expectedDistributor(sideA)).toBe(mod.id);

    // Ratcheting on from the host's epoch is what made the old fork share a key: a new distributor must go fresh.
    const base = mod.m.current!;
    const sneaky = createCommit({
      distributor: mod.identity,
      roomId: mod.m.keys.roomId,
      linkKey: mod.m.keys.linkKey,
      epoch: base.epoch + 1,
      kind: 'ratchet',
      previous: base.hash,
      locked: false,
      members: [host.id, mod.id, alice.id, bob.id],
      stage: base.stage,
      commitSecret: ratchetCommitSecret(base.secret),
      packageFor: [],
    });
    expect(() => deliver(sneaky, alice, sideA)).toThrow(/fresh epoch/);
    // Its own membership refuses to ratchet an epoch it did not make, for the same reason.
    expect(() => mod.m.issueRatchet([])).toThrow(MembershipError);

    const aCommit = mod.m.issueFresh([v(mod, mod), v(alice, mod)]);
    const aState = deliver(aCommit, alice, sideA);
    const bCommit = host.m.issueRatchet([], { roles: new Map([[bob.id, 'listener']]) });
    const bState = deliver(bCommit, bob, sideB);

    expect(aState.code).toBe(aCommit.code);
    expect(bState.code).toBe(bCommit.code);
    expect(aState.code).not.toBe(bState.code);
    expect(aState.secret).not.toEqual(bState.secret);
    for (const index of [0, 1, 2, 3]) {
      expect(await opensAcross(aState, { ...bState, epoch: aState.epoch }, index)).toBe(false);
      expect(await opensAcross(bState, { ...aState, epoch: bState.epoch }, index)).toBe(false);
      expect(await opensAcross(aState, aCommit, index)).toBe(true);
    }
  });

  it('two distributors ratcheting the same epoch to the same stage and members still derive different secrets', () => {
    const { by, host } = started(['Host', 'Mod', 'Alice'], { Mod: 'moderator' });
    const base = host.m.current!;
    const commit = (distributor: Identity) =>
      createCommit({
        distributor,
        roomId: host.m.keys.roomId,
        linkKey: host.m.keys.linkKey,
        epoch: base.epoch + 1,
        kind: 'ratchet',
        previous: base.hash,
        locked: false,
        members: [...base.members!, 'aa'.repeat(8)],
        stage: base.stage,
        commitSecret: ratchetCommitSecret(base.secret),
        packageFor: [],
      });
    expect(commit(host.identity).epochSecret).not.toEqual(commit(by.Mod!.identity).epochSecret);
    expect(commit(host.identity).epochSecret).toEqual(commit(host.identity).epochSecret);
  });

  it('a ratchet cannot hand a sender index to someone else, change one, or follow a commit the member never saw', () => {
    const { by, host } = started(['Host', 'Alice', 'Bob'], { Bob: 'speaker' });
    const alice = by.Alice!;
    const base = host.m.current!;
    const present = ids(host, alice, by.Bob!);
    const craft = (stage: RosterEntry[], previous = base.hash) =>
      createCommit({
        distributor: host.identity,
        roomId: host.m.keys.roomId,
        linkKey: host.m.keys.linkKey,
        epoch: base.epoch + 1,
        kind: 'ratchet',
        previous,
        locked: false,
        members: base.members!,
        stage,
        commitSecret: ratchetCommitSecret(base.secret),
        packageFor: [],
      }).blob;
    const bobIndex = base.stage.find((m) => m.memberKeyId === by.Bob!.id)!.senderIndex;
    const withoutBob = base.stage.filter((m) => m.memberKeyId !== by.Bob!.id);
    // Bob leaves the stage and Alice comes on with his index: two people would share one sender key and counters.
    expect(() => alice.m.accept(craft([...withoutBob, { memberKeyId: alice.id, senderIndex: bobIndex, role: 'speaker' }]), null, present)).toThrow(/issued before/);
    expect(() => alice.m.accept(craft(base.stage.map((m) => (m.memberKeyId === by.Bob!.id ? { ...m, senderIndex: 9 } : m))), null, present)).toThrow(/sender index/);
    // A ratchet on a commit Alice never saw: she holds no package and cannot (and must not) derive it.
    expect(() => alice.m.accept(craft(base.stage, new Uint8Array(32).fill(7)), null, present)).toThrow(/no key for me/);
    expect(alice.m.accept(craft([...withoutBob, { memberKeyId: alice.id, senderIndex: bobIndex + 1, role: 'speaker' }]), null, present)).toMatchObject({ epoch: 2, myIndex: bobIndex + 1 });
  });

  it('epoch numbers and steps are bounded: an insider cannot push the room to 2^48 - 1 and freeze it', () => {
    const { by, host } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    const fresh = (epoch: number) =>
      createCommit({
        distributor: host.identity,
        roomId: host.m.keys.roomId,
        linkKey: host.m.keys.linkKey,
        epoch,
        kind: 'fresh',
        previous: host.m.current!.hash,
        locked: false,
        members: host.m.current!.members!,
        stage: host.m.current!.stage,
        commitSecret: generateCommitSecret(),
        packageFor: [v(alice, host)],
      });
    const present = ids(host, alice);
    expect(() => deliver(fresh(2 ** 48 - 1), alice, present)).toThrow(/leaps too far/);
    expect(() => deliver(fresh(1 + EPOCH_LIMITS.maxStep + 1), alice, present)).toThrow(MembershipError);
    expect(deliver(fresh(1 + EPOCH_LIMITS.maxStep), alice, present).epoch).toBe(1 + EPOCH_LIMITS.maxStep);
    const newcomer = person(host.m.keys, 'New');
    meet([host, newcomer]);
    const far = createCommit({
      distributor: host.identity,
      roomId: host.m.keys.roomId,
      linkKey: host.m.keys.linkKey,
      epoch: EPOCH_LIMITS.maxFirst + 1,
      kind: 'fresh',
      previous: host.m.current!.hash,
      locked: false,
      members: [host.id, newcomer.id],
      stage: host.m.current!.stage,
      commitSecret: generateCommitSecret(),
      packageFor: [v(newcomer, host)],
    });
    expect(() => deliver(far, newcomer, ids(host, newcomer))).toThrow(/out of bounds/);
  });

  it('a package opens only for its member and only with the header it was made for', () => {
    const { by, host } = started(['Host', 'Alice', 'Bob']);
    const issued = host.m.issueFresh([v(host, host), v(by.Alice!, host), v(by.Bob!, host)]);
    const present = ids(host, by.Alice!, by.Bob!);
    const alicePackage = issued.packages.find((p) => p.memberKeyId === by.Alice!.id)!.package;
    expect(() => by.Bob!.m.accept(issued.blob, alicePackage, present)).toThrow(/not for me/);
    const other = host.m.issueFresh([v(host, host), v(by.Alice!, host), v(by.Bob!, host)]);
    expect(() => by.Alice!.m.accept(other.blob, alicePackage, present)).toThrow(/does not open/);
    expect(deliver(other, by.Alice!, present).secret).toEqual(other.secret);
    // Each member receives only its own package: about 100 bytes, whatever the size of the room.
    expect(issued.packages.map((p) => p.package.length)).toEqual([107, 107]);
  });

  it('the distributor comes from the signed stage, not from roles or order the relay claims', () => {
    const { by, host } = started(['Host', 'Mod1', 'Mod2', 'Speaker', 'Listener'], { Mod1: 'moderator', Mod2: 'moderator', Speaker: 'speaker' });
    const listener = by.Listener!;
    expect(listener.m.expectedDistributor(ids(host, by.Mod1!, by.Mod2!, by.Speaker!, listener))).toBe(host.id);
    expect(listener.m.expectedDistributor(ids(by.Mod1!, by.Mod2!, by.Speaker!, listener))).toBe(by.Mod1!.id);
    expect(listener.m.expectedDistributor(ids(by.Speaker!, listener))).toBe(by.Speaker!.id);
    expect(listener.m.expectedDistributor(ids(listener))).toBeNull();
    // Mod2 signs a fresh epoch while the host is present: refused, whatever the relay says about roles.
    const usurper = by.Mod2!.m.issueFresh([v(by.Mod2!, by.Mod2!), v(listener, by.Mod2!)]);
    expect(() => deliver(usurper, listener, ids(host, by.Mod2!, listener))).toThrow(/may distribute/);
    // A listener, whom the relay could call host, is never accepted either.
    const impostor = person(host.m.keys, 'Impostor');
    meet([impostor, listener]);
    impostor.m.current = { ...listener.m.current! };
    const forged = impostor.m.issueFresh([v(impostor, impostor), v(listener, impostor)], { roles: new Map([[impostor.id, 'host']]) });
    expect(() => deliver(forged, listener, ids(impostor, listener))).toThrow(/may distribute/);
  });

  it('a member who cannot be sealed to is left out and reported; it never stops a fresh epoch for the others', () => {
    const { by, host } = started(['Host', 'Alice']);
    // An announcement with a small-order box key does not verify at all…
    const keys = host.m.keys;
    const poisoned = generateIdentity();
    poisoned.boxPublicKey = new Uint8Array(32);
    const blob = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity: poisoned, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Zero' }) });
    expect(host.m.verify('p-zero', blob)).toBeNull();
    // …and even one that slipped through is skipped by the commit, which still goes to everyone else.
    const bad: VerifiedMember = { participantId: 'p-zero', memberKeyId: poisoned.memberKeyId, boxPublicKey: new Uint8Array(32), signPublicKey: poisoned.signPublicKey, name: 'Zero', kemPublicKey: null };
    const issued = host.m.issueFresh([v(host, host), bad, v(by.Alice!, host)]);
    expect(issued.skipped).toEqual([poisoned.memberKeyId]);
    expect(issued.members!).not.toContain(poisoned.memberKeyId);
    expect(deliver(issued, by.Alice!, ids(host, by.Alice!)).secret).toEqual(issued.secret);
    const later = host.m.issueFresh([v(host, host), bad]);
    expect(later.skipped).toEqual([poisoned.memberKeyId]);
    expect(later.epoch).toBe(issued.epoch + 1);
  });

  it('a newcomer that comes back as a new participant refuses old commits replayed to it', () => {
    const { by, host, first } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    const second = host.m.issueFresh([v(host, host), v(alice, host)]);
    deliver(second, alice, ids(host, alice));
    alice.m.restart();
    expect(alice.m.current).toBeNull();
    expect(() => deliver(first, alice, ids(host, alice))).toThrow(/not newer/);
    expect(() => deliver(second, alice, ids(host, alice))).toThrow(/not newer/);
    host.m.raiseNextEpoch(host.m.current!.epoch + 1_000);
    expect(deliver(host.m.issueFresh([v(host, host), v(alice, host)]), alice, ids(host, alice)).epoch).toBe(1_002);
  });

  it('a member that comes back as a new participant follows a lineage that gave its old sender index to it again', () => {
    const { by, host } = started(['Host', 'Alice'], { Alice: 'speaker' });
    const alice = by.Alice!;
    expect(alice.m.current!.myIndex).toBe(1);
    // Alice drops for good; the host's fresh epoch compacts the stage, so index 1 is free in the new lineage.
    host.m.issueFresh([v(host, host)]);
    alice.m.restart();
    deliver(host.m.issueRatchet([v(alice, host)]), alice, ids(host, alice));
    const onStage = host.m.issueRatchet([], { roles: new Map([[alice.id, 'speaker']]) });
    expect(deliver(onStage, alice, ids(host, alice))).toMatchObject({ myIndex: 1, secret: onStage.secret });
  });
});

describe('Membership: who a member id names', () => {
  it('the first keys verified under a member id keep it: an announcement of the same id with other keys is refused', () => {
    const { keys, host, by } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    const mallory = generateIdentity();
    // Signed by Alice's key (so of her id) but carrying another box key: what a colliding 64-bit id would bring.
    const impostor = createAnnouncement({
      roomId: keys.roomId,
      authKey: keys.authKey,
      identity: { ...alice.identity, boxPublicKey: mallory.boxPublicKey, boxSecretKey: mallory.boxSecretKey },
      sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Alice' }),
    });
    expect(host.m.verify('p-Mallory', impostor)).toBeNull();
    // Alice's own keys still verify (a re-announcement), and packages are still sealed to her box key.
    expect(host.m.verify('p-Alice', alice.announcement)).toMatchObject({ memberKeyId: alice.id, boxPublicKey: alice.identity.boxPublicKey });
    expect(deliver(host.m.issueFresh([v(host, host), v(alice, host)]), alice, ids(host, alice)).secret).toEqual(host.m.current!.secret);
  });
});

describe('Membership: a member who lost or missed an epoch gets it again', () => {
  it('the distributor resends the current epoch only to members it keyed; a member that missed ratchets re-syncs', () => {
    const { keys, people, by, host } = started(['Host', 'Alice', 'Bob']);
    const alice = by.Alice!;
    const carol = person(keys, 'Carol');
    const dave = person(keys, 'Dave');
    meet([...people, carol, dave]);
    // Alice misses two ratchets (the relay dropped them); Bob follows them.
    const first = host.m.issueRatchet([v(carol, host)]);
    const second = host.m.issueRatchet([v(dave, host)]);
    const present = ids(...people, carol, dave);
    for (const c of [first, second]) deliver(c, by.Bob!, present);
    expect(() => alice.m.accept(second.blob, null, present)).toThrow(/no key for me/);

    const again = host.m.resend(v(alice, host))!;
    expect(again.epoch).toBe(second.epoch);
    expect(alice.m.accept(again.blob, again.package, present)).toMatchObject({ epoch: second.epoch, code: second.code });
    expect(alice.m.current!.secret).toEqual(by.Bob!.m.current!.secret);
    // Back in step: the next ratchet follows link by link again.
    const third = host.m.issueRatchet([], { roles: new Map([[alice.id, 'speaker']]) });
    expect(deliver(third, alice, present)).toMatchObject({ epoch: third.epoch, myIndex: 1 });

    // Nobody the distributor did not key gets anything, nor does a non-distributor answer.
    const stranger = person(keys, 'Stranger');
    meet([host, stranger]);
    expect(host.m.resend(v(stranger, host))).toBeNull();
    expect(by.Bob!.m.resend(v(alice, by.Bob!))).toBeNull();
    // A package resent to Alice opens for nobody else.
    expect(() => by.Bob!.m.accept(again.blob, again.package, present)).toThrow(/not for me/);
  });

  it('after a link rotation, a member that lost its epoch opens the package resent to it: no pairwise key of the old room id is reused', () => {
    const { host, by } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    // Pairwise keys were made under the first room id (epoch 1's packages); the link rotates to a second one.
    const keys = deriveRoomKeys(generateRoomSecret());
    host.m.keys = keys;
    alice.m.keys = keys;
    // Everyone announces again under the new link, as members do after a rotation.
    const reannounce = (p: Person) => createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity: p.identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: p.name }) });
    const [hostNow, aliceNow] = [host.m.verify('p-Host', reannounce(host))!, host.m.verify('p-Alice', reannounce(alice))!];
    const rotated = host.m.issueFresh([hostNow, aliceNow]);
    deliver(rotated, alice, ids(host, alice));
    // Alice reloads: the same identity, nothing else kept, so her pairwise key is made under the second room id.
    const reloaded: Person = { ...alice, m: new Membership(keys, alice.identity) };
    reloaded.m.verify('p-Host', reannounce(host));
    const again = host.m.resend(aliceNow)!;
    expect(reloaded.m.accept(again.blob, again.package, ids(host, alice))).toMatchObject({ epoch: rotated.epoch, code: rotated.code });
  });
});

describe('Membership: stage decisions count only when signed by someone with the authority', () => {
  it('an invitation by a moderator is good for its target; an acceptance carrying it makes a speaker, once', () => {
    const { by, host } = started(['Host', 'Mod', 'Alice', 'Bob'], { Mod: 'moderator' });
    const invite = by.Mod!.m.decide('invite', by.Alice!.id);
    expect(by.Alice!.m.check(invite).effect).toEqual({ kind: 'invite', target: by.Alice!.id });
    const accept = by.Alice!.m.decide('accept', by.Alice!.id, invite);
    const checked = host.m.check(accept);
    expect(checked.effect).toEqual({ kind: 'role', target: by.Alice!.id, role: 'speaker' });
    host.m.markApplied(checked.decision);
    expect(() => host.m.check(accept)).toThrow(/already applied/);
    // Bob cannot use Alice's invitation, and cannot accept one he never got.
    expect(() => host.m.check(by.Bob!.m.decide('accept', by.Bob!.id, invite))).toThrow(/invitation of this member/);
    expect(() => host.m.check(by.Bob!.m.decide('accept', by.Bob!.id))).toThrow(MembershipError);
  });

  it('refuses decisions from members without the authority, and forgeries', () => {
    const { by, host } = started(['Host', 'Mod', 'Alice', 'Bob'], { Mod: 'moderator' });
    expect(() => host.m.check(by.Alice!.m.decide('invite', by.Bob!.id))).toThrow(/FORBIDDEN|only the host and moderators/);
    expect(() => host.m.check(by.Mod!.m.decide('kick', host.id))).toThrow(/host/);
    expect(() => host.m.check(by.Mod!.m.decide('set-moderator', by.Alice!.id))).toThrow(/only the host names/);
    expect(() => host.m.check(by.Alice!.m.decide('lock', null))).toThrow(/only the host and moderators/);
    expect(host.m.check(by.Mod!.m.decide('kick', by.Bob!.id)).effect).toEqual({ kind: 'kick', target: by.Bob!.id });
    expect(host.m.check(host.m.decide('set-moderator', by.Alice!.id)).effect).toEqual({ kind: 'role', target: by.Alice!.id, role: 'moderator' });
    const stranger = person(deriveRoomKeys(generateRoomSecret()), 'Stranger');
    expect(() => host.m.check(stranger.m.decide('kick', by.Bob!.id))).toThrow();
  });

  it('a member that takes over distribution refuses a decision the previous distributor applied, replayed to it', () => {
    const { by, host, people } = started(['Host', 'Mod', 'Alice', 'Bob'], { Mod: 'moderator', Alice: 'speaker' });
    const [mod, alice, bob] = [by.Mod!, by.Alice!, by.Bob!];
    const down = host.m.decide('move-to-audience', alice.id);
    const invite = host.m.decide('invite', bob.id);
    // The relay passes the decisions to everyone on stage: the host applies them, the moderator witnesses them.
    host.m.markApplied(host.m.check(down).decision);
    for (const blob of [down, invite]) {
      const seen = mod.m.check(blob);
      mod.m.witness(seen.decision, seen.effect);
    }
    // An invitation is not used up by being seen: its target's acceptance, which carries it, still counts.
    expect(mod.m.check(bob.m.decide('accept', bob.id, invite)).effect).toEqual({ kind: 'role', target: bob.id, role: 'speaker' });
    // The host leaves; the moderator takes over with a fresh epoch.
    const handOver = mod.m.issueFresh(people.filter((p) => p !== host).map((p) => v(p, mod)));
    for (const p of [alice, bob]) deliver(handOver, p, ids(mod, alice, bob));
    expect(() => mod.m.check(down)).toThrow(/already applied/);
  });

  it('an acceptance carrying an invitation from before the decision window is refused', () => {
    const { by, host } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    const invite = host.m.decide('invite', alice.id);
    for (let i = 0; i <= EPOCH_LIMITS.decisionWindow; i++) deliver(host.m.issueRatchet([]), alice, ids(host, alice));
    // The acceptance itself is of the current epoch; the invitation it carries is not (past the window, whose commit
    // hashes the host no longer holds either).
    expect(() => host.m.check(alice.m.decide('accept', alice.id, invite))).toThrow(/invitation of epoch 1 is out of date|epoch 1, whose commit this member does not hold/);
    const fresh = host.m.decide('invite', alice.id);
    expect(host.m.check(alice.m.decide('accept', alice.id, fresh)).effect).toEqual({ kind: 'role', target: alice.id, role: 'speaker' });
  });

  it('a decision from long before the current epoch is refused as a replay', () => {
    const { by, host } = started(['Host', 'Mod', 'Alice'], { Mod: 'moderator' });
    const old = by.Mod!.m.decide('move-to-audience', by.Alice!.id);
    for (let i = 0; i <= EPOCH_LIMITS.decisionWindow; i++) host.m.issueRatchet([]);
    // Its epoch's commit hash is no longer held either: the window is where the lineage's hashes are kept.
    expect(() => host.m.check(old)).toThrow(/out of date|does not hold/);
  });

  it('a kicked identity never gets keys again, and a locked room admits only whom a moderator admitted', () => {
    const { keys, by, host } = started(['Host', 'Mod', 'Alice'], { Mod: 'moderator' });
    const kick = host.m.check(by.Mod!.m.decide('kick', by.Alice!.id));
    host.m.record(kick.effect);
    const fresh = host.m.issueFresh([v(host, host), v(by.Mod!, host), v(by.Alice!, host)]);
    expect(fresh.members!).not.toContain(by.Alice!.id);
    expect(host.m.mayAdmit(by.Alice!.id)).toBe(false);
    expect(host.m.issueRatchet([v(by.Alice!, host)]).members!).not.toContain(by.Alice!.id);

    host.m.issueRatchet([], { locked: true });
    const visitor = person(keys, 'Visitor');
    meet([host, visitor]);
    expect(host.m.mayAdmit(visitor.id)).toBe(false);
    expect(host.m.issueRatchet([v(visitor, host)]).members!).not.toContain(visitor.id);
    host.m.record(host.m.check(by.Mod!.m.decide('admit', visitor.id)).effect);
    expect(host.m.issueRatchet([v(visitor, host)]).members!).toContain(visitor.id);
  });
});

describe('Membership: a page that came back gets an epoch it never held', () => {
  it('a stage member back after a reload gets a package in the next ratchet, which no other member needs', () => {
    const { keys, people, by, host } = started(['Host', 'Alice', 'Bob'], { Alice: 'speaker' });
    const alice = by.Alice!;
    const carol = person(keys, 'Carol');
    meet([...people, carol]);
    const held = alice.m.current!;
    // Alice's page reloads: a new Membership with the same identity, holding no epoch.
    const back = new Membership(keys, alice.identity);
    meet([host, { ...alice, m: back }]);
    back.resumeAbove(held.epoch - 1);
    const ratchet = host.m.issueRatchet([v(carol, host), v(alice, host)], { repackage: [v(alice, host), v(carol, host)] });
    expect(ratchet.packages.map((p) => p.memberKeyId).sort()).toEqual([alice.id, carol.id].sort());
    // Alice's package opens the new epoch with her old sender index; the others follow link by link.
    const present = ids(...people, carol);
    expect(back.accept(ratchet.blob, ratchet.packages.find((p) => p.memberKeyId === alice.id)!.package, present)).toMatchObject({ epoch: held.epoch + 1, myIndex: held.myIndex, code: ratchet.code });
    expect(deliver(ratchet, by.Bob!, present).code).toBe(ratchet.code);
    expect(ratchet.members).toEqual([host.id, alice.id, by.Bob!.id, carol.id]);
    // Only members it keyed: a stranger named for a package gets none.
    const stranger = person(keys, 'Stranger');
    meet([host, stranger]);
    expect(host.m.issueRatchet([], { repackage: [v(stranger, host)] }).packages).toEqual([]);
  });

  it('a distributor back after a reload issues a fresh epoch above its own, with the stage it held, that every member accepts', () => {
    const { keys, people, by, host } = started(['Host', 'Mod', 'Alice', 'Bob', 'Kicked'], { Mod: 'moderator', Alice: 'speaker' });
    host.m.record(host.m.check(host.m.decide('kick', by.Kicked!.id)).effect);
    host.m.record(host.m.check(host.m.decide('lock', null)).effect);
    const last = host.m.issueRatchet([], { locked: true, roles: new Map([[by.Bob!.id, 'speaker']]) });
    const present = ids(...people);
    for (const p of [by.Mod!, by.Alice!, by.Bob!]) deliver(last, p, present);
    const held = host.m.current!;

    const reloaded = { ...host, m: new Membership(keys, host.identity) };
    const back = reloaded.m;
    meet([reloaded, ...people.slice(1)]);
    back.resumeDistributing(held.epoch, { stage: held.stage, locked: held.locked, removed: [...host.m.removed] });
    const fresh = back.issueFresh(people.map((p) => v(p, reloaded)));
    expect(fresh).toMatchObject({ kind: 'fresh', epoch: held.epoch + 1, locked: true, distributor: host.id });
    expect(fresh.stage.map((m) => [m.memberKeyId, m.role])).toEqual(held.stage.map((m) => [m.memberKeyId, m.role]));
    expect(fresh.members).not.toContain(by.Kicked!.id);
    for (const p of [by.Mod!, by.Alice!, by.Bob!]) expect(deliver(fresh, p, present)).toMatchObject({ epoch: fresh.epoch, code: fresh.code });
    expect(back.isDistributor(present)).toBe(true);
  });
});

describe("Membership: removals are room state, not one member's memory", () => {
  it('every member records a verified kick; a successor keys nobody removed and carries the removals on', () => {
    const { by, host } = started(['Host', 'Speaker', 'Troll', 'Listener'], { Speaker: 'speaker' });
    const speaker = by.Speaker!;
    const troll = by.Troll!;
    const listener = by.Listener!;
    const kick = host.m.decide('kick', troll.id);
    // The speaker is no distributor, yet it records the kick it verified (RoomCore's stage decision input).
    speaker.m.record(speaker.m.check(kick).effect);
    expect([...speaker.m.removed]).toEqual([troll.id]);
    // The relay withholds the host's fresh commit from the speaker, then says the host left.
    host.m.record(host.m.check(kick).effect);
    host.m.issueFresh([v(host, host), v(speaker, host), v(listener, host)]);
    const present = ids(speaker, troll, listener);
    expect(speaker.m.isDistributor(present)).toBe(true);
    const takeover = speaker.m.issueFresh([v(speaker, speaker), v(troll, speaker), v(listener, speaker)]);
    expect(takeover.members).not.toContain(troll.id);
    expect(takeover.packages.map((p) => p.memberKeyId)).toEqual([listener.id]);
    expect(takeover.removed).toEqual([troll.id]);
    expect(() => deliver(takeover, troll, present)).toThrow(/no key for me/);
    // The listener, which never saw the kick decision, learns it from the commit and carries it on in turn.
    expect(listener.m.removed.size).toBe(0);
    expect(deliver(takeover, listener, present).removed).toEqual([troll.id]);
    expect([...listener.m.removed]).toEqual([troll.id]);
    expect(listener.m.mayAdmit(troll.id)).toBe(false);
    // A kicked member is never a distributor, however present the relay says it is.
    const onStage = started(['Host', 'Mod', 'Speaker'], { Mod: 'moderator', Speaker: 'speaker' });
    onStage.by.Speaker!.m.record(onStage.by.Speaker!.m.check(onStage.host.m.decide('kick', onStage.by.Mod!.id)).effect);
    expect(onStage.by.Speaker!.m.expectedDistributor(ids(onStage.by.Mod!, onStage.by.Speaker!))).toBe(onStage.by.Speaker!.id);
  });

  it("a commit that drops a removed member is refused: a ratchet or fresh epoch of the same distributor, or a successor's", () => {
    const { keys, by, host } = started(['Host', 'Speaker', 'Troll', 'Alice'], { Speaker: 'speaker' });
    const speaker = by.Speaker!;
    const alice = by.Alice!;
    const troll = by.Troll!;
    const present = ids(host, speaker, alice);
    host.m.record(host.m.check(host.m.decide('kick', troll.id)).effect);
    const kicked = host.m.issueFresh([v(host, host), v(speaker, host), v(alice, host)]);
    for (const p of [speaker, alice]) expect(deliver(kicked, p, present).removed).toEqual([troll.id]);
    const base = host.m.current!;
    // The host's own key signs what an honest host never would: the next epoch without the removal.
    const dropping = (kind: 'fresh' | 'ratchet', distributor: Person, on: EpochState) =>
      createCommit({
        distributor: distributor.identity,
        roomId: keys.roomId,
        linkKey: keys.linkKey,
        epoch: on.epoch + 1,
        kind,
        previous: on.hash,
        locked: false,
        members: [...present],
        stage: kind === 'ratchet' ? on.stage : [{ memberKeyId: distributor.id, senderIndex: 0, role: distributor === host ? 'host' : 'speaker' }],
        commitSecret: kind === 'ratchet' ? ratchetCommitSecret(on.secret) : generateCommitSecret(),
        packageFor: [speaker, alice].filter((p) => p !== distributor).map((p) => ({ memberKeyId: p.id, boxPublicKey: p.identity.boxPublicKey })),
        removed: [],
      });
    const ratchet = dropping('ratchet', host, base);
    const fresh = dropping('fresh', host, base);
    for (const c of [ratchet, fresh]) expect(() => deliver(c, alice, present)).toThrow(expect.objectContaining({ code: 'REMOVAL_DROPPED' }));
    // A successor (the relay says the host left) that leaves the kick out is refused too.
    const successor = dropping('fresh', speaker, speaker.m.current!);
    expect(() => deliver(successor, alice, ids(speaker, alice))).toThrow(expect.objectContaining({ code: 'REMOVAL_DROPPED' }));
    expect(alice.m.current!.epoch).toBe(base.epoch);
    // What the honest successor makes is taken.
    expect(deliver(speaker.m.issueFresh([v(speaker, speaker), v(alice, speaker)]), alice, ids(speaker, alice)).removed).toEqual([troll.id]);
  });

  it('past the bound only the oldest removals drop out of a full list, and only from a full list', () => {
    const { by, host } = started(['Host', 'Alice']);
    const alice = by.Alice!;
    const present = ids(host, alice);
    const many = Array.from({ length: MAX_REMOVED + 2 }, () => generateIdentity().memberKeyId);
    for (const id of many.slice(0, MAX_REMOVED)) host.m.removed.add(id);
    expect(deliver(host.m.issueRatchet([]), alice, present).removed).toEqual(many.slice(0, MAX_REMOVED));
    for (const id of many.slice(MAX_REMOVED)) host.m.removed.add(id);
    expect(deliver(host.m.issueRatchet([]), alice, present).removed).toEqual(many.slice(2));
  });

  it('after a link rotation nothing verified under the old link counts until it re-announces', () => {
    const { by, host } = started(['Host', 'Mod', 'Alice'], { Mod: 'moderator' });
    const mod = by.Mod!;
    const next = deriveRoomKeys(generateRoomSecret());
    const decision = () => {
      mod.m.keys = next;
      return mod.m.decide('kick', by.Alice!.id);
    };
    host.m.keys = next;
    // Without forgetting, the key verified under the old link would still check the moderator's signature.
    expect(host.m.check(decision()).effect).toEqual({ kind: 'kick', target: by.Alice!.id });
    host.m.forgetVerified();
    expect(() => host.m.check(decision())).toThrow(/signed by someone/);
    // Its old announcement does not verify under the new link; its re-announcement does, and then it counts again.
    expect(host.m.verify('p-Mod', mod.announcement)).toBeNull();
    const reannounce = (p: Person) =>
      host.m.verify(`p-${p.name}`, createAnnouncement({ roomId: next.roomId, authKey: next.authKey, identity: p.identity, sealedProfile: sealMetadata(next.metaKey, next.roomId, 'profile', { name: p.name }) }));
    expect(reannounce(mod)).not.toBeNull();
    // Its target, a listener verified under the old link, is no verified member either until it re-announces.
    expect(() => host.m.check(decision())).toThrow(/not a verified member/);
    expect(reannounce(by.Alice!)).not.toBeNull();
    expect(host.m.check(decision()).effect).toEqual({ kind: 'kick', target: by.Alice!.id });
  });
});
