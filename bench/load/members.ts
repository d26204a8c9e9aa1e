// One of the rekey benchmark's member processes: a share of the room's members as socket.io clients with the browser's own Membership, on one relay or several.
// Members only record when a commit's header and their own package reach them; opening it is timed afterwards, one by one, as each member's own
// device would do it in parallel (one Node thread opening 1,000 commits in a row would measure this process instead).
import type { Socket } from 'socket.io-client';
import { CommitNoKeyError, deriveRoomKeys, fromHex, generateIdentity, initCrypto, sealMetadata, toHex, type RoomKeys } from '../../crypto/index.ts';
import { Membership } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import { LIMITS, type EventOf } from '../../protocol/messages.ts';
import { answer, wallMs } from './conversation.ts';
import { connect, sleep, until } from './waits.ts';
import type { StageMember } from './rekey-stage.ts';

export interface RekeyCommand {
  /** The host's relay: in a cluster, the room's origin. */
  url: string;
  /** The relays members connect to, round-robin (a cluster); the host's alone unless given. */
  memberUrls?: string[];
  roomSecretHex: string;
  members: number;
  /**
   * The host publishes a KEM key and every member offers to it before the first epoch, as pages do: pairwise keys are
   * then hybrid (X25519 and X-Wing, docs/protocol.md §5). False: X25519 alone, as before issue 28.
   */
  hybrid: boolean;
}

export interface RekeyResult {
  members: number;
  hybrid: boolean;
  /** Member: encapsulating its offer to the host's KEM key; host: taking it (decapsulating). Medians, 0 when not hybrid. */
  offerMs: number;
  takeOfferMs: number;
  /** From the leaver's request to the relay's peer.left reaching the distributor. */
  leaveReachedMs: number;
  /** The distributor: from the leave reaching it to its commit built (header and every package). */
  buildMs: number;
  /** The distributor: from the commit built to its last message (key.commit, then key.packages) acknowledged by the relay. */
  sendMs: number;
  /** The signed header every member receives, base64url characters. */
  headerBytes: number;
  /** One member's own package, base64url characters. */
  packageBytes: number;
  /** What the distributor uploaded for the rekey: the key.commit and key.packages requests as JSON. */
  uploadBytes: number;
  /** What each remaining member received for the rekey (its key.commit event, with its package, as JSON): the median and the most. */
  receivedBytesMedian: number;
  receivedBytesMax: number;
  /** The relay's batching window (join reply): the browser waits this long before a fresh epoch for leaves; not in the times below. */
  keyBatchMs: number;
  /** From the leave reaching the distributor (a hand-over) or the leaver's request (a rekey) to the last remaining member holding the header and its package. */
  lastReceivedMs: number;
  medianOpenMs: number;
  /** From the same start to the last member able to decrypt the new epoch (its receive time + its open time). */
  lastReadyMs: number;
  medianReadyMs: number;
  /**
   * The bench processes' CPU from the leave to the last arrival: the distributor's build and upload and every member's
   * receipt (not the opens), summed over the member processes. Near the wall time, the bench and not the relays set the pace.
   */
  processCpuMs: number;
  /** How many processes held the members. */
  processes: number;
  /**
   * Every remaining member opened the distributor's secret, every package was sealed under the row's kind of key, no
   * member was left out, and the leaver, given no package, could not open the commit.
   */
  agreed: boolean;
}

interface Received<T> {
  epoch: number;
  value: T;
  at: number;
  bytes: number;
}

interface Member {
  socket: Socket;
  membership: Membership;
  participantId: string;
  /** Headers (key.commit) and this member's own packages (with the header, or alone in key.package), as the relay delivered them. */
  headers: Received<string>[];
  packages: Received<string>[];
  /** The stage members it verified: the present set its accepts check the distributor against. */
  present: Set<string>;
}

/** What one member process reports of a rekey: wall times, so that the parent can compare them across processes. */
export interface SliceRekey {
  /** Wall time each member held its header and package, and its open time (measured afterwards, one by one). */
  arrivedAt: number[];
  openMs: number[];
  receivedBytes: number[];
  /** Hex of every secret the members opened (one when they agree). */
  secrets: string[];
  /** This process's CPU from the arming to its last member's arrival. */
  cpuMs: number;
  /** The leaver, if this process held it: given the header and no package, it could not open it (CommitNoKeyError). */
  leaverLocked: boolean | null;
}

/**
 * Joins and offers are setting up, not measured: with thousands of them queued at one relay on a loaded machine, an
 * answer can take longer than a page's 15 s (the hybrid row at 10,000 once failed on that, a join unanswered).
 */
const SETUP_TIMEOUT_MS = 120_000;

let keys: RoomKeys;
const members: Member[] = [];
let leaver: Member | null = null;
const offerTimes: number[] = [];
/** The stage members' memberKeyIds by participant, as every member verified them. */
const stageKeyOf = new Map<string, string>();
let cpu0 = process.cpuUsage();

/**
 * A newcomer as the page is one: joins, verifies the stage members it is shown, and offers to each that published a
 * KEM key (key.kem, one message), so that they can key it under a hybrid key.
 */
async function newMember(url: string, name: string, stage: StageMember[]): Promise<Member> {
  const membership = new Membership(keys, generateIdentity());
  const announcement = membership.announce(sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }), false);
  const socket = await connect(url);
  const member: Member = { socket, membership, participantId: '', headers: [], packages: [], present: new Set() };
  const bytes = (payload: unknown) => JSON.stringify(payload).length;
  // A header that comes with this member's package (a fresh epoch) is counted once, as one event.
  socket.on('key.commit', (p: EventOf<'key.commit'>) => {
    const at = wallMs();
    member.headers.push({ epoch: p.epoch, value: p.commit, at, bytes: bytes(p) });
    if (p.package) member.packages.push({ epoch: p.epoch, value: p.package, at, bytes: 0 });
  });
  socket.on('key.package', (p: EventOf<'key.package'>) => member.packages.push({ epoch: p.epoch, value: p.package, at: wallMs(), bytes: bytes(p) }));
  // A stage member gone is no longer present: the next in the signed hand-over order is the distributor to follow.
  socket.on('peer.left', ({ participantId }: EventOf<'peer.left'>) => {
    const gone = stageKeyOf.get(participantId);
    if (gone) member.present.delete(gone);
  });
  const joined = await request(socket, 'room.join', { roomId: keys.roomId, announcement }, SETUP_TIMEOUT_MS);
  if ('lobby' in joined) throw new Error('unexpected lobby');
  member.participantId = joined.participantId;
  const offers: { to: string; offer: string }[] = [];
  for (const s of stage) {
    const seen = membership.verify(s.participantId, s.announcement);
    if (!seen) throw new Error('a stage announcement did not verify');
    member.present.add(seen.memberKeyId);
    stageKeyOf.set(s.participantId, seen.memberKeyId);
    if (!membership.owesOffer(seen)) continue;
    const t = performance.now();
    const offer = membership.offerTo(seen);
    offerTimes.push(performance.now() - t);
    if (offer) offers.push({ to: s.participantId, offer });
  }
  for (let i = 0; i < offers.length; i += LIMITS.kemOffersPerMessage) await request(socket, 'key.kem', { offers: offers.slice(i, i + LIMITS.kemOffersPerMessage) }, SETUP_TIMEOUT_MS);
  return member;
}

/** This process's share of the members join, `first` naming the first; returns the offers' encapsulation times. */
async function join(command: { urls: string[]; roomSecretHex: string; first: number; count: number; stage: StageMember[] }): Promise<number[]> {
  await initCrypto();
  keys = deriveRoomKeys(fromHex(command.roomSecretHex));
  for (let i = 0; i < command.count; i += 50) {
    const batch = Array.from({ length: Math.min(50, command.count - i) }, (_, j) => command.first + i + j);
    members.push(...(await Promise.all(batch.map((n) => newMember(command.urls[n % command.urls.length]!, `Member ${n}`, command.stage)))));
  }
  return offerTimes;
}

/** A member's header and package of one epoch, once both arrived (a ratchet would need no package; these are all fresh). */
function delivered(m: Member, epoch: number): { header: Received<string>; pkg: Received<string> } | null {
  const header = m.headers.find((h) => h.epoch === epoch);
  const pkg = m.packages.find((p) => p.epoch === epoch);
  return header && pkg ? { header, pkg } : null;
}

/** Every member here takes the host's first epoch (setting up, not measured: on a loaded machine it may take minutes). */
async function firstEpoch(command: { epoch: number }): Promise<void> {
  await until(
    () => members.every((m) => delivered(m, command.epoch)),
    () => `epoch ${command.epoch} (${members.filter((m) => delivered(m, command.epoch)).length} of ${members.length} members had it)`,
    600_000,
  );
  for (const [i, m] of members.entries()) {
    if (i % 50 === 0) await sleep(0);
    const { header, pkg } = delivered(m, command.epoch)!;
    m.membership.accept(header.value, pkg.value, m.present);
  }
}

function arm(): void {
  cpu0 = process.cpuUsage();
}

/** The last member here leaves the room; returns when it asked (wall time) and its participant id. */
async function leave(): Promise<{ at: number; participantId: string }> {
  leaver = members.pop()!;
  const at = wallMs();
  await request(leaver.socket, 'room.leave', {});
  return { at, participantId: leaver.participantId };
}

/** Waits for every member here to hold `epoch`, then opens each, timed one by one. */
async function collect(command: { epoch: number }): Promise<SliceRekey> {
  const { epoch } = command;
  await until(
    () => members.every((m) => delivered(m, epoch)),
    () => `epoch ${epoch} (${members.filter((m) => delivered(m, epoch)).length} of ${members.length} members had it)`,
    300_000,
  );
  const cpu = process.cpuUsage(cpu0);
  const result: SliceRekey = { arrivedAt: [], openMs: [], receivedBytes: [], secrets: [], cpuMs: (cpu.user + cpu.system) / 1000, leaverLocked: null };
  const secrets = new Set<string>();
  for (const m of members) {
    const { header, pkg } = delivered(m, epoch)!;
    const t = performance.now();
    const state = m.membership.accept(header.value, pkg.value, m.present);
    result.openMs.push(performance.now() - t);
    result.arrivedAt.push(Math.max(header.at, pkg.at));
    result.receivedBytes.push(m.headers.filter((h) => h.epoch === epoch).reduce((sum, h) => sum + h.bytes, 0) + m.packages.filter((p) => p.epoch === epoch).reduce((sum, p) => sum + p.bytes, 0));
    secrets.add(toHex(state.secret));
  }
  result.secrets = [...secrets];
  if (leaver && members[0]) {
    const before = toHex(leaver.membership.current!.secret);
    try {
      // The leaver is gone from the room, so the relay sends it nothing; even given the header, it holds no package.
      leaver.membership.accept(delivered(members[0], epoch)!.header.value, null, leaver.present);
      result.leaverLocked = false;
    } catch (error) {
      // Locked out by the cryptography (no package for it), not by some policy check that a modified client would skip.
      result.leaverLocked = error instanceof CommitNoKeyError && !secrets.has(before);
    }
  }
  return result;
}

function close(): void {
  for (const m of members) m.socket.close();
}

answer({
  join: (command: { urls: string[]; roomSecretHex: string; first: number; count: number; stage: StageMember[] }) => join(command),
  firstEpoch: (command: { epoch: number }) => firstEpoch(command),
  arm: () => arm(),
  leave: () => leave(),
  collect: (command: { epoch: number }) => collect(command),
  close: () => close(),
});
