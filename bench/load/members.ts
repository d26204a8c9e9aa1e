// The rekey benchmark's member process: a host and N-1 members as socket.io clients with the browser's own Membership, on one relay or several.
// Members only record when a commit's header and their own package reach them; opening it is timed afterwards, one by one, as each member's own
// device would do it in parallel (one Node thread opening 1,000 commits in a row would measure this process instead).
import { io, type Socket } from 'socket.io-client';
import { CommitNoKeyError, fromHex, generateIdentity, initCrypto, deriveRoomKeys, sealMetadata, toHex, type RoomKeys } from '../../crypto/index.ts';
import { Membership, type IssuedCommit, type VerifiedMember } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import { LIMITS, type EventOf } from '../../protocol/messages.ts';
import { median } from '../report.ts';
import { answer } from './conversation.ts';

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
  /** Host: from the leave reaching it to its commit built (header and every package). */
  buildMs: number;
  /** The signed header every member receives, base64url characters. */
  headerBytes: number;
  /** One member's own package, base64url characters. */
  packageBytes: number;
  /** What the host uploaded for the rekey: the key.commit and key.packages requests as JSON. */
  uploadBytes: number;
  /** What each remaining member received for the rekey (its key.commit event, with its package, as JSON): the median and the most. */
  receivedBytesMedian: number;
  receivedBytesMax: number;
  /** The relay's batching window (join reply): the browser waits this long before a fresh epoch for leaves; not in the times below. */
  keyBatchMs: number;
  /** From the leaver's request to the last remaining member holding the header and its package. */
  lastReceivedMs: number;
  medianOpenMs: number;
  /** From the leaver's request to the last member able to decrypt the new epoch (its receive time + its open time). */
  lastReadyMs: number;
  medianReadyMs: number;
  /**
   * This one process's CPU from the leave to the last arrival: the host's build and upload and every member's receipt
   * (not the opens). Near the wall time, the members' process and not the relays set the pace.
   */
  processCpuMs: number;
  /** Every remaining member opened the host's secret, and the leaver, given no package, could not open the commit. */
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
  announcement: string;
  /** Headers (key.commit) and this member's own packages (with the header, or alone in key.package), as the relay delivered them. */
  headers: Received<string>[];
  packages: Received<string>[];
  keyBatchMs: number;
}

async function connect(url: string): Promise<Socket> {
  // Thousands of sockets in this one process on a shared machine: the default 20 s handshake can pass while it is busy.
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 120_000 });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** `kem`: the announcement carries the member's KEM key, as a stage member's does. */
async function newMember(url: string, keys: RoomKeys, name: string, host: boolean, kem = false): Promise<Member> {
  const membership = new Membership(keys, generateIdentity());
  const announcement = membership.announce(sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }), kem);
  const socket = await connect(url);
  const member: Member = { socket, membership, participantId: '', announcement, headers: [], packages: [], keyBatchMs: 0 };
  const bytes = (payload: unknown) => JSON.stringify(payload).length;
  // A header that comes with this member's package (a fresh epoch) is counted once, as one event.
  socket.on('key.commit', (p: EventOf<'key.commit'>) => {
    const at = performance.now();
    member.headers.push({ epoch: p.epoch, value: p.commit, at, bytes: bytes(p) });
    if (p.package) member.packages.push({ epoch: p.epoch, value: p.package, at, bytes: 0 });
  });
  socket.on('key.package', (p: EventOf<'key.package'>) => member.packages.push({ epoch: p.epoch, value: p.package, at: performance.now(), bytes: bytes(p) }));
  const joined = host
    ? await request(socket, 'room.create', { roomId: keys.roomId, announcement, sealedTitle: sealMetadata(keys.metaKey, keys.roomId, 'room-title', 'Bench') })
    : await request(socket, 'room.join', { roomId: keys.roomId, announcement });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  member.participantId = joined.participantId;
  member.keyBatchMs = joined.keyBatchMs;
  return member;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `what` is read at the timeout, so that it can say how far things got. */
async function until(check: () => boolean, what: () => string, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what()}`);
    await sleep(5);
  }
}

/**
 * What the host sends, as the browser does: the header with the first packages, the rest in key.packages, the header
 * going with each package of a fresh epoch; returns the bytes uploaded.
 */
async function send(host: Member, issued: IssuedCommit, participantOf: ReadonlyMap<string, string>): Promise<number> {
  const packages = issued.packages.map(({ memberKeyId, package: pkg }) => ({ to: participantOf.get(memberKeyId)!, package: pkg }));
  const chunk = LIMITS.packagesPerMessage;
  const first = { commit: issued.blob, epoch: issued.epoch, packages: packages.slice(0, chunk), ...(issued.kind === 'fresh' ? { withPackages: true as const } : {}) };
  let uploaded = JSON.stringify(first).length;
  await request(host.socket, 'key.commit', first);
  for (let i = chunk; i < packages.length; i += chunk) {
    const more = { epoch: issued.epoch, packages: packages.slice(i, i + chunk) };
    uploaded += JSON.stringify(more).length;
    await request(host.socket, 'key.packages', more);
  }
  return uploaded;
}

/** A member's header and package of one epoch, once both arrived (a ratchet would need no package; these are all fresh). */
function delivered(m: Member, epoch: number): { header: Received<string>; pkg: Received<string> } | null {
  const header = m.headers.find((h) => h.epoch === epoch);
  const pkg = m.packages.find((p) => p.epoch === epoch);
  return header && pkg ? { header, pkg } : null;
}

/** The room set up for one rekey: every member on epoch 1. */
interface Room {
  command: RekeyCommand;
  host: Member;
  others: Member[];
  present: Set<string>;
  participantOf: Map<string, string>;
  /** Each member as the host verified it when it joined: the page's roster, from which its distributor issues. */
  verified: Map<Member, VerifiedMember>;
  firstEpoch: number;
  offerTimes: number[];
  takeTimes: number[];
}

let room: Room | null = null;

async function setup(command: RekeyCommand): Promise<void> {
  const { url, roomSecretHex, members: size, hybrid } = command;
  const memberUrls = command.memberUrls ?? [url];
  await initCrypto();
  const keys = deriveRoomKeys(fromHex(roomSecretHex));
  const host = await newMember(url, keys, 'Host', true, hybrid);
  const others: Member[] = [];
  for (let i = 1; i < size; i += 50) {
    others.push(...(await Promise.all(Array.from({ length: Math.min(50, size - i) }, (_, j) => newMember(memberUrls[(i + j) % memberUrls.length]!, keys, `Member ${i + j}`, false)))));
  }
  const verify = (m: Member): VerifiedMember => host.membership.verify(m.participantId, m.announcement)!;
  const participantOf = new Map([host, ...others].map((m) => [m.membership.me, m.participantId]));
  // Members verify the host's announcement, as the browser does from the join reply, and count it present: the
  // distributor whose commits they follow. Each verifying all N announcements is the join's cost, not the rekey's.
  const present = new Set([host.membership.me]);
  const offerTimes: number[] = [];
  const takeTimes: number[] = [];
  for (const [i, m] of others.entries()) {
    // Offers and checks come from as many devices; this one process lets its sockets breathe between them (pings, the relay's).
    if (i % 50 === 0) await sleep(0);
    const seen = m.membership.verify(host.participantId, host.announcement);
    if (!seen) throw new Error('host announcement did not verify');
    if (!hybrid) continue;
    // The offer each newcomer makes to the distributor's KEM key (key.kem), and the distributor taking it: join-time
    // costs, one each per member, none of them in the rekey below.
    let t = performance.now();
    const offer = m.membership.offerTo(seen);
    offerTimes.push(performance.now() - t);
    verify(m);
    t = performance.now();
    if (!offer || !host.membership.takeOffer(m.membership.me, offer)) throw new Error('a KEM offer was not taken');
    takeTimes.push(performance.now() - t);
  }

  // Epoch 1 for everyone, as the host issues it when the room starts: itself on stage as its host.
  const verified = new Map([host, ...others].map((m) => [m, verify(m)]));
  const first = host.membership.issueFresh([...verified.values()], { roles: new Map([[host.membership.me, 'host']]) });
  await send(host, first, participantOf);
  // Setting up, not measured: a machine shared with thousands of sockets may take minutes to deliver it.
  await until(
    () => others.every((m) => delivered(m, first.epoch)),
    () => `epoch 1 (${others.filter((m) => delivered(m, first.epoch)).length} of ${others.length} members had it)`,
    600_000,
  );
  for (const [i, m] of others.entries()) {
    if (i % 50 === 0) await sleep(0);
    const { header, pkg } = delivered(m, first.epoch)!;
    m.membership.accept(header.value, pkg.value, present);
  }
  room = { command, host, others, present, participantOf, verified, firstEpoch: first.epoch, offerTimes, takeTimes };
}

async function measureRekey(): Promise<RekeyResult> {
  if (!room) throw new Error('no room set up');
  const {
    command: { members: size, hybrid },
    host,
    others,
    present,
    participantOf,
    verified,
    firstEpoch,
    offerTimes,
    takeTimes,
  } = room;
  room = null;

  // A listener leaves; the host answers the peer.left as the browser does once its batch closes: a fresh secret for
  // those who stay, each in its own package.
  const leaver = others.pop()!;
  const leaverSecret = leaver.membership.current!.secret;
  let buildMs = 0;
  let issued: IssuedCommit | null = null;
  let uploaded: Promise<number> = Promise.resolve(0);
  host.socket.once('peer.left', () => {
    const t = performance.now();
    // From the members verified at their joins, as the page's distributor does: checking every announcement's
    // signature again here would time N signature checks (seconds at 10,000), not the commit.
    issued = host.membership.issueFresh([host, ...others].map((m) => verified.get(m)!));
    buildMs = performance.now() - t;
    uploaded = send(host, issued, participantOf);
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await request(leaver.socket, 'room.leave', {});
  const epoch = firstEpoch + 1;
  await until(
    () => others.every((m) => delivered(m, epoch)),
    () => `epoch 2 (${others.filter((m) => delivered(m, epoch)).length} of ${others.length} members had it)`,
  );
  const cpu = process.cpuUsage(cpu0);
  const uploadBytes = await uploaded;
  const rekey = issued as IssuedCommit | null;
  if (!rekey || rekey.epoch !== epoch) throw new Error('the host did not issue the next epoch');

  const opens: number[] = [];
  const ready: number[] = [];
  const received: number[] = [];
  const lastArrival: number[] = [];
  const secrets = new Set<string>();
  for (const m of others) {
    const { header, pkg } = delivered(m, epoch)!;
    const t = performance.now();
    const state = m.membership.accept(header.value, pkg.value, present);
    const open = performance.now() - t;
    const arrived = Math.max(header.at, pkg.at) - t0;
    opens.push(open);
    lastArrival.push(arrived);
    ready.push(arrived + open);
    received.push(m.headers.filter((h) => h.epoch === epoch).reduce((sum, h) => sum + h.bytes, 0) + m.packages.filter((p) => p.epoch === epoch).reduce((sum, p) => sum + p.bytes, 0));
    secrets.add(toHex(state.secret));
  }
  let leaverLocked = false;
  try {
    // The leaver is gone from the room, so the relay sends it nothing; even given the header, it holds no package.
    leaver.membership.accept(delivered(others[0]!, epoch)!.header.value, null, present);
  } catch (error) {
    // Locked out by the cryptography (no package for it), not by some policy check that a modified client would skip.
    leaverLocked = error instanceof CommitNoKeyError;
  }
  leaverLocked &&= !rekey.packages.some((p) => p.memberKeyId === leaver.membership.me) && toHex(leaverSecret) !== toHex(rekey.secret);
  const sealed = host.membership.sealed;
  return {
    members: size,
    hybrid,
    offerMs: offerTimes.length > 0 ? median(offerTimes) : 0,
    takeOfferMs: takeTimes.length > 0 ? median(takeTimes) : 0,
    buildMs,
    headerBytes: rekey.blob.length,
    packageBytes: rekey.packages[0]!.package.length,
    uploadBytes,
    receivedBytesMedian: median(received),
    receivedBytesMax: Math.max(...received),
    keyBatchMs: host.keyBatchMs,
    lastReceivedMs: Math.max(...lastArrival),
    medianOpenMs: median(opens),
    lastReadyMs: Math.max(...ready),
    medianReadyMs: median(ready),
    processCpuMs: (cpu.user + cpu.system) / 1000,
    // Every package the host sealed was under the kind of pairwise key asked for.
    agreed: secrets.size === 1 && secrets.has(toHex(host.membership.current!.secret)) && leaverLocked && (hybrid ? sealed.classical === 0 : sealed.hybrid === 0),
  };
}

// Two steps, so that the parent can read what the relays and Redis did for the rekey alone, between them.
answer({ setup: (command: { type: 'setup' } & RekeyCommand) => setup(command), rekey: () => measureRekey() });
