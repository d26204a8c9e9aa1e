// `npm run conformance -- FILE`: one line per failing vector, then "N passed, M failed"; exit 0 only with no failure.
import { readFileSync } from 'node:fs';
import { parseVectors, runConformance } from '../crypto/conformance.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run conformance -- FILE (a JSON file in the RFC 9605 test-vector format)');
  process.exit(2);
}
let vectors;
try {
  vectors = parseVectors(readFileSync(file, 'utf8'));
} catch (error) {
  console.error(`cannot read ${file}: ${(error as Error).message}`);
  process.exit(2);
}
const { passed, failures } = await runConformance(vectors);
for (const failure of failures) console.log(`FAIL ${failure}`);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
