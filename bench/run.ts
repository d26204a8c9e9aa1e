// `npm run bench [-- --quick] [--only=a,b] [--soak-minutes=N]`: runs the benchmarks, prints their tables, writes JSON and PNG charts to bench/results/.
import { runBigRoomBench } from './bigroom.ts';
import { runBundleBench } from './bundle.ts';
import { runCapacityBench } from './capacity.ts';
import { runClusterBench } from './cluster.ts';
import { runCryptoBench } from './crypto.ts';
import { runFrameCostBench } from './frame-cost.ts';
import { runJoinBench } from './join.ts';
import { runPqBench } from './pq.ts';
import { runMouthToEarBench } from './mouth-to-ear.ts';
import { runHandOverBench, runRekeyBench } from './rekey.ts';
import { RESULTS_DIR, renderTable } from './report.ts';
import { runSignalingBench } from './signaling.ts';
import { runSpliceBench } from './splice.ts';
import { runSoakBench } from './soak.ts';
import { runWireBandwidthBench } from './wire-bandwidth.ts';

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const soakMinutes = process.argv.find((a) => a.startsWith('--soak-minutes='))?.slice('--soak-minutes='.length);
const started = Date.now();
const failed: string[] = [];
console.log(`Teahouse benchmarks (${quick ? 'quick' : 'full'} mode). Numbers are from this machine; compare ratios, not absolutes.`);
for (const [name, run] of [
  ['crypto', () => runCryptoBench({ quick })],
  ['frame-cost', () => runFrameCostBench({ quick })],
  ['wire-bandwidth', () => runWireBandwidthBench({ quick })],
  ['join', () => runJoinBench({ quick })],
  ['mouth-to-ear', () => runMouthToEarBench({ quick })],
  ['rekey', () => runRekeyBench({ quick })],
  ['handover', () => runHandOverBench({ quick })],
  ['pq', () => runPqBench({ quick })],
  ['signaling', () => runSignalingBench({ quick })],
  ['bigroom', () => runBigRoomBench({ quick })],
  ['capacity', () => runCapacityBench({ quick })],
  ['cluster', () => runClusterBench({ quick })],
  ['splice', () => runSpliceBench({ quick })],
  ['bundle', () => runBundleBench({ quick })],
  ['soak', () => runSoakBench({ quick, ...(soakMinutes ? { minutes: Number(soakMinutes) } : {}) })],
] as const) {
  if (only && !only.includes(name)) continue;
  console.log(`\n… ${name}`);
  try {
    const result = await run();
    for (const table of result) console.log(renderTable(table));
  } catch (error) {
    // One benchmark failing (a slow machine, a missing browser) must not hide the others' numbers.
    console.error(`\n${name} benchmark failed: ${(error as Error).stack ?? error}`);
    failed.push(name);
  }
}
console.log(`\nResults in ${RESULTS_DIR} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
if (failed.length > 0) {
  console.error(`Failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
