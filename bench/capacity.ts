// Relay capacity benchmark: how many SRTP listeners of one SFrame-encrypted speaker a worker carries, against bare mediasoup.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { MEDIA_CODECS } from '../server/media/codecs.ts';
import { startRelay } from '../server/index.ts';
import { announce, connect, newRoom, sealedTitle } from '../test/helpers/relay.ts';
import type { LoadCommand, LoadReply, StepResult } from './load/messages.ts';
import { runMediaPortsBench } from './media-ports.ts';
import { barChartSvg, renderTable, writeJson, writePng, type Table } from './report.ts';
import { workerCpuMs } from './worker-cpu.ts';

const LOSS_LIMIT_PCT = 0.5;
const P99_LIMIT_MS = 50;
const SPEAKER_SSRC = 0x5eaca7;
const PORTS = { min: 20_000, max: 59_999 };
const LOAD_SOCKETS = 8;
/** What Chromium negotiates with mediasoup over DTLS (checked in getStats: srtpCipher), so what a browser listener costs. */
const LISTENER_SRTP = { suite: 'AEAD_AES_256_GCM', keyAndSaltBytes: 32 + 12 } as const;

/** A router (or routers on several workers) to fill with listeners, and how to measure and tear it down. */
interface Target {
  name: string;
  encrypt: boolean;
  workers: types.Worker[];
  routers: types.Router[];
  close(): Promise<void>;
}

/** The real relay, with the room created by a real client over signaling; listeners attach to the room's routers. */
async function teahouseTarget(workers: number): Promise<Target> {
  const relay = await startRelay({ port: 0, host: '127.0.0.1', workers, logLevel: 'silent', rtcPort: 0, rtcMinPort: PORTS.min, rtcMaxPort: PORTS.max });
  const room = await newRoom();
  const host = await connect(relay);
  await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Bench') });
  const state = relay.rooms.get(room.keys.roomId)!;
  const routers = [state.router];
  // A room larger than one core: the same room's producer piped into a router on every other worker.
  for (const worker of relay.workers()) if (worker !== state.worker) routers.push(await worker.createRouter({ mediaCodecs: MEDIA_CODECS }));
  return {
    name: workers === 1 ? 'Teahouse relay, 1 worker' : `Teahouse relay, ${workers} workers (pipeToRouter)`,
    encrypt: true,
    workers: [state.worker, ...relay.workers().filter((w) => w !== state.worker)],
    routers,
    close: async () => {
      host.close();
      await relay.close();
    },
  };
}

/** mediasoup alone: one worker, one router, no Teahouse code and plain Opus payloads. */
async function bareTarget(): Promise<Target> {
  const worker = await mediasoup.createWorker({ logLevel: 'error', rtcMinPort: PORTS.min, rtcMaxPort: PORTS.max });
  const router = await worker.createRouter({ mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }] });
  return {
    name: 'bare mediasoup, 1 worker',
    encrypt: false,
    workers: [worker],
    routers: [router],
    close: async () => {
      const exited = new Promise<void>((resolve) => worker.observer.once('close', () => resolve()));
      worker.close();
      await exited;
    },
  };
}

/** The load process (bench/load/listeners.ts): the speaker and the sockets listeners send to, apart from the relay. */
export class LoadProcess {
  private readonly child: ChildProcess;
  private readonly replies: LoadReply[] = [];
  private waiting: (() => void) | null = null;
  private exited: Error | null = null;

  constructor() {
    this.child = fork(fileURLToPath(new URL('./load/listeners.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: LoadReply) => {
      this.replies.push(reply);
      this.waiting?.();
    });
    this.child.once('exit', (code) => {
      this.exited = new Error(`load process exited (${code})`);
      this.waiting?.();
    });
  }

  async next<T extends LoadReply['type']>(type: T): Promise<Extract<LoadReply, { type: T }>> {
    for (;;) {
      const index = this.replies.findIndex((r) => r.type === type);
      if (index >= 0) return this.replies.splice(index, 1)[0] as Extract<LoadReply, { type: T }>;
      if (this.exited) throw this.exited;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  send(command: LoadCommand): void {
    this.child.send(command);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.send({ type: 'stop' });
    await exited;
  }
}

export interface CapacityStep extends StepResult {
  target: string;
  listeners: number;
  /** CPU of each worker during the window, in percent of one core. */
  workerCpuPct: number[];
  cpuPer1000Pct: number;
  held: boolean;
}

async function runTarget(target: Target, load: LoadProcess, ports: number[], steps: number[], timing: { warmupMs: number; windowMs: number }): Promise<CapacityStep[]> {
  const [origin, ...others] = target.routers;
  const ingress = await origin!.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: PORTS }, rtcpMux: true, comedia: true });
  const producer = await ingress.produce({
    kind: 'audio',
    rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: SPEAKER_SSRC }] },
  });
  for (const router of others) await origin!.pipeToRouter({ producerId: producer.id, router });
  load.send({ type: 'speaker', port: ingress.tuple.localPort, ssrc: SPEAKER_SSRC, encrypt: target.encrypt });
  await load.next('speaking');

  let listeners = 0;
  const addListener = async () => {
    const router = target.routers[listeners % target.routers.length]!;
    const port = ports[listeners % ports.length]!;
    listeners++;
    // SRTP protect per listener is what each listener costs the relay; the load process reads the clear RTP header.
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: PORTS },
      rtcpMux: true,
      comedia: false,
      enableSrtp: true,
      srtpCryptoSuite: LISTENER_SRTP.suite,
    });
    const keyBase64 = randomBytes(LISTENER_SRTP.keyAndSaltBytes).toString('base64');
    await transport.connect({ ip: '127.0.0.1', port, srtpParameters: { cryptoSuite: LISTENER_SRTP.suite, keyBase64 } });
    await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  };

  const results: CapacityStep[] = [];
  for (const n of steps) {
    while (listeners < n) await Promise.all(Array.from({ length: Math.min(50, n - listeners) }, addListener));
    load.send({ type: 'run', listeners: n, ...timing });
    await load.next('window');
    const cpuBefore = await Promise.all(target.workers.map(workerCpuMs));
    const { type: _type, ...result } = await load.next('result');
    const cpuAfter = await Promise.all(target.workers.map(workerCpuMs));
    // The drain after the window forwards what was in flight at its end, as much as was in flight at its start.
    const workerCpuPct = cpuAfter.map((after, i) => (100 * (after - cpuBefore[i]!)) / result.windowMs);
    const totalCpu = workerCpuPct.reduce((a, b) => a + b, 0);
    const held = result.lossPct <= LOSS_LIMIT_PCT && result.p99Ms !== null && result.p99Ms <= P99_LIMIT_MS;
    const step: CapacityStep = { target: target.name, listeners: n, ...result, workerCpuPct, cpuPer1000Pct: (totalCpu * 1000) / n, held };
    results.push(step);
    console.log(
      `  ${target.name}: ${n} listeners, loss ${result.lossPct.toFixed(3)}%, p99 ${result.p99Ms?.toFixed(1) ?? '–'} ms, worker CPU ${workerCpuPct.map((c) => c.toFixed(0)).join('+')}%, load process ${result.loadCpuPct.toFixed(0)}%`,
    );
    if (!held) break;
  }
  return results;
}

export async function runCapacityBench(opts: { quick: boolean }): Promise<Table[]> {
  const steps = opts.quick ? [50, 200] : [100, 250, 500, 750, 1000, 1500, 2000, 4000, 8000];
  const timing = opts.quick ? { warmupMs: 400, windowMs: 1500 } : { warmupMs: 1000, windowMs: 5000 };
  const load = new LoadProcess();
  await load.next('ready');
  load.send({ type: 'open', sockets: LOAD_SOCKETS });
  const { ports } = await load.next('opened');
  const all: CapacityStep[] = [];
  try {
    for (const make of [() => teahouseTarget(1), () => bareTarget(), () => teahouseTarget(2)]) {
      const target = await make();
      try {
        all.push(...(await runTarget(target, load, ports, steps, timing)));
      } finally {
        await target.close();
      }
    }
  } finally {
    await load.stop();
  }

  const targets = [...new Set(all.map((s) => s.target))];
  const largestHeld = (name: string) => Math.max(0, ...all.filter((s) => s.target === name && s.held).map((s) => s.listeners));
  const [teahouse, bare, piped] = targets as [string, string, string];
  const cpuAt = (name: string, n: number) => all.find((s) => s.target === name && s.listeners === n)?.workerCpuPct.reduce((a, b) => a + b, 0);
  writeJson('capacity', { quick: opts.quick, limits: { lossPct: LOSS_LIMIT_PCT, p99Ms: P99_LIMIT_MS }, timing, steps: all });
  await writePng(
    'capacity',
    barChartSvg(
      'Relay capacity: worker CPU per 1,000 SRTP listeners of one speaker',
      targets.map((name) => ({
        label: name,
        unit: '% of a core',
        values: all.filter((s) => s.target === name).map((s) => ({ name: `${s.listeners} listeners${s.held ? '' : ' (failed)'}`, value: s.cpuPer1000Pct })),
      })),
    ),
  );

  const tables: Table[] = [
    {
      title: 'Relay capacity: one speaker (50 packets/s), N SRTP listeners on loopback',
      columns: ['target', 'listeners', 'loss %', 'p50 ms', 'p99 ms', 'worker CPU %', 'CPU %/1000', 'load proc CPU %', 'held'],
      rows: all.map((s) => [s.target, s.listeners, s.lossPct, s.p50Ms, s.p99Ms, s.workerCpuPct.map((c) => c.toFixed(0)).join(' + '), s.cpuPer1000Pct, s.loadCpuPct, s.held ? 'yes' : 'no']),
      notes: [
        `A step holds while loss <= ${LOSS_LIMIT_PCT}% and p99 one-way delay <= ${P99_LIMIT_MS} ms; steps stop at the first that fails.`,
        `Listeners are mediasoup PlainTransport consumers with SRTP (${LISTENER_SRTP.suite}, as browsers negotiate), sending to a separate load process.`,
        'The load process (one Node thread) receives every packet; when it nears 100% CPU the limit is the load generator, not the relay.',
      ],
    },
    {
      title: 'Relay capacity summary',
      columns: ['target', 'largest N that held', 'worker CPU % at the largest common N'],
      rows: targets.map((name) => {
        const common = Math.min(...targets.map(largestHeld));
        return [name, largestHeld(name), common > 0 ? (cpuAt(name, common) ?? null) : null];
      }),
      notes: (() => {
        const common = Math.min(largestHeld(teahouse), largestHeld(bare));
        const a = cpuAt(teahouse, common);
        const b = cpuAt(bare, common);
        const notes = [];
        if (a !== undefined && b !== undefined && b > 0) notes.push(`Teahouse/bare worker CPU at ${common} listeners: ${(a / b).toFixed(2)} (same run).`);
        if (piped) notes.push(`Spread over ${all.find((s) => s.target === piped)?.workerCpuPct.length ?? 2} workers: largest N ${largestHeld(piped)} vs ${largestHeld(teahouse)} on one.`);
        return notes;
      })(),
    },
  ];
  // The same relay with one media port per worker against a port per transport (docs/performance.md).
  return [...tables, ...(await runMediaPortsBench(opts))];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runCapacityBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
