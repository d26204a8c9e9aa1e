// Rekey benchmark: after a listener leaves (or, `--handover`, the host), how long until every remaining member holds the fresh epoch (10 to 10,000),
// under X25519 pairwise keys and under hybrid ones (X25519 and X-Wing), back to back in one run.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { generateRoomSecret, initCrypto, toHex } from '../crypto/index.ts';
import { startRelay } from '../server/index.ts';
import { Conversation } from './load/conversation.ts';
import type { RekeyCommand, RekeyResult, SliceRekey } from './load/members.ts';
import type { StageOpened, StageRekey } from './load/rekey-stage.ts';
import { barChartSvg, median, renderTable, writeJson, writePng, type Table } from './report.ts';

/**
 * Members past this many go to another process: one process holding 10,000 sockets, with the crypto of their offers
 * and opens, starved its own sockets (the hybrid row at 10,000 stalled); members run on their own devices anyway.
 */
const MEMBERS_PER_PROCESS = 2_500;

/** Splits n as evenly as possible over `parts` processes. */
const shares = (n: number, parts: number) => Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));

/**
 * One room, set up to epoch 1, then one fresh epoch measured: after a listener leaves (`handOver` false: the host
 * rekeys) or after the host leaves (`handOver`: the moderator takes over by the page's own rule). The stage (host, and
 * moderator) runs in one child process and the members in others, so that none of their sockets share the relays'
 * event loop or one another's. `between` runs after every member holds epoch 1 and before the leave, and `after` once
 * the rekey is measured: what the relays did for it alone.
 */
export async function inMemberProcess(command: RekeyCommand, between?: () => Promise<void>, after?: () => Promise<void>, handOver = false): Promise<RekeyResult> {
  const stage = new Conversation(new URL('./load/rekey-stage.ts', import.meta.url));
  const others = command.members - (handOver ? 2 : 1);
  const split = shares(others, Math.max(1, Math.ceil(others / MEMBERS_PER_PROCESS)));
  const children = split.map(() => new Conversation(new URL('./load/members.ts', import.meta.url)));
  try {
    const opened = await stage.ask<StageOpened>({ type: 'open', url: command.url, roomSecretHex: command.roomSecretHex, hybrid: command.hybrid, moderator: handOver });
    const onStage = [opened.host, ...(opened.moderator ? [opened.moderator] : [])];
    const urls = command.memberUrls ?? [command.url];
    const offerTimes = await Promise.all(children.map((c, i) => c.ask<number[]>({ type: 'join', urls, roomSecretHex: command.roomSecretHex, first: 1 + split.slice(0, i).reduce((a, b) => a + b, 0), count: split[i]!, stage: onStage })));
    // Every member's offer taken before the first epoch, as a page's distributor waits for a newcomer's (join-time costs).
    if (command.hybrid) await stage.ask({ type: 'offers', expected: others });
    const epoch = await stage.ask<number>({ type: 'start' });
    await Promise.all(children.map((c) => c.ask({ type: 'firstEpoch', epoch })));
    await between?.();
    await Promise.all([stage.ask({ type: 'arm', rekey: !handOver }), ...children.map((c) => c.ask({ type: 'arm' }))]);
    let leave: { at: number; participantId: string } | null = null;
    let rekey: StageRekey;
    if (handOver) rekey = await stage.ask<StageRekey>({ type: 'handOver' });
    else {
      leave = await children.at(-1)!.ask<{ at: number; participantId: string }>({ type: 'leave' });
      rekey = await stage.ask<StageRekey>({ type: 'rekey' });
    }
    const slices = await Promise.all(children.map((c) => c.ask<SliceRekey>({ type: 'collect', epoch: rekey.epoch })));
    await after?.();
    // A hand-over is timed from the host's leave reaching its successor; a rekey from the leaver's request, as before.
    const t0 = leave ? leave.at : rekey.leftAt;
    const arrived = slices.flatMap((s) => s.arrivedAt.map((at) => at - t0));
    const opens = slices.flatMap((s) => s.openMs);
    const ready = arrived.map((a, i) => a + opens[i]!);
    const received = slices.flatMap((s) => s.receivedBytes);
    const secrets = new Set(slices.flatMap((s) => s.secrets));
    const leaverLocked = leave ? slices.some((s) => s.leaverLocked === true) && !rekey.recipients.includes(leave.participantId) : true;
    const offered = offerTimes.flat();
    return {
      members: command.members,
      hybrid: command.hybrid,
      offerMs: offered.length > 0 ? median(offered) : 0,
      takeOfferMs: rekey.takeOfferMs,
      leaveReachedMs: rekey.leftAt - (leave?.at ?? rekey.leaveAt!),
      buildMs: rekey.buildMs,
      sendMs: rekey.sendMs,
      headerBytes: rekey.headerBytes,
      packageBytes: rekey.packageBytes,
      uploadBytes: rekey.uploadBytes,
      receivedBytesMedian: median(received),
      receivedBytesMax: Math.max(...received),
      keyBatchMs: opened.keyBatchMs,
      lastReceivedMs: Math.max(...arrived),
      medianOpenMs: median(opens),
      lastReadyMs: Math.max(...ready),
      medianReadyMs: median(ready),
      processCpuMs: rekey.cpuMs + slices.reduce((sum, s) => sum + s.cpuMs, 0),
      processes: children.length + 1,
      agreed: secrets.size === 1 && secrets.has(rekey.secretHex) && arrived.length === others - (leave ? 1 : 0) && rekey.packages === arrived.length && rekey.skipped === 0 && rekey.sealedAsAsked && rekey.byExpected && leaverLocked,
    };
  } finally {
    // Their sockets go with them: their disconnects come after what was measured.
    for (const c of [stage, ...children]) c.close();
  }
}

const kind = (r: RekeyResult) => (r.hybrid ? 'hybrid' : 'X25519');

/** One run under each kind of key for each size, back to back: what hybrid keys change is read off neighbouring rows. */
async function eachKind(sizes: number[], handOver: boolean): Promise<Measured[]> {
  await initCrypto();
  const results: Measured[] = [];
  for (const members of sizes) {
    for (const hybrid of [false, true]) {
      const relay = await startRelay({ port: 0, rtcPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent' });
      const loadBefore = loadavg()[0]!;
      try {
        const r = await inMemberProcess({ url: relay.url, roomSecretHex: toHex(generateRoomSecret()), members, hybrid }, undefined, undefined, handOver);
        results.push({ ...r, load: [loadBefore, loadavg()[0]!] });
      } finally {
        await relay.close();
      }
      const r = results.at(-1)!;
      if (!r.agreed) throw new Error(`${handOver ? 'hand-over' : 'rekey'} of ${members} members (${kind(r)}) did not agree on one secret`);
      console.log(`  ${members} members, ${kind(r)}: last ready ${r.lastReadyMs.toFixed(0)} ms after the ${handOver ? "host's leave reached the moderator" : 'leave'} (load average ${r.load.map((l) => l.toFixed(1)).join(' → ')})`);
    }
  }
  return results;
}

/** A result with the machine's 1-minute load average when its run started and ended (the machine is shared). */
type Measured = RekeyResult & { load: [number, number] };

const loadCell = (r: Measured) => r.load.map((l) => l.toFixed(1)).join('–');

export async function runRekeyBench(opts: { quick: boolean; sizes?: number[] }): Promise<Table[]> {
  const results = await eachKind(opts.quick ? [10, 100] : (opts.sizes ?? [10, 100, 1000, 5000, 10_000]), false);
  writeJson('rekey', { quick: opts.quick, results });
  await writePng(
    'rekey',
    barChartSvg('A listener leaves: time until the last member can decrypt the new epoch', [
      { label: 'last member ready', unit: 'ms', values: results.map((r) => ({ name: `${r.members}, ${kind(r)}`, value: r.lastReadyMs })) },
      { label: 'host builds the fresh commit', unit: 'ms', values: results.map((r) => ({ name: `${r.members}, ${kind(r)}`, value: r.buildMs })) },
    ]),
  );
  return [
    {
      title: 'Rekey after a leave: leave request → every remaining member holds the fresh epoch (relay on loopback)',
      columns: [
        'members',
        'pairwise keys',
        'load avg',
        'offer ms (member)',
        'take offer ms (host)',
        'host build ms',
        'header B',
        'package B',
        'host upload KiB',
        'received B / member',
        'last received ms',
        'open ms (median)',
        'median ready ms',
        'last ready ms',
      ],
      rows: results.map((r) => [
        r.members,
        kind(r),
        loadCell(r),
        r.offerMs,
        r.takeOfferMs,
        r.buildMs,
        r.headerBytes,
        r.packageBytes,
        r.uploadBytes / 1024,
        r.receivedBytesMax,
        r.lastReceivedMs,
        r.medianOpenMs,
        r.medianReadyMs,
        r.lastReadyMs,
      ]),
      notes: [
        `Host and members are socket.io clients with the browser's Membership (key rules): the host in one child process, the members in others (${MEMBERS_PER_PROCESS.toLocaleString('en')} a process); the relay runs in the parent.`,
        'Each member receives the signed header with its own package in one key.commit event; bytes are that event as JSON, the most any member received.',
        'A member is ready at its receive time plus its own open time: each member opens on its own device, so opens are timed one by one afterwards.',
        `Not in these times: the relay's batching window (keyBatchMs = ${results[0]?.keyBatchMs ?? '?'} ms), which the browser waits before a fresh epoch for leaves.`,
        "Every member checked to hold the host's new secret; the leaver checked to get no package, to be unable to open the header, and to hold another secret.",
        'hybrid: the host published its KEM key and every member offered to it (X-Wing encapsulation, key.kem through the relay) before the first epoch, as pages do at their join; the host took each offer (decapsulation). Those are join-time costs, shown as medians, not part of the rekey: the rekey then uses the pairwise keys the host keeps, so it should match the X25519 row. Every package checked to be sealed under the kind of key of its row.',
        'load avg: the 1-minute load average of the machine when the run started and ended.',
      ],
    },
  ];
}

/**
 * A hand-over: a room with a host and a moderator on stage, both publishing KEM keys and every member having offered
 * to both (hybrid rows), the host leaves, and the moderator's page core takes over by its own rule.
 */
export async function runHandOverBench(opts: { quick: boolean; sizes?: number[] }): Promise<Table[]> {
  const results = await eachKind(opts.quick ? [200] : (opts.sizes ?? [1000, 5000, 10_000]), true);
  writeJson('handover', { quick: opts.quick, results });
  await writePng(
    'handover',
    barChartSvg("The host leaves: time from its leave reaching the moderator until the last member holds the moderator's fresh epoch", [
      { label: 'last member ready', unit: 'ms', values: results.map((r) => ({ name: `${r.members}, ${kind(r)}`, value: r.lastReadyMs })) },
      { label: 'moderator builds the fresh commit', unit: 'ms', values: results.map((r) => ({ name: `${r.members}, ${kind(r)}`, value: r.buildMs })) },
    ]),
  );
  return [
    {
      title: "Hand-over: the host's leave reaching the moderator → every member holds the moderator's fresh epoch (relay on loopback; goal at 10,000: within 5 s)",
      columns: ['members', 'pairwise keys', 'load avg', 'leave → moderator told ms', 'build ms', 'send ms', 'moderator upload KiB', 'last received ms', 'open ms (median)', 'median ready ms', 'last ready ms', 'processes CPU ms'],
      rows: results.map((r) => [r.members, kind(r), loadCell(r), r.leaveReachedMs, r.buildMs, r.sendMs, r.uploadBytes / 1024, r.lastReceivedMs, r.medianOpenMs, r.medianReadyMs, r.lastReadyMs, r.processCpuMs]),
      notes: [
        `members counts the host and the moderator. The host and the moderator run in one child process (the moderator as the page's RoomCore: relay events in as inputs, its effects run as the page's shell runs them), the members in others (${MEMBERS_PER_PROCESS.toLocaleString('en')} a process), the relay in the parent.`,
        "The moderator goes fresh on the relay's peer.left for the host, by the page's rule (key-core.ts: the distributor left, the next in the signed hand-over order); build: that step, the commit made from its roster; send: its key.commit and key.packages until the relay acknowledged the last.",
        "last received / ready: from the peer.left reaching the moderator to the last member holding its header and package / able to decrypt (receive time plus its own open time, opens timed one by one afterwards). The host is off the members' present set on their own peer.left, so they follow the moderator.",
        "hybrid: host and moderator published KEM keys; every member offered to both through the relay at its join, and both took every offer before the first epoch (the moderator derives its pairwise keys only at the hand-over, in the build). Every package of the hand-over checked to be sealed under the row's kind of key, none skipped, and every member to hold the moderator's secret.",
        'Not in these times: noticing the host gone (the relay reports a closed tab after its away grace; here the host asks to leave).',
      ],
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv
    .find((a) => a.startsWith('--sizes='))
    ?.slice('--sizes='.length)
    .split(',')
    .map(Number);
  const run = process.argv.includes('--handover') ? runHandOverBench : runRekeyBench;
  for (const table of await run({ quick: process.argv.includes('--quick'), ...(sizes ? { sizes } : {}) })) console.log(renderTable(table));
}
