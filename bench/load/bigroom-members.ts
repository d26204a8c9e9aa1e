// The big-room benchmark's listeners: socket.io clients with the browser's Membership, following headers and their own packages.
import { io, type Socket } from 'socket.io-client';
import { CommitNoKeyError, createAnnouncement, deriveRoomKeys, fromHex, generateIdentity, initCrypto, sealMetadata, toHex, type RoomKeys } from '../../crypto/index.ts';
import { Membership } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import type { EventOf } from '../../protocol/messages.ts';
import { answer, wallMs } from './conversation.ts';

interface Member {
  socket: Socket;
  membership: Membership;
  participantId: string;
  present: Set<string>;
  headers: Map<number, string>;
  packages: Map<number, string>;
  /** Wall-clock time each epoch was accepted. */
  acceptedAt: Map<number, number>;
  bytes: number;
  events: number;
  failures: number;
}

let keys: RoomKeys;
let url = '';
let host: { participantId: string; announcement: string };
const members: Member[] = [];
const left: Member[] = [];
/** Each epoch's header as the relay delivered it (the same for every member). */
const headersSeen = new Map<number, string>();

function tryAccept(m: Member, header: string, pkg: string | null): boolean {
  try {
    const state = m.membership.accept(header, pkg, m.present);
    m.acceptedAt.set(state.epoch, wallMs());
    for (const epoch of [...m.headers.keys()]) if (epoch <= state.epoch) m.headers.delete(epoch);
    for (const epoch of [...m.packages.keys()]) if (epoch <= state.epoch) m.packages.delete(epoch);
    return true;
  } catch (error) {
    if (!(error instanceof CommitNoKeyError) || pkg !== null) m.failures++;
    return false;
  }
}

/** As the page does (retryPendingCommits): the commits kept for later, in epoch order, each that opens moving it on. */
function retryPending(m: Member): void {
  for (const [epoch, header] of [...m.headers].sort(([a], [b]) => a - b)) if (m.headers.get(epoch) === header) tryAccept(m, header, m.packages.get(epoch) ?? null);
}

async function join(): Promise<{ ackMs: number } | { error: string }> {
  const identity = generateIdentity();
  const membership = new Membership(keys, identity);
  const announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Listener' }) });
  // The same 120 s for the connection as for the join request: at 10,000 members joining at 500/s these processes
  // need more CPU than the machine has (every member verifies two signed ratchet headers a second), and socket.io's
  // default 20 s handshake timeout then fails the slowest connections of the simulation, not of the relay.
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 120_000 });
  const m: Member = { socket, membership, participantId: '', present: new Set(), headers: new Map(), packages: new Map(), acceptedAt: new Map(), bytes: 0, events: 0, failures: 0 };
  socket.io.on('open', () => {
    socket.io.engine.on('packet', (packet: { type: string; data?: unknown }) => {
      if (packet.type !== 'message') return;
      m.bytes += typeof packet.data === 'string' ? packet.data.length : ((packet.data as ArrayBuffer | undefined)?.byteLength ?? 0);
      m.events++;
    });
  });
  // As the page does: a header with our package, or alone for a ratchet that follows ours; otherwise it waits for our package.
  socket.on('key.commit', ({ commit, epoch, package: packaged }: EventOf<'key.commit'>) => {
    headersSeen.set(epoch, commit);
    const pkg = packaged ?? m.packages.get(epoch) ?? null;
    if (packaged) m.packages.set(epoch, packaged);
    if (tryAccept(m, commit, pkg)) retryPending(m);
    else m.headers.set(epoch, commit);
  });
  socket.on('key.package', ({ package: pkg, epoch }: EventOf<'key.package'>) => {
    const header = m.headers.get(epoch);
    if (header && tryAccept(m, header, pkg)) retryPending(m);
    else m.packages.set(epoch, pkg);
  });
  const connected = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('connect_error', () => resolve(false));
  });
  if (!connected) {
    socket.disconnect();
    return { error: 'CONNECT_FAILED' };
  }
  const t = performance.now();
  try {
    const joined = await request(socket, 'room.join', { roomId: keys.roomId, announcement }, 120_000);
    if ('lobby' in joined) return { error: 'LOBBY' };
    m.participantId = joined.participantId;
  } catch (error) {
    socket.disconnect();
    return { error: (error as { code?: string }).code ?? 'FAILED' };
  }
  const ackMs = performance.now() - t;
  // The browser verifies the announcements in the join reply; a listener needs only the stage's.
  const verified = membership.verify(host.participantId, host.announcement);
  if (verified) m.present.add(verified.memberKeyId);
  // As the page does: a commit that came before the join reply (the distributor not yet known) is tried again now.
  retryPending(m);
  members.push(m);
  return { ackMs };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

answer({
  async setup(command: { url: string; roomSecretHex: string; host: { participantId: string; announcement: string } }) {
    await initCrypto();
    url = command.url;
    keys = deriveRoomKeys(fromHex(command.roomSecretHex));
    host = command.host;
  },
  /** Joins `count` members at `perSecond`, each join started on schedule whether or not the previous was answered. */
  async join(command: { count: number; perSecond: number }) {
    const started = performance.now();
    const pending: Promise<{ ackMs: number } | { error: string }>[] = [];
    for (let i = 0; i < command.count; i++) {
      const due = started + (i * 1000) / command.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(join());
    }
    const results = await Promise.all(pending);
    const failures: Record<string, number> = {};
    for (const r of results) if ('error' in r) failures[r.error] = (failures[r.error] ?? 0) + 1;
    return { ackMs: results.flatMap((r) => ('ackMs' in r ? [r.ackMs] : [])), failures, seconds: (performance.now() - started) / 1000 };
  },
  /**
   * Where these members stand: the lowest and highest epoch held, and whether any refused a genuine commit. Cheap, as
   * it is asked ten times a second while a commit spreads, on the same cores as the members opening it.
   */
  state() {
    let minEpoch = Infinity;
    let maxEpoch = -Infinity;
    for (const m of members) {
      const epoch = m.membership.current?.epoch ?? 0;
      if (epoch < minEpoch) minEpoch = epoch;
      if (epoch > maxEpoch) maxEpoch = epoch;
    }
    return { members: members.length, minEpoch, maxEpoch, failures: members.reduce((n, m) => n + m.failures, 0) };
  },
  /** The codes these members read and the secrets they hold (each once): asked when they all hold one epoch. */
  agreement() {
    return {
      codes: [...new Set(members.map((m) => m.membership.current?.code ?? ''))],
      secrets: [...new Set(members.map((m) => (m.membership.current ? toHex(m.membership.current.secret) : '')))],
    };
  },
  /** This process's CPU so far (user and system), in milliseconds: the simulated members' own share of the machine. */
  cpu() {
    const used = process.cpuUsage();
    return (used.user + used.system) / 1000;
  },
  /** Starts counting bytes and events afresh. */
  mark() {
    for (const m of members) {
      m.bytes = 0;
      m.events = 0;
    }
  },
  counters() {
    return { bytes: members.map((m) => m.bytes), events: members.map((m) => m.events) };
  },
  /** When each member accepted `epoch` (wall clock), for the members still here. */
  acceptedAt(command: { epoch: number }) {
    return members.map((m) => m.acceptedAt.get(command.epoch) ?? null);
  },
  /** `count` members leave; they are kept to check later that they cannot open what follows. */
  async leave(command: { count: number }) {
    const leaving = members.splice(0, command.count);
    await Promise.all(leaving.map((m) => request(m.socket, 'room.leave', {}).catch(() => undefined)));
    for (const m of leaving) m.socket.disconnect();
    left.push(...leaving);
  },
  /**
   * Every member who left tries the current commit as a modified client would (header from a member still here, no
   * package: it was sent none): it must fail for want of a key, and its last secret must differ from the room's.
   */
  leaversLockedOut(command: { epoch: number; secretHex: string }) {
    const header = headersSeen.get(command.epoch) ?? null;
    let locked = 0;
    for (const m of left) {
      const stale = m.membership.current ? toHex(m.membership.current.secret) !== command.secretHex : true;
      let refused = true;
      if (header) {
        try {
          m.membership.accept(header, null, m.present);
          refused = false;
        } catch (error) {
          refused = error instanceof CommitNoKeyError || (error as Error).name === 'MembershipError';
        }
      }
      if (stale && refused) locked++;
    }
    return { leavers: left.length, locked, checkedAgainstHeader: header !== null };
  },
  close() {
    for (const m of [...members, ...left]) m.socket.disconnect();
    setTimeout(() => process.exit(0), 50);
  },
});
