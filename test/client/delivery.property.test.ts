// Property: per-recipient key delivery, through the page's own pending-commit handling, keeps every present member on the distributor's epoch and every removed member out, through any sequence of joins, leaves, kicks, role changes and hand-overs, and keeps the kicked out under a relay that drops, reorders, replays and hides.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CommitError,
  CommitNoKeyError,
  createAnnouncement,
  deriveRoomKeys,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  openCommit,
  pairwiseKey,
  sealMetadata,
  toHex,
  type Identity,
  type RoomKeys,
} from '../../crypto/index.ts';
import { Membership, MembershipError, type IssuedCommit, type VerifiedMember } from '../../client/src/session/membership.ts';
import { PendingCommits, type Delivery } from '../../client/src/session/pending-commits.ts';

beforeAll(() => initCrypto());

const POOL = 12;
const STEPS = 20;

/** One person who may be in the room, with what its page keeps: its Membership and its pending commits (pending-commits.ts). */
class Person {
  readonly name: string;
  readonly identity: Identity;
  readonly announcement: string;
  readonly m: Membership;
  readonly pending: PendingCommits;
  participantId = '';
  /** Commits its page refused (it counts them) and the epochs it took, in order. */
  refused = 0;
  readonly took: number[] = [];

  constructor(keys: RoomKeys, name: string) {
    this.name = name;
    this.identity = generateIdentity();
    this.announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity: this.identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });
    this.m = new Membership(keys, this.identity);
    this.pending = new PendingCommits(this.m);
  }

  get id(): string {
    return this.identity.memberKeyId;
  }

  /** A header (with our package when the relay sends them together), as room-session's key.commit handler. */
  onHeader(blob: string, epoch: number, pkg: string | null, present: ReadonlySet<string>): Delivery {
    return this.note(this.pending.onCommit(blob, epoch, pkg, present));
  }

  /** Our own package, as room-session's key.package handler. */
  onPackage(pkg: string, epoch: number, present: ReadonlySet<string>): Delivery {
    return this.note(this.pending.onPackage(pkg, epoch, present));
  }

  private note(d: Delivery): Delivery {
    this.refused += d.refused;
    for (const state of d.accepted) this.took.push(state.epoch);
    return d;
  }

  /** Whether a header is still waiting for a package that never came. */
  get waiting(): boolean {
    return this.pending.waiting;
  }
}

type Role = 'moderator' | 'speaker' | 'listener';
const ROLE = fc.constantFrom<Role>('moderator', 'speaker', 'listener');
const pick = fc.nat({ max: POOL * 4 });

/** Steps name people by number; each is read against the room as it is then, and skipped when it makes no sense. */
const step = fc.oneof(
  // Leaves and joins within one batching window: one fresh epoch if anyone left, else one ratchet.
  fc
    .record({ kind: fc.constant('batch' as const), leaves: fc.array(pick, { maxLength: 3 }), joins: fc.array(pick, { maxLength: 3 }), packagesFirst: fc.boolean() })
    .filter((b) => b.leaves.length + b.joins.length > 0),
  fc.record({ kind: fc.constant('kick' as const), who: pick, packagesFirst: fc.boolean() }),
  fc.record({ kind: fc.constant('role' as const), who: pick, role: ROLE, packagesFirst: fc.boolean() }),
  // The distributor leaves: the next in hand-over order issues a fresh epoch.
  fc.record({ kind: fc.constant('handover' as const), packagesFirst: fc.boolean() }),
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const scenario = fc.record({
  initial: fc.array(ROLE, { minLength: 1, maxLength: 4 }),
  steps: fc.array(step, { minLength: 1, maxLength: STEPS, size: 'max' }),
});

class Room {
  readonly keys = deriveRoomKeys(generateRoomSecret());
  readonly people: Person[];
  /** In the order the relay admitted them. */
  present: Person[] = [];
  readonly kicked = new Set<Person>();
  /** Everyone who held keys and is gone: they must never hold the current ones. */
  readonly removed = new Set<Person>();
  distributor: Person;
  latest: IssuedCommit;
  private joins = 0;

  constructor(initial: Role[]) {
    this.people = Array.from({ length: POOL }, (_, i) => new Person(this.keys, `P${i}`));
    const [host, ...others] = this.people.slice(0, initial.length + 1) as [Person, ...Person[]];
    this.distributor = host;
    for (const p of [host, ...others]) this.admit(p);
    const roles = new Map<string, Role | 'host'>([[host.id, 'host'], ...others.map((p, i): [string, Role] => [p.id, initial[i]!])]);
    this.latest = this.publish(host.m.issueFresh(this.present.map((p) => this.seenBy(p, host)), { roles }), false);
  }

  presentIds(): Set<string> {
    return new Set(this.present.map((p) => p.id));
  }

  /** What each member made of each announcement it verified, by viewer and participant id. */
  private readonly verified = new Map<Person, Map<string, VerifiedMember>>();

  private seenBy(p: Person, viewer: Person): VerifiedMember {
    return this.verified.get(viewer)!.get(p.participantId)!;
  }

  private verify(viewer: Person, p: Person): void {
    const member = viewer.m.verify(p.participantId, p.announcement);
    if (!member) throw new Error(`${viewer.name} could not verify ${p.name}`);
    this.verified.get(viewer)!.set(p.participantId, member);
  }

  /** A join as the relay does it: a new participant id; the newcomer and everyone present verify each other's announcements. */
  private admit(p: Person): void {
    p.participantId = `participant-${++this.joins}`;
    if (p.m.current) p.m.restart();
    this.verified.set(p, new Map());
    for (const other of this.present) {
      this.verify(other, p);
      this.verify(p, other);
    }
    this.verify(p, p);
    this.present.push(p);
    this.removed.delete(p);
  }

  private drop(p: Person): void {
    this.present = this.present.filter((q) => q !== p);
    this.removed.add(p);
  }

  /** The relay: the header to everyone present but its sender, each package to its addressee if present, in either order. */
  private publish(issued: IssuedCommit, packagesFirst: boolean): IssuedCommit {
    const ids = this.presentIds();
    const byId = new Map(this.present.map((p) => [p.id, p]));
    const headers = () => {
      for (const p of this.present) if (p !== this.distributor) p.onHeader(issued.blob, issued.epoch, null, ids);
    };
    const packages = () => {
      for (const { memberKeyId, package: pkg } of issued.packages) byId.get(memberKeyId)?.onPackage(pkg, issued.epoch, ids);
    };
    if (packagesFirst) packages();
    headers();
    if (!packagesFirst) packages();
    return issued;
  }

  /** Among the present, the n-th who is not the distributor; null when there is none. */
  private other(n: number): Person | null {
    const others = this.present.filter((p) => p !== this.distributor);
    return others.length ? others[n % others.length]! : null;
  }

  apply(s: Step): IssuedCommit | null {
    const d = this.distributor;
    switch (s.kind) {
      case 'batch': {
        const leaving = new Set(s.leaves.map((n) => this.other(n)).filter((p): p is Person => p !== null));
        for (const p of leaving) this.drop(p);
        const newcomers: Person[] = [];
        for (const n of s.joins) {
          const outside = this.people.filter((p) => !this.present.includes(p) && !this.kicked.has(p));
          if (!outside.length) break;
          const p = outside[n % outside.length]!;
          this.admit(p);
          newcomers.push(p);
        }
        if (leaving.size > 0) return this.publish(d.m.issueFresh(this.present.map((p) => this.seenBy(p, d))), s.packagesFirst);
        if (newcomers.length > 0) return this.publish(d.m.issueRatchet(newcomers.map((p) => this.seenBy(p, d))), s.packagesFirst);
        return null;
      }
      case 'kick': {
        const target = this.other(s.who);
        if (!target) return null;
        let checked: ReturnType<Membership['check']>;
        try {
          checked = d.m.check(d.m.decide('kick', target.id));
        } catch (error) {
          // A distributor without the authority (a speaker, or a moderator facing a moderator) cannot kick.
          if (error instanceof MembershipError && error.code === 'FORBIDDEN') return null;
          throw error;
        }
        d.m.markApplied(checked.decision);
        d.m.record(checked.effect);
        this.drop(target);
        this.kicked.add(target);
        return this.publish(d.m.issueFresh(this.present.map((p) => this.seenBy(p, d))), s.packagesFirst);
      }
      case 'role': {
        const target = this.other(s.who);
        if (!target) return null;
        return this.publish(d.m.issueRatchet([], { roles: new Map([[target.id, s.role]]) }), s.packagesFirst);
      }
      case 'handover': {
        const rest = new Set([...this.presentIds()].filter((id) => id !== d.id));
        // Everyone who stays names the same successor from the signed stage; with nobody on stage left, nobody can.
        const successors = this.present.filter((p) => p !== d).map((p) => p.m.expectedDistributor(rest));
        expect(new Set(successors).size).toBeLessThanOrEqual(1);
        const next = this.present.find((p) => p.id === successors[0]);
        if (!next) return null;
        expect(d.m.handOver().filter((id) => rest.has(id))[0]).toBe(next.id);
        this.drop(d);
        this.distributor = next;
        expect(this.present.filter((p) => p.m.isDistributor(rest)).map((p) => p.name)).toEqual([next.name]);
        return this.publish(next.m.issueFresh(this.present.map((p) => this.seenBy(p, next))), s.packagesFirst);
      }
    }
  }
}

/** What a removed member can do with the latest commit, the relay's help aside: it holds its last epoch and its own keys. */
function lockedOut(r: Person, room: Room): void {
  const latest = room.latest;
  const d = room.distributor;
  // Nothing was addressed to it, so the relay had nothing to hand it.
  expect(latest.packages.map((p) => p.memberKeyId)).not.toContain(r.id);
  expect(latest.skipped).toEqual([]);
  // Even trusting the header's signer and holding the real pairwise key with it, it has no way to the commit secret.
  const held = r.m.current;
  const attempt = () =>
    openCommit({
      blob: latest.blob,
      package: null,
      roomId: room.keys.roomId,
      signKeyOf: (id) => (id === d.id ? d.identity.signPublicKey : null),
      pairwiseKeyWith: (id) => pairwiseKey({ roomId: room.keys.roomId, mySecretKey: r.identity.boxSecretKey, theirPublicKey: d.identity.boxPublicKey, distributor: id, member: r.id }),
      me: r.identity,
      current: held ? { epochSecret: held.secret, hash: held.hash } : null,
    });
  expect(attempt).toThrow(CommitNoKeyError);
  expect(() => r.m.accept(latest.blob, null, room.presentIds())).toThrow(CommitError);
  if (held) expect(toHex(held.secret)).not.toBe(toHex(latest.secret));
}

function agreed(room: Room): void {
  const d = room.distributor;
  const theirs = d.m.current!;
  expect(theirs.epoch).toBe(room.latest.epoch);
  expect(theirs.distributor).toBe(d.id);
  expect(theirs.memberCount).toBe(room.present.length);
  for (const p of room.present) {
    expect(p.waiting, `${p.name} waits for a package`).toBe(false);
    expect(p.refused, `${p.name} refused a commit of an honest relay`).toBe(0);
    const mine = p.m.current!;
    expect({ who: p.name, epoch: mine.epoch, secret: toHex(mine.secret), hash: toHex(mine.hash), code: mine.code }).toEqual({
      who: p.name,
      epoch: theirs.epoch,
      secret: toHex(theirs.secret),
      hash: toHex(theirs.hash),
      code: theirs.code,
    });
    expect(mine.stage).toEqual(theirs.stage);
  }
}

describe('per-recipient delivery, driven through real Membership objects and an honest in-memory relay', () => {
  it('keeps every present member on the distributor\'s epoch and secret, and every removed member out', () => {
    // What the runs went through, to check that the generator reaches what the property is about.
    const seen = { commits: 0, fresh: 0, ratchets: 0, kicks: 0, roles: 0, handovers: 0, lockedOutChecks: 0 };
    fc.assert(
      fc.property(scenario, ({ initial, steps }) => {
        const room = new Room(initial);
        agreed(room);
        for (const s of steps) {
          const before = room.latest;
          const distributor = room.distributor;
          const presentBefore = room.presentIds();
          const issued = room.apply(s);
          if (!issued) continue;
          seen.commits++;
          seen[issued.kind === 'fresh' ? 'fresh' : 'ratchets']++;
          if (s.kind === 'kick') seen.kicks++;
          if (s.kind === 'role') seen.roles++;
          if (room.distributor !== distributor) seen.handovers++;
          expect(issued.epoch).toBe(before.epoch + 1);
          // A fresh epoch packages everyone present but its distributor; a ratchet only the newcomers.
          const addressed = issued.packages.map((p) => p.memberKeyId).sort();
          const others = room.present.filter((p) => p !== room.distributor).map((p) => p.id);
          if (issued.kind === 'fresh') expect(addressed).toEqual(others.sort());
          else expect(addressed).toEqual(others.filter((id) => !presentBefore.has(id)).sort());
          room.latest = issued;
          agreed(room);
          for (const r of room.removed) lockedOut(r, room);
          seen.lockedOutChecks += room.removed.size;
        }
      }),
      { numRuns: 100 },
    );
    expect(seen.commits).toBeGreaterThan(300);
    expect(seen.fresh).toBeGreaterThan(100);
    expect(seen.ratchets).toBeGreaterThan(100);
    expect(seen.kicks).toBeGreaterThan(30);
    expect(seen.roles).toBeGreaterThan(50);
    expect(seen.handovers).toBeGreaterThan(20);
    expect(seen.lockedOutChecks).toBeGreaterThan(300);
    // About 4 s of CPU; the margin is for a machine busy with browser tests beside it.
  }, 180_000);
});
