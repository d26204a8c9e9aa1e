// Cluster benchmark: one room's listeners on one relay against the same listeners over two relays, joins through 1, 2 and 3 relays and through one edge, and a rekey over one relay and three.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { generateRoomSecret, initCrypto, toHex } from '../crypto/index.ts';
import { startRedis, type TestRedis } from '../test/helpers/redis.ts';
import { announce, connect, newRoom, sealedTitle, type TestClient } from '../test/helpers/relay.ts';
import { LoadProcess } from './capacity.ts';
import { askChild } from './load/child.ts';
import type { RelayCommand, RelayReply } from './load/cluster-relay.ts';
import type { RekeyResult } from './load/members.ts';
import type { GroupResult } from './load/messages.ts';
import type { LoadPlan, LoadReport } from './load/signaling-clients.ts';
import { inMemberProcess } from './rekey.ts';
import { redisBytes, runRelayTraffic } from './relay-traffic.ts';
import { barChartSvg, renderTable, writeJson, writePng, type Table } from './report.ts';

const SPEAKER_SSRC = 0x5eaca7;
/** As in the capacity bench: past these the relay (or, on a loaded machine, the machine) did not carry the listeners. */
const LOSS_LIMIT_PCT = 0.5;
const P99_LIMIT_MS = 50;
const SOCKETS_PER_RELAY = 8;
/** As the relay-traffic bench: beats every minute, so that Redis bytes over a rekey are the rekey's. */
const QUIET_HEARTBEAT_MS = 60_000;

/** Omit over each member of a union (a plain Omit would keep only the keys all members share). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A command as the caller writes it: RelayProcess numbers it. */
type Command = OmitEach<RelayCommand, 'id'>;

/** A cluster relay in a child process of its own (bench/load/cluster-relay.ts), asked over IPC. */
class RelayProcess {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (reply: RelayReply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  url = '';
  relayId = '';

  private constructor() {
    this.child = fork(fileURLToPath(new URL('./load/cluster-relay.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: RelayReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.type === 'error') waiting?.reject(new Error(`relay: ${reply.message}`));
      else waiting?.resolve(reply);
    });
    this.child.once('exit', (code) => {
      for (const { reject } of this.pending.values()) reject(new Error(`relay process exited (${code})`));
      this.pending.clear();
    });
  }

  static async start(redis: TestRedis, index: number, heartbeatMs?: number, edgeJoins?: 'on' | 'off'): Promise<RelayProcess> {
    const relay = new RelayProcess();
    const started = await relay.ask({ type: 'start', redisUrl: redis.url, index, ...(heartbeatMs ? { heartbeatMs } : {}), ...(edgeJoins ? { edgeJoins } : {}) });
    if (started.type !== 'started') throw new Error('relay did not start');
    relay.url = started.url;
    relay.relayId = started.relayId;
    return relay;
  }

  ask(command: Command): Promise<RelayReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...command, id });
    });
  }

  async cpuMs(): Promise<{ nodeMs: number; workerMs: number }> {
    const reply = await this.ask({ type: 'cpu' });
    if (reply.type !== 'cpu') throw new Error('no CPU reading');
    return reply;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.ask({ type: 'stop' }).catch(() => this.child.kill('SIGKILL'));
    await exited;
  }
}

/** CPU of each relay (its Node process and its mediasoup worker) over a span, in ms. */
async function cpuOver<T>(relays: RelayProcess[], span: () => Promise<T>): Promise<{ result: T; nodeMs: number[]; workerMs: number[] }> {
  const before = await Promise.all(relays.map((r) => r.cpuMs()));
  const result = await span();
  const after = await Promise.all(relays.map((r) => r.cpuMs()));
  return {
    result,
    nodeMs: after.map((a, i) => a.nodeMs - before[i]!.nodeMs),
    workerMs: after.map((a, i) => a.workerMs - before[i]!.workerMs),
  };
}

export interface MediaRelayResult {
  relay: string;
  listeners: number;
  nodeCpuPct: number;
  workerCpuPct: number;
  /** Node and worker, per 1,000 of this relay's listeners; null for a relay with none. */
  cpuPer1000Pct: number | null;
  received: GroupResult;
}

export interface MediaRun {
  run: 'A: one relay' | 'B: two relays';
  listeners: number;
  relays: MediaRelayResult[];
  loadCpuPct: number;
  lossPct: number;
  p99Ms: number | null;
  /** Every relay's listeners within the loss and delay limits: only then is the CPU a figure of carrying them. */
  held: boolean;
}

async function mediaBench(redis: TestRedis, sizes: number[], rounds: number, timing: { warmupMs: number; windowMs: number }): Promise<MediaRun[]> {
  const relays = [await RelayProcess.start(redis, 0), await RelayProcess.start(redis, 1)];
  const load = new LoadProcess();
  const clients: TestClient[] = [];
  const runs: MediaRun[] = [];
  try {
    await load.next('ready');
    const ports: number[][] = [];
    for (const group of [0, 1]) {
      load.send({ type: 'open', sockets: SOCKETS_PER_RELAY, group });
      ports.push((await load.next('opened')).ports);
    }
    const room = await newRoom();
    const roomId = room.keys.roomId;
    const host = await connect(relays[0]!);
    clients.push(host);
    const created = await host.req('room.create', { roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Bench') });
    const speaker = await relays[0]!.ask({ type: 'speaker', roomId, participantId: created.participantId, ssrc: SPEAKER_SSRC });
    if (speaker.type !== 'speaker') throw new Error('no speaker');
    load.send({ type: 'speaker', port: speaker.port, ssrc: SPEAKER_SSRC, encrypt: true });
    await load.next('speaking');

    const measure = async (run: MediaRun['run'], split: number[]): Promise<MediaRun> => {
      for (const [i, count] of split.entries()) {
        if (count > 0) await relays[i]!.ask({ type: 'listeners', roomId, producerId: speaker.producerId, ports: ports[i]!, count });
      }
      const n = split.reduce((a, b) => a + b, 0);
      load.send({ type: 'run', listeners: n, groups: split, ...timing });
      await load.next('window');
      // The window starts when the load process says so; its own measure of the window's length divides the CPU.
      const { result, nodeMs, workerMs } = await cpuOver(relays, () => load.next('result'));
      const node = nodeMs.map((ms) => (100 * ms) / result.windowMs);
      const worker = workerMs.map((ms) => (100 * ms) / result.windowMs);
      await Promise.all(relays.map((r) => r.ask({ type: 'clear' })));
      const out: MediaRun = {
        run,
        listeners: n,
        loadCpuPct: result.loadCpuPct,
        lossPct: result.lossPct,
        p99Ms: result.p99Ms,
        held: result.lossPct <= LOSS_LIMIT_PCT && result.p99Ms !== null && result.p99Ms <= P99_LIMIT_MS,
        relays: split.map((count, i) => ({
          relay: i === 0 ? 'relay 1 (origin)' : 'relay 2 (edge)',
          listeners: count,
          nodeCpuPct: node[i]!,
          workerCpuPct: worker[i]!,
          cpuPer1000Pct: count > 0 ? ((node[i]! + worker[i]!) * 1000) / count : null,
          received: result.groups![i]!,
        })),
      };
      console.log(
        `  ${run}, ${n} listeners: ${out.relays.map((r) => `${r.relay} ${r.listeners} listeners, CPU ${r.nodeCpuPct.toFixed(0)}+${r.workerCpuPct.toFixed(0)}%, loss ${r.received.lossPct.toFixed(3)}%, p99 ${r.received.p99Ms?.toFixed(1) ?? '–'} ms`).join('; ')}; load process ${result.loadCpuPct.toFixed(0)}%`,
      );
      return out;
    };

    // A member on relay 2 that receives: the edge router exists and the speaker is piped to it once, as for a browser.
    // It stays for both runs, so that A and B differ only in where the listeners are (relay 2's CPU in A is the pipe's).
    const guest = await connect(relays[1]!);
    clients.push(guest);
    await guest.req('room.join', { roomId, announcement: announce(room, 'Guest') });
    await guest.req('transport.create', { direction: 'recv' });
    await guest.req('consumer.create', { producerId: speaker.producerId, rtpCapabilities: created.routerRtpCapabilities as Record<string, unknown> });
    // A and B alternate, so that the shared machine's load drifting between them weighs on both alike.
    for (let round = 0; round < rounds; round++) {
      for (const n of sizes) {
        runs.push(await measure('A: one relay', [n, 0]));
        runs.push(await measure('B: two relays', [n - Math.floor(n / 2), Math.floor(n / 2)]));
      }
    }
  } finally {
    for (const client of clients) client.close();
    await load.stop();
    await Promise.all(relays.map((r) => r.stop()));
  }
  return runs;
}

export interface JoinRun {
  relays: number;
  /** Who answered listeners' joins through an edge: the edge itself (EDGE_JOINS=on), or the origin (off, as before issue 29's edge joins). */
  edgeJoins: 'on' | 'off';
  round: number;
  report: LoadReport;
  /** Each relay's CPU (Node and worker) over the whole load child's life, in ms; the first holds the room. */
  cpuMs: number[];
  /** Each relay's CPU per join it took (the clients connected to it), in ms; the origin first. */
  cpuMsPerOwnJoin: number[];
  /** The origin's CPU per join of the run (it decides every join, whatever relay took it). */
  originMsPerJoin: number;
  /** The edges' CPU together per join that went through an edge; null with one relay. */
  edgeMsPerEdgeJoin: number | null;
  /** All relays' CPU per join of the run. */
  clusterMsPerJoin: number;
  loadavg: number[];
}

/**
 * Joins through 1, 2 and 3 relays in turn (fresh relays each, the same Redis), with edges answering joins and, back to
 * back, with the origin answering them all as before, `rounds` times, so drift in the machine's load weighs on all alike.
 */
async function joinBench(redis: TestRedis, clients: number, rounds: number): Promise<JoinRun[]> {
  const runs: JoinRun[] = [];
  const variants = [{ count: 1, edgeJoins: 'on' as const }, ...[2, 3].flatMap((count) => (['off', 'on'] as const).map((edgeJoins) => ({ count, edgeJoins })))];
  for (let round = 1; round <= rounds; round++) {
    for (const { count, edgeJoins } of variants) {
      const relays: RelayProcess[] = [];
      try {
        for (let i = 0; i < count; i++) relays.push(await RelayProcess.start(redis, i, undefined, edgeJoins));
        const plan: LoadPlan = { url: relays[0]!.url, joinUrls: relays.map((r) => r.url), clients, startsPerSecond: 0 };
        // CPU over the clients' whole run (connects, the host's room.create, joins, fan-out, disconnects), per join.
        const { result: report, nodeMs, workerMs } = await cpuOver(relays, () => askChild<LoadReport>(new URL('./load/signaling-clients.ts', import.meta.url), plan));
        const cpuMs = nodeMs.map((n, i) => n + workerMs[i]!);
        // Joins each relay took: those its clients were acknowledged for (an error reply is still the relays' work).
        const taken = report.ackMsByRelay.map((xs) => xs.length);
        const throughEdges = taken.slice(1).reduce((a, b) => a + b, 0);
        const joins = Math.max(
          1,
          taken.reduce((a, b) => a + b, 0),
        );
        runs.push({
          relays: count,
          edgeJoins,
          round,
          report,
          cpuMs,
          cpuMsPerOwnJoin: cpuMs.map((c, i) => c / Math.max(1, taken[i]!)),
          originMsPerJoin: cpuMs[0]! / joins,
          edgeMsPerEdgeJoin: count > 1 ? cpuMs.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, throughEdges) : null,
          clusterMsPerJoin: cpuMs.reduce((a, b) => a + b, 0) / joins,
          loadavg: loadavg(),
        });
        const r = runs.at(-1)!;
        console.log(
          `  ${count} relay(s), edge joins ${edgeJoins}, round ${round}: ${report.answered} of ${clients} answered in ${(report.totalMs / 1000).toFixed(2)} s, relay CPU ${cpuMs.map((c) => c.toFixed(0)).join(' + ')} ms; per join: origin ${r.originMsPerJoin.toFixed(2)} ms, edges ${r.edgeMsPerEdgeJoin?.toFixed(2) ?? '–'} ms per edge join`,
        );
      } finally {
        await Promise.all(relays.map((r) => r.stop()));
      }
    }
  }
  return runs;
}

export interface EdgeJoinRun {
  edgeJoins: 'on' | 'off';
  round: number;
  joins: number;
  /** From the first join sent to the host's last `peer.joined`. */
  allSeenMs: number;
  /** Each relay's CPU (Node and worker) over the joins alone, per join: the origin's, the edge's. */
  originMsPerJoin: number;
  edgeMsPerJoin: number;
}

/**
 * What one join through an edge costs the origin and the edge, and nothing else: the clients connect first (their
 * handshakes are not counted), then all join through the edge at once, and each relay's CPU is read from the first
 * join sent to the host's last `peer.joined`. Edges answering and the origin answering, back to back, `rounds` times.
 */
async function edgeJoinBench(redis: TestRedis, clients: number, rounds: number): Promise<EdgeJoinRun[]> {
  const runs: EdgeJoinRun[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const edgeJoins of ['off', 'on'] as const) {
      const relays = [await RelayProcess.start(redis, 0, undefined, edgeJoins), await RelayProcess.start(redis, 1, undefined, edgeJoins)];
      const sockets: TestClient[] = [];
      try {
        const room = await newRoom();
        const host = await connect(relays[0]!);
        sockets.push(host);
        await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
        const announcements = Array.from({ length: clients }, (_, i) => announce(room, `Listener ${i}`));
        for (let i = 0; i < clients; i++) sockets.push(await connect(relays[1]!));
        // The join view is written within a round trip of the room's creation: a join before it would go to the origin.
        await new Promise((resolve) => setTimeout(resolve, 500));
        let seen = 0;
        host.socket.on('peer.joined', () => seen++);
        const started = performance.now();
        const {
          result: allSeenMs,
          nodeMs,
          workerMs,
        } = await cpuOver(relays, async () => {
          await Promise.all(sockets.slice(1).map((c, i) => c.req('room.join', { roomId: room.keys.roomId, announcement: announcements[i]! })));
          while (seen < clients) await new Promise((resolve) => setTimeout(resolve, 5));
          return performance.now() - started;
        });
        const cpu = nodeMs.map((n, i) => n + workerMs[i]!);
        runs.push({ edgeJoins, round, joins: clients, allSeenMs, originMsPerJoin: cpu[0]! / clients, edgeMsPerJoin: cpu[1]! / clients });
        console.log(
          `  edge joins ${edgeJoins}, round ${round}: ${clients} joins through the edge seen by the host in ${allSeenMs.toFixed(0)} ms; per join: origin ${(cpu[0]! / clients).toFixed(3)} ms, edge ${(cpu[1]! / clients).toFixed(3)} ms`,
        );
      } finally {
        for (const c of sockets) c.close();
        await Promise.all(relays.map((r) => r.stop()));
      }
    }
  }
  return runs;
}

export interface ClusterRekeyRun {
  relays: number;
  result: RekeyResult;
  /** Each relay's CPU (Node and worker) from the leave to the result (members' opens timed after arrival included), ms; the origin first. */
  cpuMs: number[];
  /** Redis bytes in plus out over the same span: the commit's packages to the edges, the leave forwarded, the directory. */
  redisBytes: number;
  loadavg: { before: number[]; after: number[] };
}

/**
 * A rekey over `relayCount` relays: the host creates the room on relay 1, members join round-robin over all, every
 * member takes epoch 1; then a listener leaves (through whichever relay it joined) and the host issues the fresh
 * commit, as the single-relay rekey bench does. Fresh relays per size, beats slowed so Redis bytes are the rekey's.
 */
async function clusterRekey(redis: TestRedis, relayCount: number, members: number): Promise<ClusterRekeyRun> {
  const relays: RelayProcess[] = [];
  const before = loadavg();
  try {
    for (let i = 0; i < relayCount; i++) relays.push(await RelayProcess.start(redis, i, QUIET_HEARTBEAT_MS));
    let start: { cpu: Awaited<ReturnType<RelayProcess['cpuMs']>>[]; bytes: number } | null = null;
    let cpuMs: number[] = [];
    let bytes = 0;
    const readAll = async () => ({ cpu: await Promise.all(relays.map((r) => r.cpuMs())), bytes: await redisBytes(redis) });
    const result = await inMemberProcess(
      { url: relays[0]!.url, memberUrls: relays.map((r) => r.url), roomSecretHex: toHex(generateRoomSecret()), members, hybrid: false },
      async () => void (start = await readAll()),
      async () => {
        const end = await readAll();
        cpuMs = end.cpu.map((c, i) => c.nodeMs + c.workerMs - start!.cpu[i]!.nodeMs - start!.cpu[i]!.workerMs);
        bytes = end.bytes - start!.bytes;
      },
    );
    if (!result.agreed) throw new Error(`rekey of ${members} members over ${relayCount} relays did not agree on one secret`);
    console.log(`  rekey, ${members} members over ${relayCount} relays: last ready ${result.lastReadyMs.toFixed(0)} ms after the leave, Redis ${(bytes / 1024).toFixed(0)} KiB, relay CPU ${cpuMs.map((c) => c.toFixed(0)).join(' + ')} ms`);
    return { relays: relayCount, result, cpuMs, redisBytes: bytes, loadavg: { before, after: loadavg() } };
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
  }
}

const percentile = (xs: number[], p: number): number | null => {
  if (!xs.length) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
};

/** The bench's parts; a run from the command line may pick some (`--parts=joins,rekey`). */
const PARTS = ['media', 'joins', 'edgejoins', 'traffic', 'rekey'] as const;
type Part = (typeof PARTS)[number];

/** A rekey size that did not finish, and why: reported as such rather than dropping the others. */
interface RekeyFailure {
  members: number;
  relays: number;
  error: string;
}

export async function runClusterBench(opts: { quick: boolean; parts?: Part[]; rekeySizes?: number[] }): Promise<Table[]> {
  const parts = new Set(opts.parts ?? PARTS);
  const sizes = opts.quick ? [200] : [400, 800];
  const rounds = opts.quick ? 1 : 2;
  const timing = opts.quick ? { warmupMs: 500, windowMs: 2000 } : { warmupMs: 1000, windowMs: 5000 };
  const joiners = opts.quick ? 100 : 500;
  const rekeySizes = opts.rekeySizes ?? (opts.quick ? [100] : [1_000, 10_000]);
  await initCrypto();
  const loadBefore = loadavg();
  const redis = await startRedis();
  let media: MediaRun[] = [];
  let joins: JoinRun[] = [];
  let edgeJoins: EdgeJoinRun[] = [];
  const rekeys: ClusterRekeyRun[] = [];
  const rekeyFailures: RekeyFailure[] = [];
  try {
    if (parts.has('media')) media = await mediaBench(redis, sizes, rounds, timing);
    if (parts.has('joins')) joins = await joinBench(redis, joiners, rounds);
    if (parts.has('edgejoins')) edgeJoins = await edgeJoinBench(redis, joiners, opts.quick ? 1 : 3);
    // One relay then three, back to back for each size: the goal is the one relay's time.
    for (const members of parts.has('rekey') ? rekeySizes : []) {
      for (const relayCount of [1, 3]) {
        try {
          rekeys.push(await clusterRekey(redis, relayCount, members));
        } catch (error) {
          // On this shared machine the largest sizes may not finish: say so and keep the sizes that did.
          // The member process's error comes with its stack: its first line says what did not happen.
          const reason = (error as Error).message.split('\n')[0]!;
          rekeyFailures.push({ members, relays: relayCount, error: reason });
          console.log(`  rekey, ${members} members over ${relayCount} relay(s) did not finish: ${reason}`);
        }
      }
    }
  } finally {
    await redis.stop();
  }
  const loadAfter = loadavg();
  const machine = `Load average before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores: relays, Redis, load process and clients share them.`;

  const total = (r: MediaRun) => r.relays.reduce((sum, x) => sum + x.nodeCpuPct + x.workerCpuPct, 0);
  const busiest = (r: MediaRun) => Math.max(...r.relays.map((x) => x.nodeCpuPct + x.workerCpuPct));
  const ratios = sizes.flatMap((n) => {
    const a = media.filter((r) => r.run === 'A: one relay' && r.listeners === n);
    const b = media.filter((r) => r.run === 'B: two relays' && r.listeners === n);
    return a.map((ra, round) => ({ listeners: n, round: round + 1, held: ra.held && b[round]!.held, totalBOverA: total(b[round]!) / total(ra), busiestAOverB: busiest(ra) / busiest(b[round]!) }));
  });
  const traffic = parts.has('traffic') ? await runRelayTraffic(opts.quick ? 20 : 60) : [];
  const joinsPerSecond = (r: JoinRun) => r.report.answered / (r.report.totalMs / 1000);
  const joinsBy = (r: JoinRun) => (r.edgeJoins === 'on' ? 'edges answer' : 'origin answers');
  /**
   * What a join through an edge costs the origin: its CPU less its own clients' joins, each costed at one relay's CPU
   * per join in the same round, over the joins through edges. An estimate (one relay's figure drifts with the load).
   */
  const originPerEdgeJoin = (r: JoinRun): number | null => {
    const alone = oneRelay(r.round);
    const own = r.report.ackMsByRelay[0]?.length ?? 0;
    const throughEdges = r.report.answered - own;
    return r.relays === 1 || !alone || throughEdges <= 0 ? null : (r.cpuMs[0]! - own * alone.originMsPerJoin) / throughEdges;
  };
  const oneRelay = (round: number) => joins.find((r) => r.relays === 1 && r.round === round);
  writeJson('cluster', {
    quick: opts.quick,
    parts: [...parts],
    limits: { lossPct: LOSS_LIMIT_PCT, p99Ms: P99_LIMIT_MS },
    timing,
    rounds,
    loadavg: { before: loadBefore, after: loadAfter },
    media,
    ratios,
    joins,
    edgeJoins,
    traffic,
    rekeys,
    rekeyFailures,
  });
  const charts = [
    ...sizes.map((n) => ({
      label: `${n} listeners`,
      unit: '% of a core per 1,000 listeners',
      values: media.filter((r) => r.listeners === n).flatMap((r) => r.relays.filter((x) => x.cpuPer1000Pct !== null).map((x) => ({ name: `${r.run.slice(0, 1)}, ${x.relay}`, value: x.cpuPer1000Pct! }))),
    })),
    { label: `${joiners} joins into one room`, unit: 'joins/s', values: joins.map((r) => ({ name: `${r.relays} relay${r.relays > 1 ? `s, ${joinsBy(r)}` : ''}${rounds > 1 ? `, round ${r.round}` : ''}`, value: joinsPerSecond(r) })) },
    {
      label: 'CPU per join',
      unit: 'ms',
      values: joins.flatMap((r) => [
        { name: `origin, ${r.relays} relay${r.relays > 1 ? `s, ${joinsBy(r)}` : ''}${rounds > 1 ? ` #${r.round}` : ''}`, value: r.originMsPerJoin },
        ...(r.edgeMsPerEdgeJoin === null ? [] : [{ name: `edges per edge join, ${r.relays} relays, ${joinsBy(r)}${rounds > 1 ? ` #${r.round}` : ''}`, value: r.edgeMsPerEdgeJoin }]),
      ]),
    },
    { label: 'Rekey: last member holds the fresh epoch', unit: 'ms', values: rekeys.map((r) => ({ name: `${r.result.members} members, ${r.relays} relay${r.relays > 1 ? 's' : ''}`, value: r.result.lastReadyMs })) },
  ].filter((chart) => chart.values.length > 0);
  if (charts.length > 0) await writePng('cluster', barChartSvg('Cluster: relay CPU per 1,000 listeners, joins through 1–3 relays, rekey over 1 and 3 relays', charts));

  const tables: Table[] = [];
  if (parts.has('media')) {
    tables.push({
      title: 'Cluster media: one speaker (50 packets/s), N SRTP listeners of one room on one relay (A) or split over two relays (B)',
      columns: ['run', 'relay', 'listeners', 'Node CPU %', 'worker CPU %', 'CPU %/1000 listeners', 'loss %', 'p50 ms', 'p99 ms', 'load proc CPU %', 'held'],
      rows: media.flatMap((r) =>
        r.relays.map((x) => [r.run, x.relay, x.listeners, x.nodeCpuPct, x.workerCpuPct, x.cpuPer1000Pct, x.listeners > 0 ? x.received.lossPct : null, x.received.p50Ms, x.received.p99Ms, r.loadCpuPct, r.held ? 'yes' : 'no']),
      ),
      notes: [
        `A run holds while loss <= ${LOSS_LIMIT_PCT}% and p99 one-way delay <= ${P99_LIMIT_MS} ms over all its listeners; the CPU of a run that did not hold is that of a starved relay, not of carrying its listeners.`,
        'Each relay is its own process (cluster mode, one mediasoup worker, one Redis); its CPU is its Node process plus its worker, over the window.',
        "Relay 2 gets the speaker through the cluster's SRTP PipeTransport from relay 1, set up by a socket.io member joining and consuming there, in A and B alike: in A relay 2 has no listeners, so its CPU is what the pipe costs it.",
        ...ratios.map(
          (r) =>
            `${r.listeners} listeners${rounds > 1 ? `, round ${r.round}` : ''}: total relay CPU B/A ${r.totalBOverA.toFixed(2)} (the cluster's overhead; 1 is none), busiest relay A/B ${r.busiestAOverB.toFixed(2)} (how many times more listeners the cluster carries per busiest core; 2 is ideal)${r.held ? '' : '; A or B did not hold, so these are not capacity figures'}.`,
        ),
        machine,
      ],
    });
  }
  if (parts.has('joins')) {
    tables.push({
      title: `Cluster joins: ${joiners} socket.io clients join one room at once, round-robin over 1, 2 and 3 relays (the room on the first), joins through an edge answered by the origin (EDGE_JOINS=off, as before) and by the edge, back to back`,
      columns: [
        'relays',
        'joins answered by',
        'round',
        'answered',
        'failed',
        'ack median ms',
        'ack p99 ms',
        'ack median per relay ms',
        'all joined s',
        'joins/s',
        'x one relay',
        'CPU ms per own join, each relay',
        'origin ms per join',
        'origin ms per edge join (est.)',
        'edges ms per edge join',
        'all relays ms per join',
        'load avg (1 min)',
        'peer.joined received',
      ],
      rows: joins.map((r) => [
        r.relays,
        r.relays === 1 ? 'the only relay' : joinsBy(r),
        r.round,
        r.report.answered,
        r.report.clients - r.report.answered,
        percentile(r.report.ackMs, 0.5),
        percentile(r.report.ackMs, 0.99),
        r.report.ackMsByRelay.map((xs) => (percentile(xs, 0.5) ?? 0).toFixed(0)).join(' / '),
        r.report.totalMs / 1000,
        joinsPerSecond(r),
        oneRelay(r.round) ? joinsPerSecond(r) / joinsPerSecond(oneRelay(r.round)!) : null,
        r.cpuMsPerOwnJoin.map((c) => c.toFixed(2)).join(' / '),
        r.originMsPerJoin,
        originPerEdgeJoin(r),
        r.edgeMsPerEdgeJoin,
        r.clusterMsPerJoin,
        r.loadavg[0]!,
        `${r.report.eventsReceived} of ${r.report.eventsExpected}`,
      ]),
      notes: [
        "Relay CPU (Node and worker) counts the clients' whole run: connects, the host's room.create, the joins, their fan-out and the disconnects.",
        "CPU per own join: a relay's CPU over the joins its clients sent it (the origin first). Origin per join: its CPU over every join of the run. Origin per edge join (estimated): its CPU less its own clients' joins at one relay's CPU per join in the same round, over the joins through edges: what a join answered elsewhere still costs the origin. Edges per edge join: the edges' CPU together over the joins that went through an edge. The issue's goal on this 2-core machine: origin and edge CPU per join flat in R.",
        ...joins.map(
          (r) =>
            `failures (${r.relays} relays, ${joinsBy(r)}, round ${r.round}): ${
              Object.entries(r.report.failures)
                .map(([code, n]) => `${code} ×${n}`)
                .join(', ') || 'none'
            }`,
        ),
        machine,
      ],
    });
  }
  if (parts.has('edgejoins')) {
    tables.push({
      title: `Cluster joins through one edge: ${joiners} socket.io clients connected to the edge join one room held by the origin at once, CPU over the joins alone, the edge answering (EDGE_JOINS=on) and the origin answering (off), back to back`,
      columns: ['round', 'joins answered by', 'all seen by the host ms', 'origin ms per join', 'edge ms per join'],
      rows: edgeJoins.map((r) => [r.round, r.edgeJoins === 'on' ? 'the edge' : 'the origin', r.allSeenMs, r.originMsPerJoin, r.edgeMsPerJoin]),
      notes: ["CPU is each relay process's (Node and its worker), read when the first join is sent and when the host has seen the last `peer.joined`; the clients connected before, so their handshakes are not in it.", machine],
    });
  }
  if (parts.has('traffic')) {
    tables.push({
      title: 'Cluster relay-to-relay traffic: Redis bytes (in + out) per join through an edge and per commit to every member, one room over R relays',
      columns: ['relays', 'members', 'bytes per join', 'bytes per commit'],
      rows: traffic.map((r) => [r.relays, r.members, r.bytesPerJoin, r.bytesPerCommit]),
      notes: [
        "Measured at Redis (INFO stats), so whatever the relays send each other, directory writes included: with one relay that is all there is (the room's record rewritten after each request).",
        'Addressed messaging keeps the figures flat in R: a message for one relay is read by it alone, and an event crosses once per relay with members to get it.',
      ],
    });
  }
  if (parts.has('rekey')) {
    tables.push({
      title: 'Cluster rekey: a listener leaves a room whose members are round-robin over 1 or 3 relays (host on the origin) → every remaining member holds the fresh epoch',
      columns: [
        'members',
        'relays',
        'host build ms',
        'host upload KiB',
        'last received ms',
        'median ready ms',
        'last ready ms',
        'within 1 s',
        'member process CPU ms',
        'Redis KiB',
        'Redis B per member of the room',
        'relay CPU ms (origin / edges)',
        'load avg before → after',
        'one secret, leaver locked out',
      ],
      rows: [
        ...rekeys.map((r) => [
          r.result.members,
          r.relays,
          r.result.buildMs,
          r.result.uploadBytes / 1024,
          r.result.lastReceivedMs,
          r.result.medianReadyMs,
          r.result.lastReadyMs,
          r.result.lastReadyMs <= 1000 ? 'yes' : 'no',
          r.result.processCpuMs,
          r.redisBytes / 1024,
          r.redisBytes / r.result.members,
          r.cpuMs.map((c) => c.toFixed(0)).join(' / '),
          `${r.loadavg.before[0]!.toFixed(1)} → ${r.loadavg.after[0]!.toFixed(1)}`,
          r.result.agreed ? 'yes' : 'no',
        ]),
        ...rekeyFailures.map((f) => [f.members, f.relays, null, null, null, null, null, 'did not finish', null, null, null, null, null, null]),
      ],
      notes: [
        "The single-relay rekey bench's member processes (bench/rekey.ts: the host in one, the members 2,500 to a process, the browser's Membership): the host on relay 1, members round-robin over the relays (one relay in cluster mode for the baseline, or three), all on epoch 1 first; the last member to join leaves (through its relay), the host issues the fresh commit on peer.left. Times from the leave request; a member is ready at its arrival plus its own open time. The batching window (keyBatchMs) is not in them.",
        "Redis bytes: INFO stats in plus out from just before the leave to just after every member was measured, beats slowed to one a minute: the leave forwarded, the commit's header and packages to each edge, directory writes. Relay CPU over the same span. Member process CPU: the processes holding the host and the members, summed, from the leave to the last arrival.",
        ...rekeyFailures.map((f) => `${f.members} members over ${f.relays} relay(s) did not finish: ${f.error}`),
        machine,
      ],
    });
  }
  return tables;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const parts = process.argv
    .find((a) => a.startsWith('--parts='))
    ?.slice('--parts='.length)
    .split(',') as Part[] | undefined;
  const rekeySizes = process.argv
    .find((a) => a.startsWith('--rekey-sizes='))
    ?.slice('--rekey-sizes='.length)
    .split(',')
    .map(Number);
  for (const table of await runClusterBench({ quick: process.argv.includes('--quick'), ...(parts ? { parts } : {}), ...(rekeySizes ? { rekeySizes } : {}) })) console.log(renderTable(table));
}
