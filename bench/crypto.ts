// Crypto benchmarks: SFrame cost per frame for every suite (noble, and WebCrypto for comparison), epoch commits, and
// the room fingerprint's Argon2id.
import { fileURLToPath } from 'node:url';
import {
  CIPHER_SUITES,
  createCommit,
  deriveKeySalt,
  encryptFrame,
  FINGERPRINT_ARGON2,
  generateCommitSecret,
  generateIdentity,
  initCrypto,
  NO_PREVIOUS_COMMIT,
  openCommit,
  SframeReceiver,
  roomFingerprint,
  SframeSender,
  type Identity,
  type RosterEntry,
} from '../crypto/index.ts';
import { barChartSvg, median, renderTable, writeJson, writePng, type Table } from './report.ts';

const FRAME_SIZES = [120, 400];
const FRAME_BUDGET_US = 20_000;

function timeLoop(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
}

async function timeAsync(iterations: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
}

export interface FrameRow {
  suite: string;
  bytes: number;
  implementation: 'noble (sync)' | 'WebCrypto (async)';
  encryptUs: number;
  decryptUs: number;
  encryptFps: number;
  decryptFps: number;
  overheadBytes: number;
}

export async function frameBench(quick: boolean): Promise<FrameRow[]> {
  const iterations = quick ? 2_000 : 20_000;
  const rows: FrameRow[] = [];
  const baseKey = new Uint8Array(32).fill(3);
  for (const suite of Object.values(CIPHER_SUITES).filter((s) => s.id <= 5)) {
    for (const bytes of FRAME_SIZES) {
      const plain = new Uint8Array(bytes).fill(7);
      const sender = new SframeSender({ kid: 0x10001n, baseKey, suite: suite.id });
      const receiver = new SframeReceiver();
      receiver.addKey(0x10001n, baseKey, suite.id);
      const frames: Uint8Array[] = [];
      const encryptUs = timeLoop(iterations, () => frames.push(sender.encrypt(plain)));
      let next = 0;
      const decryptUs = timeLoop(iterations, () => receiver.decrypt(frames[next++]!));
      rows.push({
        suite: suite.name, bytes, implementation: 'noble (sync)', encryptUs, decryptUs,
        encryptFps: 1e6 / encryptUs, decryptFps: 1e6 / decryptUs, overheadBytes: frames[0]!.length - bytes,
      });
    }
  }
  // WebCrypto AES-GCM for the default suite: the same frame format through the promise-based API.
  const material = deriveKeySalt(4, 0x10001n, baseKey);
  const key = await crypto.subtle.importKey('raw', material.key as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  for (const bytes of FRAME_SIZES) {
    const plain = new Uint8Array(bytes).fill(7);
    const nonce = (i: number) => {
      const n = material.salt.slice();
      new DataView(n.buffer).setUint32(8, new DataView(material.salt.buffer, material.salt.byteOffset).getUint32(8) ^ i);
      return n;
    };
    const cts: ArrayBuffer[] = [];
    const encryptUs = await timeAsync(iterations, async (i) => (cts[i] = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce(i) as BufferSource }, key, plain as BufferSource)));
    const decryptUs = await timeAsync(iterations, (i) => crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce(i) as BufferSource }, key, cts[i]!));
    rows.push({
      suite: 'AES_128_GCM_SHA256_128', bytes, implementation: 'WebCrypto (async)', encryptUs, decryptUs,
      encryptFps: 1e6 / encryptUs, decryptFps: 1e6 / decryptUs, overheadBytes: encryptFrame(4, material, 0x10001n, 0n, plain).length - bytes,
    });
  }
  return rows;
}

export interface CommitRow {
  members: number;
  buildMs: number;
  openMs: number;
  bytes: number;
}

export async function commitBench(quick: boolean): Promise<CommitRow[]> {
  await initCrypto();
  const roomId = 'B'.repeat(22);
  const distributor = generateIdentity();
  const rows: CommitRow[] = [];
  for (const n of [10, 100, 1000]) {
    const members: Identity[] = Array.from({ length: n }, () => generateIdentity());
    const roster: RosterEntry[] = [
      { memberKeyId: distributor.memberKeyId, senderIndex: 0, role: 'host' },
      ...members.map((m, i): RosterEntry => ({ memberKeyId: m.memberKeyId, senderIndex: i + 1, role: 'listener' })),
    ];
    const repeats = quick ? (n >= 1000 ? 2 : 5) : n >= 1000 ? 10 : 30;
    let blob = '';
    const buildMs = timeLoop(repeats, () => {
      blob = createCommit({
        distributor, roomId, epoch: 2, kind: 'fresh', previous: NO_PREVIOUS_COMMIT, locked: false, roster, commitSecret: generateCommitSecret(), sealFor: members,
      }).blob;
    }) / 1000;
    const me = members[n - 1]!;
    const signKeyOf = (id: string) => (id === distributor.memberKeyId ? distributor.signPublicKey : null);
    const openMs = timeLoop(repeats, () => openCommit({ blob, roomId, signKeyOf, me, current: null })) / 1000;
    rows.push({ members: n, buildMs, openMs, bytes: blob.length });
  }
  return rows;
}

export interface FingerprintRow {
  memoryKiB: number;
  passes: number;
  /** Median over the runs of one whole derivation, yields to the event loop included. */
  ms: number;
  runs: number;
}

/** The fingerprint is derived once per (room secret, host key); its cost is what a member waits for on joining. */
export async function fingerprintBench(quick: boolean): Promise<FingerprintRow> {
  const runs = quick ? 2 : 5;
  const hostKey = new Uint8Array(32).fill(0xaa);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await roomFingerprint(new Uint8Array(32).fill(i), hostKey);
    times.push(performance.now() - t0);
  }
  return { memoryKiB: FINGERPRINT_ARGON2.m, passes: FINGERPRINT_ARGON2.t, ms: median(times), runs };
}

export async function runCryptoBench(opts: { quick: boolean }): Promise<Table[]> {
  const frames = await frameBench(opts.quick);
  const commits = await commitBench(opts.quick);
  const fingerprint = await fingerprintBench(opts.quick);
  const gcm = (impl: FrameRow['implementation'], bytes: number) => frames.find((r) => r.implementation === impl && r.bytes === bytes && r.suite === 'AES_128_GCM_SHA256_128')!;
  const ratio = gcm('WebCrypto (async)', 120).encryptUs / gcm('noble (sync)', 120).encryptUs;
  writeJson('crypto', { quick: opts.quick, node: process.version, frames, commits, fingerprint, webcryptoOverNobleEncrypt120: ratio });
  const svg = barChartSvg('Teahouse crypto (Node ' + process.version + ')', [
    { label: 'SFrame encrypt, 120-byte frame', unit: 'µs per frame', values: frames.filter((r) => r.bytes === 120).map((r) => ({ name: `${r.suite} ${r.implementation === 'noble (sync)' ? '' : '(WebCrypto)'}`.trim(), value: r.encryptUs })) },
    { label: 'Fresh epoch commit', unit: 'ms to build', values: commits.map((c) => ({ name: `${c.members} members`, value: c.buildMs })) },
  ]);
  await writePng('crypto', svg);
  return [
    {
      title: 'SFrame per frame (Node, one core)',
      columns: ['suite', 'impl', 'bytes', 'enc µs', 'dec µs', 'enc fps', 'dec fps', '+bytes', '% of 20 ms'],
      rows: frames.map((r) => [r.suite, r.implementation, r.bytes, r.encryptUs, r.decryptUs, Math.round(r.encryptFps), Math.round(r.decryptFps), r.overheadBytes, (100 * (r.encryptUs + r.decryptUs)) / FRAME_BUDGET_US]),
      notes: [`WebCrypto / noble encrypt time, 120-byte AES-GCM frame, same run: ${ratio.toFixed(2)}×`, `overhead at 32 kbit/s Opus (50 frames/s): ${gcm('noble (sync)', 120).overheadBytes} bytes × 50 × 8 = ${(gcm('noble (sync)', 120).overheadBytes * 400) / 1000} kbit/s`],
    },
    {
      title: 'Epoch commits (fresh: a new commit secret sealed to every member, the signed roster, the epoch secret bound to both)',
      columns: ['members', 'build ms', 'open ms', 'bytes (b64u)'],
      rows: commits.map((c) => [c.members, c.buildMs, c.openMs, c.bytes]),
    },
    {
      title: 'Room fingerprint (Argon2id, noble, once per room secret and host key)',
      columns: ['memory KiB', 'passes', 'ms', 'runs'],
      rows: [[fingerprint.memoryKiB, fingerprint.passes, fingerprint.ms, fingerprint.runs]],
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runCryptoBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
