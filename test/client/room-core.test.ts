// The room core driven by inputs alone, as the page's shell drives it: the flows the browser tests reach, here in milliseconds, with a relay that lies.
import { beforeAll, describe, expect, it } from 'vitest';
import { createAnnouncement, deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, type RoomKeys } from '../../crypto/index.ts';
import type { ParticipantSnapshot } from '../../protocol/messages.ts';
import type { Effect } from '../../client/src/session/core/effects.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import { Roster } from '../../client/src/session/core/roster.ts';

beforeAll(() => initCrypto());

type Commit = Extract<Effect, { kind: 'commit' }>;

/** One page's core, with what the relay knows of it. */
class Page {
  readonly core: RoomCore;
  readonly announcement: string;
  readonly snapshot: ParticipantSnapshot;
  readonly rejected = { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 };

  constructor(keys: RoomKeys, name: string, seq: number) {
    const identity = generateIdentity();
    this.core = new RoomCore(keys, identity, new Roster(), this.rejected);
    this.core.roster.me = `p-${name}`;
    this.announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });
    this.snapshot = { participantId: `p-${name}`, role: 'listener', announcement: this.announcement, joinedSeq: seq, handRaisedSeq: null, muted: false, producerIds: [] };
  }

  get id(): string {
    return this.core.agent.me;
  }

  get epoch(): number | null {
    return this.core.agent.current?.epoch ?? null;
  }
}

const kinds = (effects: Effect[]) => effects.map((e) => (e.kind === 'request' ? `request:${e.type}` : e.kind));
const commitsOf = (effects: Effect[]) => effects.filter((e): e is Commit => e.kind === 'commit');

/** The header with this page's package, as the relay hands a commit to one member; null when it carries none for it. */
function packageFor(commit: Commit, page: Page): string | null {
  for (const message of commit.packages) for (const p of message) if (p.to === page.snapshot.participantId) return p.package;
  return null;
}

function deliver(commit: Commit, page: Page): Effect[] {
  return page.core.step({ kind: 'key.commit', commit: commit.blob, epoch: commit.epoch, package: packageFor(commit, page) });
}

/** A room whose host made the first epoch, with the others joined one by one and keyed. */
function room(names: string[], now = 0) {
  const keys = deriveRoomKeys(generateRoomSecret());
  const pages = names.map((n, i) => new Page(keys, n, i + 1));
  const [host, ...others] = pages as [Page, ...Page[]];
  host.core.roster.members.set(host.snapshot.participantId, { snapshot: { ...host.snapshot, role: 'host' }, verified: null, speaking: false });
  const [first] = commitsOf(host.core.distributeFresh(new Map([[host.id, 'host' as const]])));
  for (const joiner of others) {
    // Each joiner is told of everyone present; everyone present is told of the joiner.
    for (const p of pages) if (p !== joiner && p.epoch !== null) joiner.core.step({ kind: 'peer.joined', participant: p.snapshot, now });
    for (const p of pages)
      if (p !== joiner && p.epoch !== null) {
        const [commit] = commitsOf(p.core.step({ kind: 'peer.joined', participant: joiner.snapshot, now }));
        if (commit) for (const q of pages) if (q !== p && (q.epoch !== null || q === joiner)) deliver(commit, q);
      }
  }
  return { keys, pages, host, first: first! };
}

describe('room core: keys and commits driven by inputs', () => {
  it('takes a commit whose package arrives before its header, and one whose predecessor arrives after it', () => {
    const { pages, host } = room(['host', 'a', 'b']);
    const [, a, b] = pages as [Page, Page, Page];
    host.core.rotateOnKick = false;
    // A fresh epoch (b kicked) and a ratchet after it (a lock): the relay hands member a the ratchet first, then the
    // fresh epoch's package alone, then its header alone.
    const fresh = commitsOf(host.core.decide('kick', b.id).effects)[0]!;
    const lock = commitsOf(host.core.decide('lock', null).effects)[0]!;
    const epochsIn = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'epoch' ? [e.state.epoch] : []));
    expect(epochsIn(a.core.step({ kind: 'key.commit', commit: lock.blob, epoch: lock.epoch, package: null }))).toEqual([]);
    expect(epochsIn(a.core.step({ kind: 'key.package', package: packageFor(fresh, a)!, epoch: fresh.epoch }))).toEqual([]);
    expect(epochsIn(a.core.step({ kind: 'key.commit', commit: fresh.blob, epoch: fresh.epoch, package: null }))).toEqual([fresh.epoch, lock.epoch]);
    expect(a.epoch).toBe(host.epoch);
    expect(a.core.agent.current!.locked).toBe(true);
    expect(a.rejected.commits).toBe(0);
  });

  it('gathers a second join within the window into one ratchet, sent when the window closes', () => {
    const { pages, host, keys } = room(['host', 'a']);
    host.core.keyBatchMs = 500;
    const b = new Page(keys, 'b', 3);
    const c = new Page(keys, 'c', 4);
    // The room was keyed at 0: a join at 100 waits for the window, and one at 200 joins it.
    const first = host.core.step({ kind: 'peer.joined', participant: b.snapshot, now: 100 });
    expect(kinds(first)).toEqual(['batch-timer', 'render']);
    expect(first[0]).toEqual({ kind: 'batch-timer', ms: 400 });
    expect(kinds(host.core.step({ kind: 'peer.joined', participant: c.snapshot, now: 200 }))).toEqual(['render']);
    const due = host.core.step({ kind: 'batch-timer', now: 500 });
    const commits = commitsOf(due);
    expect(commits).toHaveLength(1);
    expect(kinds(due)).toEqual(['epoch', 'commit']);
    for (const p of [b, c]) {
      for (const q of [host, ...pages.slice(1)]) p.core.step({ kind: 'peer.joined', participant: q.snapshot, now: 500 });
      deliver(commits[0]!, p);
      expect(p.epoch).toBe(host.epoch);
    }
  });

  it('leaves a kicked member out of the next epoch, and a relay that hands it the header gets it nothing', () => {
    const { pages, host } = room(['host', 'a', 'b']);
    const [, a, b] = pages as [Page, Page, Page];
    host.core.rotateOnKick = false;
    const { effects } = host.core.decide('kick', b.id);
    const [fresh] = commitsOf(effects);
    expect(fresh).toBeDefined();
    expect(packageFor(fresh!, b)).toBeNull();
    const before = b.epoch;
    // The relay forwards the header, and a's package, to the kicked member.
    b.core.step({ kind: 'key.commit', commit: fresh!.blob, epoch: fresh!.epoch, package: packageFor(fresh!, a) });
    expect(b.epoch).toBe(before);
    deliver(fresh!, a);
    expect(a.epoch).toBe(host.epoch);
    // A relay that later withholds a's next commit cannot get a confirmation of the old epoch from the distributor.
    const challenged = host.core.step({ kind: 'epoch.challenge', from: a.snapshot.participantId, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    expect(kinds(challenged)).toEqual(['request:epoch.confirm']);
  });

  it('a member whose last commit the relay dropped asks the distributor again once frames of that epoch keep being held, and takes the resend', () => {
    const { pages, host } = room(['host', 'a', 'b']);
    const [, a, b] = pages as [Page, Page, Page];
    const behind = a.epoch!;
    // A lock's ratchet reaches b; a's is dropped, and no commit follows to show a the gap.
    const [lock] = commitsOf(host.core.decide('lock', null).effects);
    deliver(lock!, b);
    expect(b.epoch).toBe(behind + 1);
    const ahead = behind + 1;
    // The host's frames come under the new epoch and are held: for a while that is a commit on its way.
    expect(a.core.framesHeld({ held: 10, ahead, jitter: 0, now: 1_000 })).toEqual([]);
    expect(a.core.framesHeld({ held: 60, ahead, jitter: 0, now: 2_000 })).toEqual([]);
    // Three seconds of it: the distributor of a's epoch is asked, once, and not again at the next reading.
    expect(a.core.framesHeld({ held: 160, ahead, jitter: 0, now: 4_000 })).toEqual([host.snapshot.participantId]);
    expect(a.core.framesHeld({ held: 170, ahead, jitter: 0, now: 4_250 })).toEqual([]);
    // The host, asked, resends the current epoch under a's own package; a takes it.
    const resent = host.core.step({ kind: 'key.resend', from: a.snapshot.participantId, now: 4_300 });
    const request = resent.find((e) => e.kind === 'request' && e.type === 'key.commit');
    expect(request).toBeDefined();
    const payload = (request as Extract<Effect, { kind: 'request' }>).payload as { commit: string; epoch: number; packages: { to: string; package: string }[] };
    expect(payload.packages.map((p) => p.to)).toEqual([a.snapshot.participantId]);
    a.core.step({ kind: 'key.commit', commit: payload.commit, epoch: payload.epoch, package: payload.packages[0]!.package });
    expect(a.epoch).toBe(host.epoch);
    // Caught up: the held frames now play, and nothing more is asked.
    expect(a.core.framesHeld({ held: 400, ahead, jitter: 0, now: 20_000 })).toEqual([]);
    // The distributor itself has nobody to ask; frames of an epoch already held ask nothing of anyone.
    expect(host.core.framesHeld({ held: 10, ahead: host.epoch! + 1, jitter: 0, now: 0 })).toEqual([]);
    expect(host.core.framesHeld({ held: 500, ahead: host.epoch! + 1, jitter: 0, now: 10_000 })).toEqual([]);
    expect(b.core.framesHeld({ held: 10, ahead, jitter: 0, now: 0 })).toEqual([]);
    expect(b.core.framesHeld({ held: 500, ahead, jitter: 0, now: 10_000 })).toEqual([]);
  });

  it('hands over at once when the distributor leaves: the next in order goes fresh, and the others take it', () => {
    const { pages, host } = room(['host', 'a', 'b']);
    const [, a, b] = pages as [Page, Page, Page];
    // Member a is named moderator, so the signed hand-over order names it after the host.
    for (const commit of commitsOf(host.core.decide('set-moderator', a.id).effects)) for (const p of [a, b]) deliver(commit, p);
    const left = a.core.step({ kind: 'peer.left', participantId: host.snapshot.participantId, now: 10 });
    expect(kinds(left)).toEqual(['epoch', 'commit', 'render']);
    b.core.step({ kind: 'peer.left', participantId: host.snapshot.participantId, now: 10 });
    deliver(commitsOf(left)[0]!, b);
    expect(b.epoch).toBe(a.epoch);
    expect(b.core.agent.current!.distributor).toBe(a.id);
  });

  it('after a rebuild, gives a former speaker its seat back only once keyed, after the commit that keys it', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = new Page(keys, 'host', 1);
    const speaker = new Page(keys, 'speaker', 2);
    host.core.formerMembers = { keyIds: new Set([speaker.id]), admitted: new Set(), until: 60_000, seats: new Map([[speaker.id, 'speaker']]), restored: new Set() };
    host.core.distributeFresh(new Map([[host.id, 'host' as const]]));
    const joined = host.core.step({ kind: 'peer.joined', participant: speaker.snapshot, now: 1_000 });
    expect(kinds(joined)).toEqual(['epoch', 'commit', 'render', 'restore-seat']);
    expect(joined.at(-1)).toMatchObject({ kind: 'restore-seat', participantId: speaker.snapshot.participantId, seat: 'speaker' });
    // Given back once: the next epoch restores nothing again.
    expect(kinds(host.core.decide('lock', null).effects)).not.toContain('restore-seat');
  });

  it('after a rebuild, a relay that lists a stranger in the lobby gets it no admission; a former member is admitted once', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = new Page(keys, 'host', 1);
    const former = new Page(keys, 'former', 2);
    const stranger = new Page(keys, 'stranger', 3);
    host.core.roster.members.set(host.snapshot.participantId, { snapshot: host.snapshot, verified: null, speaking: false });
    host.core.formerMembers = { keyIds: new Set([former.id]), admitted: new Set(), until: 60_000, seats: new Map(), restored: new Set() };
    host.core.distributeFresh(new Map([[host.id, 'host' as const]]));
    const lobby = [former, stranger].map((p) => ({ participantId: p.snapshot.participantId, announcement: p.announcement }));
    const admitted = host.core.admitFormer(lobby, 1_000).filter((e) => e.kind === 'request');
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ type: 'lobby.admit', payload: { participantId: former.snapshot.participantId } });
    expect(host.core.admitFormer(lobby, 1_000).filter((e) => e.kind === 'request')).toEqual([]);
    // Past the rebuild's deadline nobody is let in by the old list.
    host.core.formerMembers.admitted.clear();
    expect(host.core.admitFormer(lobby, 120_000)).toEqual([]);
  });
});
