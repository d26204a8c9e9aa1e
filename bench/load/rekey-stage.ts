// The rekey benchmark's stage process: the host (the browser's Membership) and, for a hand-over, a moderator run by the page's own RoomCore; both take the members' KEM offers from the relay.
import type { Socket } from 'socket.io-client';
import { deriveRoomKeys, fromHex, generateIdentity, initCrypto, sealMetadata, toHex, type RoomKeys, type RosterRole } from '../../crypto/index.ts';
import type { Effect } from '../../client/src/session/core/effects.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import { Roster } from '../../client/src/session/core/roster.ts';
import { Membership, type IssuedCommit, type VerifiedMember } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import { LIMITS, type EventOf, type ParticipantSnapshot } from '../../protocol/messages.ts';
import { median } from '../report.ts';
import { answer, wallMs } from './conversation.ts';
import { connect, until } from './waits.ts';

/** A stage member as the members need it: to verify it and offer to its KEM key. */
export interface StageMember {
  participantId: string;
  announcement: string;
}

export interface StageOpened {
  host: StageMember;
  moderator: StageMember | null;
  keyBatchMs: number;
}

/** What the rekey's distributor did, by its own clock (wall milliseconds, comparable across the bench's processes). */
export interface StageRekey {
  epoch: number;
  secretHex: string;
  /** The distributor's own time: from the leave reaching it to its commit built, and to its last message acknowledged. */
  buildMs: number;
  sendMs: number;
  /** When the leave reached the distributor (peer.left), and when the host asked to leave (hand-over only). */
  leftAt: number;
  leaveAt: number | null;
  uploadBytes: number;
  headerBytes: number;
  packageBytes: number;
  packages: number;
  /** Participants given a package: the leaver must not be one. */
  recipients: string[];
  /** Members the commit left out for want of a pairwise key (an offer that never came): must be none. */
  skipped: number;
  /** Every package of the rekey sealed under the kind of pairwise key asked for, and the first epoch's too. */
  sealedAsAsked: boolean;
  /** The commit came from the member the hand-over order names: the moderator once the host left, else the host. */
  byExpected: boolean;
  cpuMs: number;
  takeOfferMs: number;
}

/** What a distributor sends for a commit, as the page's shell does (shell/effects.ts): header with the first packages, the rest after. */
async function sendCommit(socket: Socket, commit: Extract<Effect, { kind: 'commit' }>): Promise<number> {
  const [first, ...rest] = commit.packages;
  const head = { commit: commit.blob, epoch: commit.epoch, packages: first!, ...(commit.fresh ? { withPackages: true as const } : {}) };
  let uploaded = JSON.stringify(head).length;
  await request(socket, 'key.commit', head);
  for (const packages of rest) {
    const more = { epoch: commit.epoch, packages };
    uploaded += JSON.stringify(more).length;
    await request(socket, 'key.packages', more);
  }
  return uploaded;
}

function addressed(issued: IssuedCommit, participantOf: ReadonlyMap<string, string>): Extract<Effect, { kind: 'commit' }> {
  const packages: { to: string; package: string }[][] = [];
  for (let i = 0; i < issued.packages.length; i += LIMITS.packagesPerMessage) {
    packages.push(issued.packages.slice(i, i + LIMITS.packagesPerMessage).map((p) => ({ to: participantOf.get(p.memberKeyId)!, package: p.package })));
  }
  return { kind: 'commit', epoch: issued.epoch, blob: issued.blob, fresh: issued.kind === 'fresh', packages: packages.length > 0 ? packages : [[]] };
}

interface Host {
  socket: Socket;
  membership: Membership;
  participantId: string;
  announcement: string;
  /** Members as the host verified them from the relay's peer.joined, by participant: the page's roster. */
  verified: Map<string, VerifiedMember>;
  offersTaken: number;
  takeTimes: number[];
}

interface Moderator {
  socket: Socket;
  core: RoomCore;
  participantId: string;
  announcement: string;
}

let keys: RoomKeys;
let hybrid = false;
let host: Host | null = null;
let moderator: Moderator | null = null;
let firstEpoch = 0;
let firstSealed = { hybrid: 0, classical: 0 };
let cpu0 = process.cpuUsage();

const cpuSince = () => {
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
};

/** The moderator's page: each relay event becomes an input of its RoomCore, and the effects it asks for are run. */
function step(m: Moderator, effects: Effect[]): Promise<number> {
  let uploaded = Promise.resolve(0);
  for (const effect of effects) {
    if (effect.kind === 'commit') uploaded = sendCommit(m.socket, effect);
    // Its own KEM offer to the host (key.kem), as the page sends it; the rest (render, notices) has no page to show.
    else if (effect.kind === 'request') void request(m.socket, effect.type, effect.payload as never).catch(() => undefined);
  }
  return uploaded;
}

async function open(command: { url: string; roomSecretHex: string; hybrid: boolean; moderator: boolean }): Promise<StageOpened> {
  await initCrypto();
  keys = deriveRoomKeys(fromHex(command.roomSecretHex));
  hybrid = command.hybrid;
  const membership = new Membership(keys, generateIdentity());
  const announcement = membership.announce(sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Host' }), hybrid);
  const socket = await connect(command.url);
  const h: Host = { socket, membership, participantId: '', announcement, verified: new Map(), offersTaken: 0, takeTimes: [] };
  socket.on('peer.joined', ({ participant }: EventOf<'peer.joined'>) => {
    const verified = membership.verify(participant.participantId, participant.announcement);
    if (verified) h.verified.set(participant.participantId, verified);
  });
  // The offers members make at their join, each a decapsulation and a signature check: join-time costs, not the rekey's.
  socket.on('key.kem', ({ from, offer }: EventOf<'key.kem'>) => {
    const member = h.verified.get(from);
    const t = performance.now();
    if (member && membership.takeOffer(member.memberKeyId, offer)) {
      h.takeTimes.push(performance.now() - t);
      h.offersTaken++;
    }
  });
  const created = await request(socket, 'room.create', { roomId: keys.roomId, announcement, sealedTitle: sealMetadata(keys.metaKey, keys.roomId, 'room-title', 'Bench') });
  h.participantId = created.participantId;
  host = h;
  if (command.moderator) moderator = await joinModerator(command.url, created.participantId, announcement);
  return {
    host: { participantId: h.participantId, announcement },
    moderator: moderator ? { participantId: moderator.participantId, announcement: moderator.announcement } : null,
    keyBatchMs: created.keyBatchMs,
  };
}

/** The second on stage: joins as a listener, is named moderator by the host (the relay's role), publishes its KEM key. */
async function joinModerator(url: string, hostId: string, hostAnnouncement: string): Promise<Moderator> {
  const core = new RoomCore(keys, generateIdentity(), new Roster(), { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 });
  const announcement = core.agent.announce(sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Moderator' }), hybrid);
  const socket = await connect(url);
  const m: Moderator = { socket, core, participantId: '', announcement };
  socket.on('peer.joined', ({ participant }: EventOf<'peer.joined'>) => void step(m, core.step({ kind: 'peer.joined', participant, now: Date.now() })));
  socket.on('key.kem', ({ from, offer }: EventOf<'key.kem'>) => void step(m, core.step({ kind: 'key.kem', from, offer, now: Date.now() })));
  socket.on('key.commit', (p: EventOf<'key.commit'>) => void step(m, core.step({ kind: 'key.commit', commit: p.commit, epoch: p.epoch, package: p.package ?? null })));
  const joined = await request(socket, 'room.join', { roomId: keys.roomId, announcement });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  m.participantId = joined.participantId;
  core.roster.me = joined.participantId;
  core.keyBatchMs = joined.keyBatchMs;
  // The host from the join reply, as the page takes it: verified, and offered to.
  const snapshot: ParticipantSnapshot = joined.room.participants.find((p) => p.participantId === hostId) ?? {
    participantId: hostId,
    role: 'host',
    announcement: hostAnnouncement,
    joinedSeq: 0,
    handRaisedSeq: null,
    muted: false,
    producerIds: [],
  };
  await step(m, core.step({ kind: 'peer.joined', participant: snapshot, now: Date.now() }));
  const h = host!;
  await request(h.socket, 'role.setModerator', { participantId: m.participantId, moderator: true, decision: h.membership.decide('set-moderator', core.agent.me) });
  return m;
}

/** Waits until the host (and the moderator) took `expected` offers: every member's, and the moderator's to the host. */
async function offers(command: { expected: number }): Promise<void> {
  const h = host!;
  const mod = moderator;
  const taken = () => (mod ? [...mod.core.agent.takenOffers()].length : 0);
  await until(
    () => h.offersTaken >= command.expected + (mod ? 1 : 0) && (!mod || taken() >= command.expected),
    () => `offers (host took ${h.offersTaken}, moderator ${taken()}, of ${command.expected})`,
    600_000,
  );
}

/** Epoch 1, as the host issues it when the room starts: itself its host, and the moderator on stage. */
async function start(): Promise<number> {
  const h = host!;
  if (h.verified.size === 0) throw new Error('the host verified no member');
  const roles = new Map<string, RosterRole>([[h.membership.me, 'host']]);
  if (moderator) roles.set(moderator.core.agent.me, 'moderator' as const);
  const issued = h.membership.issueFresh([...h.verified.values()], { roles });
  const participantOf = new Map([...h.verified.values()].map((m) => [m.memberKeyId, m.participantId]));
  await sendCommit(h.socket, addressed(issued, participantOf));
  firstEpoch = issued.epoch;
  firstSealed = { ...h.membership.sealed };
  if (moderator) {
    const mod = moderator;
    await until(
      () => mod.core.agent.current?.epoch === firstEpoch,
      () => 'the moderator to hold epoch 1',
      600_000,
    );
  }
  return firstEpoch;
}

const sealedAsAsked = (s: { hybrid: number; classical: number }) => (hybrid ? s.classical === 0 : s.hybrid === 0);

/** A plain rekey waits for the leave from here on (the parent then has a member leave). */
let rekeyed: Promise<StageRekey> | null = null;

/** Resets the CPU count: what this process spends from now to the rekey's end is the rekey's. */
function arm(command: { rekey: boolean }): void {
  cpu0 = process.cpuUsage();
  if (command.rekey) rekeyed = rekeyOnLeave();
}

function summary(
  expected: string,
  issued: { epoch: number; secret: Uint8Array; distributor: string },
  commit: Extract<Effect, { kind: 'commit' }>,
  times: { leftAt: number; leaveAt: number | null; buildMs: number; sendMs: number },
  uploadBytes: number,
  skipped: number,
  sealedNow: boolean,
  takeTimes: number[],
): StageRekey {
  const packages = commit.packages.flat();
  return {
    epoch: issued.epoch,
    secretHex: toHex(issued.secret),
    ...times,
    uploadBytes,
    headerBytes: commit.blob.length,
    packageBytes: packages[0]?.package.length ?? 0,
    packages: packages.length,
    recipients: packages.map((p) => p.to),
    skipped,
    sealedAsAsked: sealedNow && sealedAsAsked(firstSealed),
    byExpected: issued.distributor === expected,
    cpuMs: cpuSince(),
    takeOfferMs: takeTimes.length > 0 ? median(takeTimes) : 0,
  };
}

/**
 * A listener leaves (the parent has a member ask): the host answers the peer.left as the browser does once its batch
 * closes, a fresh secret for those who stay, from the members it verified at their joins (as the page's distributor
 * does from its roster: checking every announcement again would time N signature checks, not the commit).
 */
function rekeyOnLeave(): Promise<StageRekey> {
  const h = host!;
  return new Promise((resolve, reject) => {
    h.socket.once('peer.left', ({ participantId }: EventOf<'peer.left'>) => {
      const leftAt = wallMs();
      h.verified.delete(participantId);
      const before = { ...h.membership.sealed };
      const t = performance.now();
      const issued = h.membership.issueFresh([...h.verified.values()]);
      const built = performance.now();
      const commit = addressed(issued, new Map([...h.verified.values()].map((m) => [m.memberKeyId, m.participantId])));
      sendCommit(h.socket, commit).then((uploaded) => {
        const sent = performance.now();
        const now = h.membership.sealed;
        const sealedNow = sealedAsAsked({ hybrid: now.hybrid - before.hybrid, classical: now.classical - before.classical });
        resolve(summary(h.membership.me, issued, commit, { leftAt, leaveAt: null, buildMs: built - t, sendMs: sent - built }, uploaded, issued.skipped.length, sealedNow, h.takeTimes));
      }, reject);
    });
  });
}

/**
 * The host leaves; the relay reports it gone to everyone, and the moderator's RoomCore, given that peer.left, goes
 * fresh by the page's own rule (the distributor left: the next in the signed hand-over order, key-core.ts).
 */
async function handOver(): Promise<StageRekey> {
  const h = host!;
  const m = moderator!;
  let leaveAt = 0;
  const done = new Promise<StageRekey>((resolve, reject) => {
    m.socket.on('peer.left', ({ participantId }: EventOf<'peer.left'>) => {
      if (participantId !== h.participantId) return;
      const leftAt = wallMs();
      const before = { ...m.core.agent.sealed };
      const t = performance.now();
      const effects = m.core.step({ kind: 'peer.left', participantId, now: Date.now() });
      const built = performance.now();
      const commit = effects.find((e): e is Extract<Effect, { kind: 'commit' }> => e.kind === 'commit');
      if (!commit || !m.core.agent.current) return reject(new Error('the moderator did not take over'));
      // The core reports members it could not key (no offer from them) as a notice, as the page shows it.
      const notice = effects.find((e): e is Extract<Effect, { kind: 'notice' }> => e.kind === 'notice' && e.text.startsWith('keys could not be made'));
      const skipped = notice ? Number(/\d+/.exec(notice.text)?.[0] ?? 1) : 0;
      step(m, effects).then((uploaded) => {
        const sent = performance.now();
        const now = m.core.agent.sealed;
        const sealedNow = sealedAsAsked({ hybrid: now.hybrid - before.hybrid, classical: now.classical - before.classical });
        resolve(summary(m.core.agent.me, m.core.agent.current!, commit, { leftAt, leaveAt, buildMs: built - t, sendMs: sent - built }, uploaded, skipped, sealedNow, h.takeTimes));
      }, reject);
    });
  });
  leaveAt = wallMs();
  await request(h.socket, 'room.leave', {});
  return done;
}

answer({
  open: (command: { url: string; roomSecretHex: string; hybrid: boolean; moderator: boolean }) => open(command),
  offers: (command: { expected: number }) => offers(command),
  start: () => start(),
  arm: (command: { rekey: boolean }) => arm(command),
  rekey: () => rekeyed,
  handOver: () => handOver(),
});
