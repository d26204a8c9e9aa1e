// Property: per-recipient key delivery, through the page's own room core (RoomCore.step with the relay's key.commit, key.package and stage.decision), keeps every present member on the distributor's epoch and every removed member out, through any sequence of joins, leaves, kicks, role changes and hand-overs, and keeps the kicked out under a relay that drops, reorders, replays and hides.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommitError, CommitNoKeyError, createAnnouncement, deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, openCommit, pairwiseKey, sealMetadata, toHex, type Identity, type RoomKeys } from '../../crypto/index.ts';
import type { Effect } from '../../client/src/session/core/effects.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import { Roster, type Member } from '../../client/src/session/core/roster.ts';
import { MembershipError, type EpochState, type IssuedCommit, type Membership, type VerifiedMember } from '../../client/src/session/membership.ts';

beforeAll(() => initCrypto());

const POOL = 12;
const STEPS = 20;

/** One person who may be in the room, with its page's room core (core/room-core.ts), driven by the relay's events as the shell drives it. */
class Person {
  readonly name: string;
  readonly identity: Identity;
  readonly announcement: string;
  readonly core: RoomCore;
  readonly rejected = { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 };
  participantId = '';
  /** The epochs its page took, in order. */
  readonly took: number[] = [];
  /** Everyone whose announcement it verified, by memberKeyId, as its roster lists them when the relay does. */
  private readonly seen = new Map<string, Member>();

  constructor(keys: RoomKeys, name: string) {
    this.name = name;
    this.identity = generateIdentity();
    this.announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity: this.identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });
    this.core = new RoomCore(keys, this.identity, new Roster(), this.rejected);
    // A kick by a distributor makes a fresh epoch here; rotating the link is the shell's flow, not this test's.
    this.core.rotateOnKick = false;
  }

  get id(): string {
    return this.identity.memberKeyId;
  }

  /** Its page's Membership: what the distributor issues with, and what the checks read. */
  get m(): Membership {
    return this.core.agent;
  }

  /** Commits its page refused (it counts them). */
  get refused(): number {
    return this.rejected.commits;
  }

  /** A new participant id from the relay: its page's roster names it so. */
  joined(participantId: string): void {
    this.participantId = participantId;
    this.core.roster.me = participantId;
  }

  /** Verifies another's announcement, as its page does when the relay lists it. */
  verify(p: Person): VerifiedMember | null {
    const verified = this.m.verify(p.participantId, p.announcement);
    if (verified) this.seen.set(p.id, { snapshot: { participantId: p.participantId, role: 'listener', announcement: p.announcement, joinedSeq: 0, handRaisedSeq: null, muted: false, producerIds: [] }, verified, speaking: false });
    return verified;
  }

  /** The relay lists these members (memberKeyIds) to this page: its roster (core/roster.ts) holds those it verified. */
  private shown(present: ReadonlySet<string>): void {
    this.core.roster.members.clear();
    for (const id of present) {
      const member = id === this.id ? undefined : this.seen.get(id);
      if (member) this.core.roster.members.set(member.snapshot.participantId, member);
    }
  }

  /** A header (with our package when the relay sends them together): the epochs the core installed. */
  onHeader(blob: string, epoch: number, pkg: string | null, present: ReadonlySet<string>): EpochState[] {
    this.shown(present);
    return this.installed(this.core.step({ kind: 'key.commit', commit: blob, epoch, package: pkg }));
  }

  /** Our own package, apart from its header. */
  onPackage(pkg: string, epoch: number, present: ReadonlySet<string>): EpochState[] {
    this.shown(present);
    return this.installed(this.core.step({ kind: 'key.package', package: pkg, epoch }));
  }

  /** A signed stage decision the relay passes on; the commits the core made of it (it believed itself the distributor). */
  onDecision(decision: string, present: ReadonlySet<string>): Extract<Effect, { kind: 'commit' }>[] {
    this.shown(present);
    const effects = this.core.step({ kind: 'stage.decision', decision, now: 0 });
    this.installed(effects);
    return effects.filter((e): e is Extract<Effect, { kind: 'commit' }> => e.kind === 'commit');
  }

  private installed(effects: Effect[]): EpochState[] {
    const states = effects.flatMap((e) => (e.kind === 'epoch' ? [e.state] : []));
    for (const state of states) this.took.push(state.epoch);
    return states;
  }

  /** Whether a header is still waiting for a package that never came. */
  get waiting(): boolean {
    return this.core.awaitingPackage;
  }
}

type Role = 'moderator' | 'speaker' | 'listener';
const ROLE = fc.constantFrom<Role>('moderator', 'speaker', 'listener');
const pick = fc.nat({ max: POOL * 4 });

/** Steps name people by number; each is read against the room as it is then, and skipped when it makes no sense. */
const step = fc.oneof(
  // Leaves and joins within one batching window: one fresh epoch if anyone left, else one ratchet.
  fc.record({ kind: fc.constant('batch' as const), leaves: fc.array(pick, { maxLength: 3 }), joins: fc.array(pick, { maxLength: 3 }), packagesFirst: fc.boolean() }).filter((b) => b.leaves.length + b.joins.length > 0),
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
    this.latest = this.publish(
      host.m.issueFresh(
        this.present.map((p) => this.seenBy(p, host)),
        { roles },
      ),
      false,
    );
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
    const member = viewer.verify(p);
    if (!member) throw new Error(`${viewer.name} could not verify ${p.name}`);
    this.verified.get(viewer)!.set(p.participantId, member);
  }

  /** A join as the relay does it: a new participant id; the newcomer and everyone present verify each other's announcements. */
  private admit(p: Person): void {
    p.joined(`participant-${++this.joins}`);
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

/** What lockedOut needs of a room: its keys, its latest commit, who made it and who the relay lists. */
interface Latest {
  readonly keys: RoomKeys;
  readonly latest: IssuedCommit;
  readonly distributor: Person;
  presentIds(): Set<string>;
}

/** What a removed member can do with the latest commit, the relay's help aside: it holds its last epoch and its own keys. */
function lockedOut(r: Person, room: Latest): void {
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
      linkKey: room.keys.linkKey,
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

describe('per-recipient delivery, driven through real room cores and an honest in-memory relay', () => {
  it("keeps every present member on the distributor's epoch and secret, and every removed member out", () => {
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

const FATE = fc.constantFrom('deliver', 'deliver', 'together', 'drop', 'delay', 'replay');
type Fate = typeof FATE extends fc.Arbitrary<infer T> ? T : never;

/** One step of the room, and what the relay does meanwhile: each message's fate, whom it hides, who hears a kick. */
const hostileStep = fc.record({
  step,
  fates: fc.array(FATE, { minLength: 1, maxLength: 12 }),
  hide: fc.array(pick, { maxLength: 2 }),
  decisionTo: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
  /** Lists kicked members as present to a distributor that takes over. */
  ghosts: fc.boolean(),
  /** Hands over the messages it held back, newest first. */
  flush: fc.boolean(),
});
type HostileStep = typeof hostileStep extends fc.Arbitrary<infer T> ? T : never;

/**
 * The same room under a relay that drops, delays (reorders), replays and pairs messages as it likes, hides present
 * members from each other and from the distributor, withholds kick decisions, and lists kicked members to a successor
 * as present. Each page runs its own Membership and pending commits; nothing is checked for agreement (silence is
 * allowed), only that nobody ever holds a key it was not given and no kicked member is keyed by anyone who knew.
 */
class HostileRoom implements Latest {
  readonly keys = deriveRoomKeys(generateRoomSecret());
  readonly people: Person[];
  present: Person[] = [];
  readonly removed = new Set<Person>();
  /**
   * Each kicked member: how many commits had been made when it was kicked, and who knows of it (the kicker, whoever
   * verified the decision, whoever took an epoch whose distributor knew).
   */
  readonly kicked = new Map<Person, { at: number; knowers: Set<Person> }>();
  /**
   * Every commit made, by transcript hash (two distributors may both make an epoch n when the relay splits them), in
   * order, with the kicked members its distributor knew of when it made it.
   */
  readonly issued = new Map<string, { epoch: number; secret: Uint8Array; order: number; knew: Set<Person> }>();
  distributor: Person;
  latest: IssuedCommit;
  private joins = 0;
  private readonly verified = new Map<Person, Map<Person, VerifiedMember>>();
  private delayed: (() => void)[] = [];
  private readonly history: (() => void)[] = [];
  private fates: Fate[] = ['deliver'];
  private fateAt = 0;
  private hidden = new Set<Person>();
  readonly seen = { dropped: 0, delayed: 0, replayed: 0, hidden: 0, ghosts: 0, decisionsWithheld: 0, kicks: 0, handovers: 0 };

  constructor(initial: Role[]) {
    this.people = Array.from({ length: POOL }, (_, i) => new Person(this.keys, `P${i}`));
    const [host, ...others] = this.people.slice(0, initial.length + 1) as [Person, ...Person[]];
    this.distributor = host;
    for (const p of [host, ...others]) this.admit(p);
    const roles = new Map<string, Role | 'host'>([[host.id, 'host'], ...others.map((p, i): [string, Role] => [p.id, initial[i]!])]);
    this.latest = this.publish(host.m.issueFresh(this.listFor(host), { roles }));
  }

  presentIds(): Set<string> {
    return new Set(this.present.map((p) => p.id));
  }

  /** What the relay lists to one member: everyone present but those it hides, and always the member itself. */
  private presentFor(p: Person): Set<string> {
    return new Set(this.present.filter((q) => q === p || !this.hidden.has(q)).map((q) => q.id));
  }

  private listFor(d: Person, ghosts: Person[] = []): VerifiedMember[] {
    return [...this.present.filter((p) => !this.hidden.has(p)), ...ghosts].flatMap((p) => {
      const v = this.verified.get(d)!.get(p);
      return v ? [v] : [];
    });
  }

  private admit(p: Person): void {
    p.joined(`participant-${++this.joins}`);
    if (p.m.current) p.m.restart();
    this.verified.set(p, new Map());
    for (const other of [...this.present, p]) {
      for (const [viewer, seen] of [
        [other, p],
        [p, other],
      ] as const) {
        const member = viewer.verify(seen);
        if (!member) throw new Error(`${viewer.name} could not verify ${seen.name}`);
        this.verified.get(viewer)!.set(seen, member);
      }
    }
    this.present.push(p);
    this.removed.delete(p);
  }

  private drop(p: Person): void {
    this.present = this.present.filter((q) => q !== p);
    this.removed.add(p);
  }

  private nextFate(): Fate {
    return this.fates[this.fateAt++ % this.fates.length]!;
  }

  /** One message to one member, with whatever it takes learning who was kicked (the epochs' distributors knew). */
  private send(to: Person, deliver: (present: Set<string>) => EpochState[]): void {
    const once = () => {
      for (const state of deliver(this.presentFor(to))) {
        for (const k of this.issued.get(toHex(state.hash))?.knew ?? []) this.kicked.get(k)!.knowers.add(to);
      }
    };
    const fate = this.nextFate();
    if (fate === 'drop') return void this.seen.dropped++;
    if (fate === 'delay') {
      this.seen.delayed++;
      return void this.delayed.push(once);
    }
    if (fate === 'replay' && this.history.length > 0) {
      this.seen.replayed++;
      this.history[this.fateAt % this.history.length]!();
    }
    once();
    this.history.push(once);
  }

  private publish(issued: IssuedCommit): IssuedCommit {
    const d = this.distributor;
    const knew = new Set([...this.kicked].filter(([, k]) => k.knowers.has(d)).map(([p]) => p));
    // The property: nobody who knew of a kick keys the kicked member again, whatever the relay lists.
    for (const k of knew)
      expect(
        issued.packages.map((p) => p.memberKeyId),
        `${d.name} keyed ${k.name}, kicked`,
      ).not.toContain(k.id);
    this.issued.set(toHex(issued.hash), { epoch: issued.epoch, secret: issued.secret, order: this.issued.size, knew });
    const pkgOf = new Map(issued.packages.map((p) => [p.memberKeyId, p.package]));
    // Present members, and the kicked, whom the relay keeps informed: headers and packages, together or apart.
    for (const p of [...this.present.filter((q) => q !== d), ...this.kicked.keys()]) {
      const pkg = pkgOf.get(p.id) ?? null;
      if (pkg && this.nextFate() === 'together') this.send(p, (present) => p.onHeader(issued.blob, issued.epoch, pkg, present));
      else {
        this.send(p, (present) => p.onHeader(issued.blob, issued.epoch, null, present));
        if (pkg) this.send(p, (present) => p.onPackage(pkg, issued.epoch, present));
      }
    }
    return issued;
  }

  private other(n: number): Person | null {
    const others = this.present.filter((p) => p !== this.distributor);
    return others.length ? others[n % others.length]! : null;
  }

  /**
   * A page whose relay hid the distributor from it took itself for the distributor and made an epoch of a decision
   * (rare in these runs): the relay drops it, but nobody who knew of a kick may have keyed the kicked member in it either.
   */
  private madeAside(by: Person, commit: Extract<Effect, { kind: 'commit' }>): void {
    const knew = new Set([...this.kicked].filter(([, k]) => k.knowers.has(by)).map(([p]) => p));
    const addressed = commit.packages.flat().map((p) => p.to);
    for (const k of knew) expect(addressed, `${by.name} keyed ${k.name}, kicked`).not.toContain(k.participantId);
    const mine = by.m.current!;
    this.issued.set(toHex(mine.hash), { epoch: mine.epoch, secret: mine.secret, order: this.issued.size, knew });
  }

  apply(h: HostileStep): IssuedCommit | null {
    this.fates = h.fates;
    if (h.flush) {
      const held = this.delayed.reverse();
      this.delayed = [];
      for (const deliver of held) deliver();
    }
    this.hidden = new Set(h.hide.map((n) => this.other(n)).filter((p): p is Person => p !== null));
    this.seen.hidden += this.hidden.size;
    const d = this.distributor;
    const s = h.step;
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
        if (leaving.size > 0) return this.publish(d.m.issueFresh(this.listFor(d)));
        const shown = newcomers.filter((p) => !this.hidden.has(p));
        if (shown.length > 0 && d.m.current?.members) return this.publish(d.m.issueRatchet(this.listFor(d).filter((v) => shown.some((p) => p.id === v.memberKeyId))));
        return null;
      }
      case 'kick': {
        const target = this.other(s.who);
        if (!target) return null;
        const blob = d.m.decide('kick', target.id);
        let checked: ReturnType<Membership['check']>;
        try {
          checked = d.m.check(blob);
        } catch (error) {
          if (error instanceof MembershipError && error.code === 'FORBIDDEN') return null;
          throw error;
        }
        d.m.markApplied(checked.decision);
        d.m.record(checked.effect);
        this.seen.kicks++;
        const knowers = new Set([d]);
        // The decision goes to the stage, to each page's core, unless the relay keeps it back.
        const stage = new Set(d.m.current!.stage.map((m) => m.memberKeyId));
        const made: { by: Person; commit: Extract<Effect, { kind: 'commit' }> }[] = [];
        this.present
          .filter((p) => p !== d && p !== target && stage.has(p.id))
          .forEach((p, i) => {
            if (!h.decisionTo[i % h.decisionTo.length]) return void this.seen.decisionsWithheld++;
            const refusedBefore = p.rejected.decisions;
            const held = p.m.current !== null;
            for (const commit of p.onDecision(blob, this.presentFor(p))) made.push({ by: p, commit });
            // Verified (a member with no epoch yet, or that never verified the signer, learns nothing): it knows now.
            if (held && p.rejected.decisions === refusedBefore) knowers.add(p);
          });
        this.drop(target);
        this.kicked.set(target, { at: this.issued.size, knowers });
        for (const { by, commit } of made) this.madeAside(by, commit);
        return this.publish(d.m.issueFresh(this.listFor(d)));
      }
      case 'role': {
        const target = this.other(s.who);
        if (!target || !d.m.current?.members) return null;
        return this.publish(d.m.issueRatchet([], { roles: new Map([[target.id, s.role]]) }));
      }
      case 'handover': {
        const rest = this.presentIds();
        rest.delete(d.id);
        const next = this.present.find((p) => p.id === d.m.handOver().find((id) => rest.has(id)));
        if (!next?.m.current || !next.m.isDistributor(rest)) return null;
        this.seen.handovers++;
        this.drop(d);
        this.distributor = next;
        // The relay may list kicked members to the successor as present: those it knows of must stay out.
        const ghosts = h.ghosts ? [...this.kicked].filter(([, k]) => k.knowers.has(next)).map(([p]) => p) : [];
        this.seen.ghosts += ghosts.length;
        return this.publish(next.m.issueFresh(this.listFor(next, ghosts)));
      }
    }
  }

  /** Nobody holds a key it was not given: every epoch a member holds is one the distributor made, secret and all. */
  noForeignKeys(): void {
    for (const p of this.people) {
      const mine = p.m.current;
      if (!mine) continue;
      const made = this.issued.get(toHex(mine.hash));
      expect(made, `${p.name} holds an epoch ${mine.epoch} nobody made`).toBeDefined();
      expect({ epoch: mine.epoch, secret: toHex(mine.secret) }).toEqual({ epoch: made!.epoch, secret: toHex(made!.secret) });
    }
    // A kicked member holds at most an epoch made before its kick.
    for (const [k, { at }] of this.kicked) if (k.m.current) expect(this.issued.get(toHex(k.m.current.hash))!.order, k.name).toBeLessThan(at);
  }
}

describe('per-recipient delivery under a relay that drops, reorders, replays and hides members', () => {
  it('nobody holds a key it was not given, and nobody who knew of a kick keys the kicked member again', () => {
    const totals = { commits: 0, refused: 0, dropped: 0, delayed: 0, replayed: 0, hidden: 0, ghosts: 0, decisionsWithheld: 0, kicks: 0, handovers: 0, lockedOutChecks: 0 };
    fc.assert(
      fc.property(fc.array(ROLE, { minLength: 1, maxLength: 4 }), fc.array(hostileStep, { minLength: 1, maxLength: STEPS, size: 'max' }), (initial, steps) => {
        const room = new HostileRoom(initial);
        for (const h of steps) {
          const issued = room.apply(h);
          if (issued) {
            totals.commits++;
            room.latest = issued;
          }
          room.noForeignKeys();
          for (const r of room.removed) lockedOut(r, room);
          totals.lockedOutChecks += room.removed.size;
        }
        for (const key of Object.keys(room.seen) as (keyof HostileRoom['seen'])[]) totals[key] += room.seen[key];
        totals.refused += room.people.reduce((n, p) => n + p.refused, 0);
      }),
      // A fixed seed: the coverage checks below count rare events (a ghost needs a kick the next distributor knew of,
      // then a hand-over in which the relay lists the kicked member), and with a random seed about one run in six saw
      // too few of them. Every run still checks the property over the same 100 generated rooms.
      { numRuns: 100, seed: 26 },
    );
    // The generator reaches what the property is about.
    expect(totals.commits).toBeGreaterThan(300);
    expect(totals.kicks).toBeGreaterThan(30);
    expect(totals.handovers).toBeGreaterThan(20);
    expect(totals.ghosts).toBeGreaterThan(5);
    expect(totals.decisionsWithheld).toBeGreaterThan(5);
    for (const key of ['refused', 'dropped', 'delayed', 'replayed', 'hidden'] as const) expect(totals[key], key).toBeGreaterThan(50);
    expect(totals.lockedOutChecks).toBeGreaterThan(300);
  }, 180_000);
});
