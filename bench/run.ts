// `npm run bench [-- --quick]`: runs the benchmarks, prints their tables, writes JSON and PNG charts to bench/results/.
import { runCapacityBench } from './capacity.ts';
import { runCryptoBench } from './crypto.ts';
import { runJoinBench } from './join.ts';
import { runRekeyBench } from './rekey.ts';
import { RESULTS_DIR, renderTable, type Table } from './report.ts';
import { runSignalingBench } from './signaling.ts';

const quick = process.argv.includes('--quick');
const started = Date.now();
const tables: Table[] = [];
console.log(`Teahouse benchmarks (${quick ? 'quick' : 'full'} mode). Numbers are from this machine; compare ratios, not absolutes.`);
for (const [name, run] of [
  ['crypto', () => runCryptoBench({ quick })],
  ['join', () => runJoinBench({ quick })],
  ['rekey', () => runRekeyBench({ quick })],
  ['signaling', () => runSignalingBench({ quick })],
  ['capacity', () => runCapacityBench({ quick })],
] as const) {
  console.log(`\n… ${name}`);
  const result = await run();
  for (const table of result) console.log(renderTable(table));
  tables.push(...result);
}
console.log(`\nResults in ${RESULTS_DIR} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
