import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseVectors, runConformance } from '../../crypto/conformance.ts';

const VECTORS = join(import.meta.dirname, '..', 'vectors', 'sframe-rfc9605.json');
const RUNNER = join(import.meta.dirname, '..', '..', 'scripts', 'conformance.ts');

describe('RFC 9605 conformance runner', () => {
  it('passes every vector in the RFC file', async () => {
    const vectors = parseVectors(readFileSync(VECTORS, 'utf8'));
    const result = await runConformance(vectors);
    expect(result.failures).toEqual([]);
    const expected = 2 * vectors.header!.length + 3 * vectors.sframe!.length + vectors.aes_ctr_hmac!.length + vectors.aes_256_ctr_hmac!.length;
    expect(result.passed).toBe(expected);
  });

  it('keeps 64-bit integers exact when parsing', () => {
    const v = parseVectors('{"header":[{"kid":18446744073709551615}]}');
    expect(v.header![0]!.kid).toBe(18446744073709551615n);
  });

  it('as a command: last line "N passed, 0 failed" and exit 0', () => {
    const out = execFileSync(process.execPath, [RUNNER, VECTORS], { encoding: 'utf8' });
    expect(out.trim().split('\n').at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('as a command: reports each corrupted vector and exits non-zero', () => {
    const text = readFileSync(VECTORS, 'utf8');
    const data = JSON.parse(text);
    const dir = mkdtempSync(join(tmpdir(), 'teahouse-vectors-'));
    const bad = join(dir, 'bad.json');
    const ct: string = data.sframe[0].ct;
    const corrupted = text.replace(`"encoded": "08ff"`, `"encoded": "08fe"`).replace(ct, ct.slice(0, -2) + (ct.endsWith('00') ? '01' : '00'));
    writeFileSync(bad, corrupted);
    const run = spawnSync(process.execPath, [RUNNER, bad], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('FAIL')).length).toBe(4);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 4 failed$/);
  });
});
