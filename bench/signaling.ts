// Signaling load benchmark: 500 socket.io clients (100 quick) join one room; acknowledgement times and the fan-out.
import { fileURLToPath } from 'node:url';
import { startRelay } from '../server/index.ts';
import { askChild } from './load/child.ts';
import type { LoadPlan, LoadReport } from './load/signaling-clients.ts';
import { renderTable, writeJson, type Table } from './report.ts';

/** The clients run in their own process, so the relay's event loop is not also parsing 500 clients' traffic. */
const runClients = (plan: LoadPlan): Promise<LoadReport> => askChild<LoadReport>(new URL('./load/signaling-clients.ts', import.meta.url), plan);

const percentile = (xs: number[], p: number): number | null => {
  if (!xs.length) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
};

export async function runSignalingBench(opts: { quick: boolean }): Promise<Table[]> {
  const clients = opts.quick ? 100 : 500;
  const reports: LoadReport[] = [];
  // Spread at 50 joins per second (500 within 10 s, the target in issue 8), then everyone at once.
  for (const startsPerSecond of [50, 0]) {
    // One worker, default limits: 500 members are far below MAX_PARTICIPANTS_PER_ROOM, and each client sends one message.
    const relay = await startRelay({ port: 0, rtcPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent' });
    try {
      reports.push(await runClients({ url: relay.url, clients, startsPerSecond }));
    } finally {
      await relay.close();
    }
  }
  writeJson('signaling', { quick: opts.quick, reports });
  const failures = (r: LoadReport) =>
    Object.entries(r.failures)
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ') || 'none';
  return [
    {
      title: `Signaling load: ${clients} socket.io clients join one room (relay with 1 worker on loopback, clients in a child process)`,
      columns: ['start', 'answered', 'failed', 'ack median ms', 'ack p99 ms', 'ack max ms', 'connect median ms', 'all joined s', 'joins/s', 'peer.joined received', 'room.audience received'],
      rows: reports.map((r) => [
        r.startsPerSecond ? `${r.startsPerSecond} per second` : 'all at once',
        r.answered,
        r.clients - r.answered,
        percentile(r.ackMs, 0.5),
        percentile(r.ackMs, 0.99),
        percentile(r.ackMs, 1),
        percentile(r.connectMs, 0.5),
        r.totalMs / 1000,
        r.answered / (r.totalMs / 1000),
        `${r.eventsReceived.toLocaleString('en-US')} of ${r.eventsExpected.toLocaleString('en-US')}`,
        r.audienceEvents.toLocaleString('en-US'),
      ]),
      notes: [
        'ack: from emitting room.join to its acknowledgement; all joined: from the first connect to the last acknowledgement.',
        "A listener's join goes as peer.joined to the stage only (here the host): N events over a run, where it used to be N(N+1)/2; every member gets the audience count instead, at most once a second.",
        ...reports.map((r) => `failures (${r.startsPerSecond ? 'spread' : 'all at once'}): ${failures(r)}`),
      ],
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runSignalingBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
