// The room core's KEM offers (hybrid pairwise keys): who offers to whom and when, and how a distributor waits for, keys, or skips a newcomer by its offer, with a relay that withholds or forges offers.
import { beforeAll, describe, expect, it } from 'vitest';
import { deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, type RoomKeys } from '../../crypto/index.ts';
import type { ParticipantSnapshot } from '../../protocol/messages.ts';
import type { Effect } from '../../client/src/session/core/effects.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import { Roster } from '../../client/src/session/core/roster.ts';

beforeAll(() => initCrypto());

type Commit = Extract<Effect, { kind: 'commit' }>;
type Offers = { to: string; offer: string }[];

const WINDOW = 500;

class Page {
  readonly core: RoomCore;
  readonly rejected = { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 };
  snapshot: ParticipantSnapshot;
  readonly keys: RoomKeys;
  readonly name: string;

  /** `before`: the page this one replaces in the same tab (a reload), whose identity and KEM key it keeps. */
  constructor(keys: RoomKeys, name: string, kem: boolean, before?: Page) {
    this.keys = keys;
    this.name = name;
    this.core = new RoomCore(keys, before?.core.agent.identity ?? generateIdentity(), new Roster(), this.rejected, before?.core.agent.kem);
    this.core.roster.me = `p-${name}`;
    this.core.keyBatchMs = WINDOW;
    this.snapshot = { participantId: `p-${name}`, role: kem ? 'host' : 'listener', announcement: this.announce(kem), joinedSeq: 1, handRaisedSeq: null, muted: false, producerIds: [] };
  }

  announce(kem: boolean): string {
    return this.core.agent.announce(sealMetadata(this.keys.metaKey, this.keys.roomId, 'profile', { name: this.name }), kem);
  }
}

const commitsOf = (effects: Effect[]) => effects.filter((e): e is Commit => e.kind === 'commit');
const offersIn = (effects: Effect[]): Offers => effects.flatMap((e) => (e.kind === 'request' && e.type === 'key.kem' ? (e.payload as { offers: Offers }).offers : []));
const noticesIn = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'notice' ? [e.text] : []));
/** The epochs a distributor sends one member again (`key.commit` to it alone). */
const resentIn = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'request' && e.type === 'key.commit' ? [e.payload as { commit: string; epoch: number; packages: { to: string; package: string }[]; to: string }] : []));

function packageFor(commit: Commit, page: Page): string | null {
  for (const message of commit.packages) for (const p of message) if (p.to === page.snapshot.participantId) return p.package;
  return null;
}

/** A host that published its KEM key, with its first epoch, and a listener that joined and was shown the host. */
function room() {
  const keys = deriveRoomKeys(generateRoomSecret());
  const host = new Page(keys, 'host', true);
  const listener = new Page(keys, 'listener', false);
  host.core.roster.members.set(host.snapshot.participantId, { snapshot: host.snapshot, verified: null, speaking: false });
  host.core.distributeFresh(new Map([[host.core.agent.me, 'host' as const]]));
  // The relay tells the host of the join before the newcomer hears its reply (and so before any offer).
  const atJoin = host.core.step({ kind: 'peer.joined', participant: listener.snapshot, now: 1_000 });
  const offers = offersIn(listener.core.step({ kind: 'peer.joined', participant: host.snapshot, now: 1_000 }));
  return { host, listener, atJoin, offers };
}

describe('room core: KEM offers for hybrid pairwise keys', () => {
  it('a newcomer offers to the KEM-publishing distributor, which waits for the offer and then keys it under a hybrid key', () => {
    const { host, listener, atJoin, offers } = room();
    expect(offers.map((o) => o.to)).toEqual([host.snapshot.participantId]);
    // No commit before the offer: sealing now could only skip an honest newcomer.
    expect(commitsOf(atJoin)).toEqual([]);
    expect(atJoin.some((e) => e.kind === 'batch-timer')).toBe(true);
    const taken = host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: offers[0]!.offer, now: 1_050 });
    const [commit] = commitsOf(taken);
    expect(noticesIn(taken)).toEqual([]);
    const opened = listener.core.step({ kind: 'key.commit', commit: commit!.blob, epoch: commit!.epoch, package: packageFor(commit!, listener) });
    expect(opened.some((e) => e.kind === 'epoch')).toBe(true);
    expect(listener.core.agent.current!.secret).toEqual(host.core.agent.current!.secret);
    expect(host.core.agent.sealed).toEqual({ hybrid: 1, classical: 0 });
    // The window closing later commits nothing more: the newcomer no longer waits.
    expect(commitsOf(host.core.step({ kind: 'batch-timer', now: 1_000 + WINDOW }))).toEqual([]);
  });

  it('a newcomer whose offer the relay withholds is skipped and reported at the window, and keyed once its offer arrives', () => {
    const { host, listener, offers } = room();
    const closed = host.core.step({ kind: 'batch-timer', now: 1_000 + WINDOW });
    const [skipping] = commitsOf(closed);
    expect(packageFor(skipping!, listener)).toBeNull();
    expect(noticesIn(closed)).toEqual([expect.stringContaining('1 member')]);
    expect(host.core.holdsKeys(listener.core.agent.me)).toBe(false);
    // Without its package the listener holds no epoch.
    listener.core.step({ kind: 'key.commit', commit: skipping!.blob, epoch: skipping!.epoch, package: null });
    expect(listener.core.agent.current).toBeNull();
    const [keying] = commitsOf(host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: offers[0]!.offer, now: 5_000 }));
    listener.core.step({ kind: 'key.commit', commit: keying!.blob, epoch: keying!.epoch, package: packageFor(keying!, listener) });
    expect(listener.core.agent.current!.secret).toEqual(host.core.agent.current!.secret);
  });

  it("a reload that came back as a new participant offers again: an epoch sealed under the old page's offer is sent again under the new one", () => {
    const { host, listener, offers } = room();
    const [first] = commitsOf(host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: offers[0]!.offer, now: 1_050 }));
    listener.core.step({ kind: 'key.commit', commit: first!.blob, epoch: first!.epoch, package: packageFor(first!, listener) });
    // The old page is gone past its grace; its new page (the same member, from the tab's storage) joins before the
    // leave's fresh epoch, which therefore seals to the member under the old page's offer.
    host.core.step({ kind: 'peer.left', participantId: listener.snapshot.participantId, now: 2_000 });
    const reloaded = new Page(listener.keys, 'listener-again', false, listener);
    host.core.step({ kind: 'peer.joined', participant: reloaded.snapshot, now: 2_100 });
    const [fresh] = commitsOf(host.core.step({ kind: 'batch-timer', now: 2_000 + WINDOW }));
    const newOffers = offersIn(reloaded.core.step({ kind: 'peer.joined', participant: host.snapshot, now: 2_100 }));
    reloaded.core.step({ kind: 'key.commit', commit: fresh!.blob, epoch: fresh!.epoch, package: packageFor(fresh!, reloaded) });
    expect(reloaded.core.agent.current).toBeNull();
    const again = host.core.step({ kind: 'key.kem', from: reloaded.snapshot.participantId, offer: newOffers[0]!.offer, now: 2_700 });
    const resent = resentIn(again);
    expect(resent.map((r) => r.to)).toEqual([reloaded.snapshot.participantId]);
    reloaded.core.step({ kind: 'key.commit', commit: resent[0]!.commit, epoch: resent[0]!.epoch, package: resent[0]!.packages[0]!.package });
    expect(reloaded.core.agent.current!.secret).toEqual(host.core.agent.current!.secret);
    // The same offer again (a relay replaying it) changes no key and sends nothing.
    const replayed = host.core.step({ kind: 'key.kem', from: reloaded.snapshot.participantId, offer: newOffers[0]!.offer, now: 2_800 });
    expect(replayed.filter((e) => e.kind === 'request' || e.kind === 'commit')).toEqual([]);
    // The old page's offer replayed under the new participant: the epoch goes to that participant alone again, under
    // a key its page cannot make, so the page keeps what it holds and nobody else gets a package (silence, not a leak).
    const held = reloaded.core.agent.current!;
    const oldOffer = host.core.step({ kind: 'key.kem', from: reloaded.snapshot.participantId, offer: offers[0]!.offer, now: 2_900 });
    const underOld = resentIn(oldOffer);
    expect(underOld.flatMap((r) => [r.to, ...r.packages.map((p) => p.to)])).toEqual([reloaded.snapshot.participantId, reloaded.snapshot.participantId]);
    reloaded.core.step({ kind: 'key.commit', commit: underOld[0]!.commit, epoch: underOld[0]!.epoch, package: underOld[0]!.packages[0]!.package });
    expect(reloaded.core.agent.current).toBe(held);
  });

  it('an offer the relay forges, or names from someone unverified, is counted and keys nobody', () => {
    const { host, listener, offers } = room();
    const forged = offers[0]!.offer.slice(0, -4) + (offers[0]!.offer.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(commitsOf(host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: forged, now: 1_010 }))).toEqual([]);
    expect(commitsOf(host.core.step({ kind: 'key.kem', from: 'p-nobody', offer: offers[0]!.offer, now: 1_020 }))).toEqual([]);
    expect(host.rejected.offers).toBe(2);
    // The forged offer did not replace the real one: it still keys the listener.
    const [commit] = commitsOf(host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: offers[0]!.offer, now: 1_030 }));
    expect(packageFor(commit!, listener)).not.toBeNull();
  });

  it('a member offers again to one that re-announced with a new KEM key (coming onto the stage), and only then', () => {
    const { host, listener } = room();
    const member = host.core.roster.members.get(listener.snapshot.participantId)!;
    // The same announcement again, or one without a KEM key: nothing to offer to.
    expect(offersIn(host.core.reverified(member, host.core.agent.verify(listener.snapshot.participantId, listener.snapshot.announcement)!, 2_000))).toEqual([]);
    const onStage = listener.announce(true);
    const offers = offersIn(host.core.reverified(member, host.core.agent.verify(listener.snapshot.participantId, onStage)!, 2_100));
    expect(offers.map((o) => o.to)).toEqual([listener.snapshot.participantId]);
    expect(offersIn(host.core.reverified(member, host.core.agent.verify(listener.snapshot.participantId, onStage)!, 2_200))).toEqual([]);
  });

  it('a member put on the signed stage asks once to re-announce with its KEM key', () => {
    const { host, listener, offers } = room();
    const [commit] = commitsOf(host.core.step({ kind: 'key.kem', from: listener.snapshot.participantId, offer: offers[0]!.offer, now: 1_050 }));
    listener.core.step({ kind: 'key.commit', commit: commit!.blob, epoch: commit!.epoch, package: packageFor(commit!, listener) });
    const { effects } = host.core.decide('invite', listener.core.agent.me, undefined, 3_000);
    expect(commitsOf(effects)).toEqual([]);
    const invitation = host.core.agent.decide('invite', listener.core.agent.me);
    const accept = listener.core.decide('accept', listener.core.agent.me, invitation, 3_100).blob;
    const [ratchet] = commitsOf(host.core.step({ kind: 'stage.decision', decision: accept, now: 3_200 }));
    const onStage = listener.core.step({ kind: 'key.commit', commit: ratchet!.blob, epoch: ratchet!.epoch, package: null });
    expect(onStage.filter((e) => e.kind === 'reannounce-kem')).toHaveLength(1);
    expect(listener.core.agent.current!.myIndex).not.toBeNull();
  });
});
