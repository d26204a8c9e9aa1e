// Rekey benchmark: after a listener leaves, how long until every remaining member holds the fresh epoch (10 to 10,000),
// under X25519 pairwise keys and under hybrid ones (X25519 and X-Wing), back to back in one run.
import { fileURLToPath } from 'node:url';
import { generateRoomSecret, initCrypto, toHex } from '../crypto/index.ts';
import { startRelay } from '../server/index.ts';
import { Conversation } from './load/conversation.ts';
import type { RekeyCommand, RekeyResult } from './load/members.ts';
import { barChartSvg, renderTable, writeJson, writePng, type Table } from './report.ts';

/**
 * Members run in a child process so that their sockets do not share the relay's event loop. `between` runs after every
 * member holds epoch 1 and before the leave, and `after` once the rekey is measured: what the relays did for it alone.
 */
export async function inMemberProcess(command: RekeyCommand, between?: () => Promise<void>, after?: () => Promise<void>): Promise<RekeyResult> {
  const members = new Conversation(new URL('./load/members.ts', import.meta.url));
  try {
    await members.ask({ type: 'setup', ...command });
    await between?.();
    const result = await members.ask<RekeyResult>({ type: 'rekey' });
    await after?.();
    return result;
  } finally {
    // Its sockets go with it: their disconnects come after what was measured.
    members.close();
  }
}

const kind = (r: RekeyResult) => (r.hybrid ? 'hybrid' : 'X25519');

export async function runRekeyBench(opts: { quick: boolean; sizes?: number[] }): Promise<Table[]> {
  await initCrypto();
  const sizes = opts.quick ? [10, 100] : (opts.sizes ?? [10, 100, 1000, 5000, 10_000]);
  const results: RekeyResult[] = [];
  for (const members of sizes) {
    // The two kinds in turn, for each size: what hybrid keys change is read off neighbouring rows.
    for (const hybrid of [false, true]) {
      const relay = await startRelay({ port: 0, rtcPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent' });
      try {
        results.push(await inMemberProcess({ url: relay.url, roomSecretHex: toHex(generateRoomSecret()), members, hybrid }));
      } finally {
        await relay.close();
      }
      const r = results.at(-1)!;
      if (!r.agreed) throw new Error(`rekey of ${members} members (${kind(r)}) did not agree on one secret`);
      console.log(`  ${members} members, ${kind(r)}: last ready ${r.lastReadyMs.toFixed(0)} ms after the leave`);
    }
  }
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
      rows: results.map((r) => [r.members, kind(r), r.offerMs, r.takeOfferMs, r.buildMs, r.headerBytes, r.packageBytes, r.uploadBytes / 1024, r.receivedBytesMax, r.lastReceivedMs, r.medianOpenMs, r.medianReadyMs, r.lastReadyMs]),
      notes: [
        "Host and members are socket.io clients with the browser's Membership (key rules), in one child process; the relay runs in the parent.",
        'Each member receives the signed header with its own package in one key.commit event; bytes are that event as JSON, the most any member received.',
        'A member is ready at its receive time plus its own open time: each member opens on its own device, so opens are timed one by one afterwards.',
        `Not in these times: the relay's batching window (keyBatchMs = ${results[0]?.keyBatchMs ?? '?'} ms), which the browser waits before a fresh epoch for leaves.`,
        "Every member checked to hold the host's new secret; the leaver checked to get no package, to be unable to open the header, and to hold another secret.",
        'hybrid: the host published its KEM key and every member offered to it (X-Wing encapsulation) before the first epoch, as pages do at their join; the host took each offer (decapsulation). Those are join-time costs, shown as medians, not part of the rekey: the rekey then uses the pairwise keys the host keeps, so it should match the X25519 row. Every package checked to be sealed under the kind of key of its row.',
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
  for (const table of await runRekeyBench({ quick: process.argv.includes('--quick'), ...(sizes ? { sizes } : {}) })) console.log(renderTable(table));
}
