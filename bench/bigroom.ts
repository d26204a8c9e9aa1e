// Big-room benchmark (issue 13): 1,000 / 5,000 / 10,000 members with the browser's key logic, joins, batched leaves and churn.
import { fileURLToPath } from 'node:url';
import { generateRoomSecret, initCrypto, toHex } from '../crypto/index.ts';
import { startRelay } from '../server/index.ts';
import type { CommitRecord } from './load/bigroom-host.ts';
import { Conversation, wallMs } from './load/conversation.ts';
import { barChartSvg, median, renderTable, writeJson, writePng, type Table } from './report.ts';

const MEMBER_PROCESSES = 2;

interface HostState {
  epoch: number;
  code: string;
  secretHex: string;
  members: number;
  pendingBatch: boolean;
  commits: CommitRecord[];
}
interface MembersState {
  members: number;
  minEpoch: number;
  maxEpoch: number;
  failures: number;
}
interface JoinReport {
  ackMs: number[];
  failures: Record<string, number>;
  seconds: number;
}

export interface JoinRow {
  members: number;
  perSecond: number;
  answered: number;
  failures: Record<string, number>;
  ackMedianMs: number;
  ackP99Ms: number;
  relayCpuSeconds: number;
  /** The simulated members' processes: joining, and verifying every ratchet header as the page does. */
  membersCpuSeconds: number;
  /** From the first join to every member holding the distributor's epoch (wall clock). */
  seconds: number;
  relayCpuMsPerMember: number;
  relayHeapKbPerMember: number;
  relayRssKbPerMember: number;
  agreed: boolean;
}

export interface LeaveRow {
  members: number;
  leavers: number;
  /** From the distributor closing the batch window to the last remaining member holding the fresh epoch. */
  allHoldMs: number;
  /** Half the remaining members held it by then. */
  halfHoldMs: number;
  distributorCpuMs: number;
  distributorMainThreadMs: number;
  /** The relay's CPU (its process) and the simulated members' (their processes), from the leaves to the fresh epoch. */
  relayCpuMs: number;
  membersCpuMs: number;
  headerBytes: number;
  bytesPerMemberMedian: number;
  bytesPerMemberMax: number;
  relayBytesTotal: number;
  leaversLockedOut: boolean;
  agreed: boolean;
}

export interface ChurnRow {
  members: number;
  seconds: number;
  eventsPerListenerPerMinute: number;
  bytesPerListenerPerMinute: number;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))] ?? 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits n as evenly as possible over the member processes. */
const shares = (n: number) => Array.from({ length: MEMBER_PROCESSES }, (_, i) => Math.floor(n / MEMBER_PROCESSES) + (i < n % MEMBER_PROCESSES ? 1 : 0));

class BigRoom {
  readonly relay: Awaited<ReturnType<typeof startRelay>>;
  readonly host: Conversation;
  readonly children: Conversation[];

  private constructor(relay: Awaited<ReturnType<typeof startRelay>>, host: Conversation, children: Conversation[]) {
    this.relay = relay;
    this.host = host;
    this.children = children;
  }

  static async open(): Promise<BigRoom> {
    const relay = await startRelay({ port: 0, rtcPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', maxParticipantsPerRoom: 10_100, messagesPerSecond: 10_000, messageBurst: 20_000 });
    const roomSecretHex = toHex(generateRoomSecret());
    const host = new Conversation(new URL('./load/bigroom-host.ts', import.meta.url));
    const created = await host.ask<{ participantId: string; announcement: string }>({ type: 'create', url: relay.url, roomSecretHex });
    const children = Array.from({ length: MEMBER_PROCESSES }, () => new Conversation(new URL('./load/bigroom-members.ts', import.meta.url)));
    await Promise.all(children.map((c) => c.ask({ type: 'setup', url: relay.url, roomSecretHex, host: created })));
    return new BigRoom(relay, host, children);
  }

  hostState = () => this.host.ask<HostState>({ type: 'state' });
  /** The simulated members' CPU so far (their processes), in milliseconds. */
  membersCpuMs = () => Promise.all(this.children.map((c) => c.ask<number>({ type: 'cpu' }))).then((ms) => ms.reduce((a, b) => a + b, 0));
  membersState = () => Promise.all(this.children.map((c) => c.ask<MembersState>({ type: 'state' })));

  /** Waits until the distributor has no batch open and every member holds its epoch; says whether they all agree. */
  async settle(timeoutMs: number): Promise<{ host: HostState; agreed: boolean }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const host = await this.hostState();
      const states = await this.membersState();
      const settled = !host.pendingBatch && states.every((s) => s.members === 0 || (s.minEpoch === host.epoch && s.maxEpoch === host.epoch));
      if (settled) {
        const agreements = await Promise.all(this.children.map((c) => c.ask<{ codes: string[]; secrets: string[] }>({ type: 'agreement' })));
        return { host, agreed: states.every((s, i) => s.members === 0 || (agreements[i]!.secrets.length === 1 && agreements[i]!.secrets[0] === host.secretHex && agreements[i]!.codes[0] === host.code)) };
      }
      if (performance.now() > deadline) return { host, agreed: false };
      await sleep(100);
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.children]) await c.ask({ type: 'close' }).catch(() => undefined);
    this.host.close();
    await this.relay.close();
  }
}

async function measureJoins(size: number, perSecond: number, then?: (room: BigRoom) => Promise<void>): Promise<JoinRow> {
  const room = await BigRoom.open();
  try {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const membersCpuBefore = await room.membersCpuMs();
    const started = performance.now();
    const reports = await Promise.all(room.children.map((c, i) => c.ask<JoinReport>({ type: 'join', count: shares(size)[i]!, perSecond: perSecond / MEMBER_PROCESSES })));
    const { agreed } = await room.settle(120_000);
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - started) / 1000;
    const membersCpuSeconds = ((await room.membersCpuMs()) - membersCpuBefore) / 1000;
    const after = process.memoryUsage();
    const ackMs = reports.flatMap((r) => r.ackMs);
    const failures: Record<string, number> = {};
    for (const r of reports) for (const [code, n] of Object.entries(r.failures)) failures[code] = (failures[code] ?? 0) + n;
    const cpuSeconds = (used.user + used.system) / 1e6;
    const row: JoinRow = {
      members: size,
      perSecond,
      answered: ackMs.length,
      failures,
      ackMedianMs: percentile(ackMs, 0.5),
      ackP99Ms: percentile(ackMs, 0.99),
      relayCpuSeconds: cpuSeconds,
      membersCpuSeconds,
      seconds,
      relayCpuMsPerMember: (cpuSeconds * 1000) / size,
      relayHeapKbPerMember: (after.heapUsed - memory.heapUsed) / 1024 / size,
      relayRssKbPerMember: (after.rss - memory.rss) / 1024 / size,
      agreed,
    };
    console.log(`  ${size} members at ${perSecond}/s: ${row.answered} answered, ack median ${row.ackMedianMs.toFixed(0)} ms, all on one epoch: ${agreed}`);
    if (then) await then(room);
    return row;
  } finally {
    await room.close();
  }
}

async function measureLeaves(room: BigRoom, size: number, leavers: number): Promise<LeaveRow> {
  const before = (await room.settle(60_000)).host.epoch;
  await Promise.all(room.children.map((c) => c.ask({ type: 'mark' })));
  const membersCpuBefore = await room.membersCpuMs();
  const relayCpu = process.cpuUsage();
  await Promise.all(room.children.map((c, i) => c.ask({ type: 'leave', count: shares(leavers)[i]! })));
  let settled = await room.settle(60_000);
  while (settled.host.epoch === before) settled = await room.settle(60_000);
  const { host, agreed } = settled;
  const relayUsed = process.cpuUsage(relayCpu);
  const membersCpuMs = (await room.membersCpuMs()) - membersCpuBefore;
  const commit = host.commits.find((c) => c.epoch === host.epoch && c.kind === 'fresh');
  const accepted = (await Promise.all(room.children.map((c) => c.ask<(number | null)[]>({ type: 'acceptedAt', epoch: host.epoch })))).flat();
  const counters = await Promise.all(room.children.map((c) => c.ask<{ bytes: number[]; events: number[] }>({ type: 'counters' })));
  const bytes = counters.flatMap((c) => c.bytes);
  const locked = await Promise.all(room.children.map((c) => c.ask<{ leavers: number; locked: number; checkedAgainstHeader: boolean }>({ type: 'leaversLockedOut', epoch: host.epoch, secretHex: host.secretHex })));
  const row: LeaveRow = {
    members: size,
    leavers,
    allHoldMs: commit && accepted.every((t) => t !== null) ? Math.max(...(accepted as number[])) - commit.closedAt : Number.NaN,
    halfHoldMs: commit && accepted.every((t) => t !== null) ? median(accepted as number[]) - commit.closedAt : Number.NaN,
    distributorCpuMs: commit?.cpuMs ?? Number.NaN,
    distributorMainThreadMs: commit?.mainThreadMs ?? Number.NaN,
    relayCpuMs: (relayUsed.user + relayUsed.system) / 1000,
    membersCpuMs,
    headerBytes: commit?.headerBytes ?? 0,
    bytesPerMemberMedian: median(bytes),
    bytesPerMemberMax: Math.max(...bytes),
    relayBytesTotal: bytes.reduce((a, b) => a + b, 0),
    leaversLockedOut: locked.every((l) => l.locked === l.leavers && (l.leavers === 0 || l.checkedAgainstHeader)),
    agreed,
  };
  console.log(
    `  ${leavers} leave(s) of ${size}: half hold the fresh epoch ${row.halfHoldMs.toFixed(0)} ms and all ${row.allHoldMs.toFixed(0)} ms after the window closed (CPU: distributor ${row.distributorCpuMs.toFixed(0)} ms, its main thread ${row.distributorMainThreadMs.toFixed(0)} ms, relay ${row.relayCpuMs.toFixed(0)} ms, members ${row.membersCpuMs.toFixed(0)} ms)`,
  );
  return row;
}

/** 5 joins and 5 leaves per second: what a listener who stays receives. */
async function measureChurn(room: BigRoom, size: number, seconds: number): Promise<ChurnRow> {
  await room.settle(60_000);
  await Promise.all(room.children.map((c) => c.ask({ type: 'mark' })));
  const started = wallMs();
  for (let s = 0; s < seconds; s++) {
    const tick = wallMs();
    await Promise.all(room.children.flatMap((c, i) => [c.ask({ type: 'join', count: shares(5)[i]!, perSecond: 10 }), c.ask({ type: 'leave', count: shares(5)[i]! })]));
    const rest = 1000 - (wallMs() - tick);
    if (rest > 0) await sleep(rest);
  }
  const minutes = (wallMs() - started) / 60_000;
  const counters = await Promise.all(room.children.map((c) => c.ask<{ bytes: number[]; events: number[] }>({ type: 'counters' })));
  const events = counters.flatMap((c) => c.events);
  const bytes = counters.flatMap((c) => c.bytes);
  return { members: size, seconds, eventsPerListenerPerMinute: median(events) / minutes, bytesPerListenerPerMinute: median(bytes) / minutes };
}

/** `sizes` and `withSlowJoins: false` (the 100/s runs skipped) are for running this file alone while working on it. */
export async function runBigRoomBench(opts: { quick: boolean; sizes?: number[]; withSlowJoins?: boolean }): Promise<Table[]> {
  await initCrypto();
  const sizes = opts.sizes ?? (opts.quick ? [1_000] : [1_000, 5_000, 10_000]);
  const joins: JoinRow[] = [];
  const leaves: LeaveRow[] = [];
  const churn: ChurnRow[] = [];
  for (const size of sizes) {
    if (opts.withSlowJoins !== false) joins.push(await measureJoins(size, 100));
    joins.push(
      await measureJoins(size, 500, async (room) => {
        for (const n of [1, 10, 100]) leaves.push(await measureLeaves(room, size, n));
        churn.push(await measureChurn(room, size, opts.quick ? 10 : 30));
      }),
    );
  }
  writeJson('bigroom', { quick: opts.quick, joins, leaves, churn });
  await writePng(
    'bigroom',
    barChartSvg('A batch of leaves: window closed → every remaining member holds the fresh epoch', [
      { label: 'all hold it', unit: 'ms', values: leaves.map((r) => ({ name: `${r.leavers} of ${r.members.toLocaleString('en-US')}`, value: r.allHoldMs })) },
      { label: 'distributor CPU', unit: 'ms', values: leaves.map((r) => ({ name: `${r.leavers} of ${r.members.toLocaleString('en-US')}`, value: r.distributorCpuMs })) },
    ]),
  );
  const failures = (f: Record<string, number>) =>
    Object.entries(f)
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ') || 'none';
  return [
    {
      title: 'Big room, joins: members join one room at a steady rate (relay: 1 worker on loopback; members in 2 processes, the distributor in a third)',
      columns: ['members', 'joins/s', 'answered', 'failures', 'ack median ms', 'ack p99 ms', 'seconds', 'relay CPU s', 'members CPU s', 'relay CPU ms/member', 'relay heap KB/member', 'relay RSS KB/member', 'one epoch'],
      rows: joins.map((r) => [
        r.members,
        r.perSecond,
        r.answered,
        failures(r.failures),
        r.ackMedianMs,
        r.ackP99Ms,
        r.seconds,
        r.relayCpuSeconds,
        r.membersCpuSeconds,
        r.relayCpuMsPerMember,
        r.relayHeapKbPerMember,
        r.relayRssKbPerMember,
        r.agreed ? 'yes' : 'NO',
      ]),
      notes: [
        "Every member runs the browser's Membership: it verifies the host, opens each ratchet header, and its own package when it joins.",
        'seconds: from the first join to every member holding the epoch; relay and members CPU over that time. Relay, members and distributor share 2 cores: when their CPU nears 2 × seconds, acknowledgements wait for the machine, not the relay.',
        "one epoch: after the joins, every member holds the distributor's epoch with the same secret and epoch code.",
      ],
    },
    {
      title: 'Big room, a batch of leaves in one window: the fresh epoch for everyone who stays',
      columns: [
        'members',
        'leavers',
        'half hold it ms',
        'all hold it ms',
        'distributor CPU ms',
        'its main thread ms',
        'relay CPU ms',
        'members CPU ms',
        'header B',
        'bytes/member median',
        'bytes/member max',
        'relay sent total KB',
        'leavers locked out',
        'one epoch',
      ],
      rows: leaves.map((r) => [
        r.members,
        r.leavers,
        r.halfHoldMs,
        r.allHoldMs,
        r.distributorCpuMs,
        r.distributorMainThreadMs,
        r.relayCpuMs,
        r.membersCpuMs,
        r.headerBytes,
        r.bytesPerMemberMedian,
        r.bytesPerMemberMax,
        r.relayBytesTotal / 1024,
        r.leaversLockedOut ? 'yes' : 'NO',
        r.agreed ? 'yes' : 'NO',
      ]),
      notes: [
        'all hold it: from the distributor closing its batch window (wall clock, one machine) to the last remaining member accepting the fresh epoch; half: to the median member.',
        "distributor CPU: its process from the window closing until the relay acknowledged the last package message, V8's garbage-collection threads included; its main thread: that thread's own CPU over the same span (what would hold up a page).",
        "relay and members CPU: their processes' CPU from the leaves until every member held the fresh epoch (settling included); the members are simulated on the same two cores.",
        'bytes/member: what each remaining member received over its socket from the leaves to the fresh epoch (header, own package, and any other event).',
        "leavers locked out: each leaver, given the new header as a modified client would take it, cannot open it (no package), and its last secret is not the room's.",
      ],
    },
    {
      title: 'Big room, churn: 5 joins and 5 leaves per second; what a listener who stays receives',
      columns: ['members', 'seconds', 'events per listener per minute', 'KB per listener per minute'],
      rows: churn.map((r) => [r.members, r.seconds, r.eventsPerListenerPerMinute, r.bytesPerListenerPerMinute / 1024]),
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv
    .find((a) => a.startsWith('--sizes='))
    ?.slice('--sizes='.length)
    .split(',')
    .map(Number);
  const withSlowJoins = !process.argv.includes('--no-slow-joins');
  for (const table of await runBigRoomBench({ quick: process.argv.includes('--quick'), withSlowJoins, ...(sizes ? { sizes } : {}) })) console.log(renderTable(table));
}
