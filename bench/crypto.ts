// Crypto benchmarks: SFrame cost per frame for every suite (WebCrypto, and noble per frame for comparison), epoch commits, and
// the room fingerprint's Argon2id.
import { fileURLToPath } from 'node:url';
import {
  CIPHER_SUITES,
  createCommit,
  deriveKeySalt,
  encodeHeader,
  FINGERPRINT_ARGON2,
  generateCommitSecret,
  generateIdentity,
  initCrypto,
  NO_PREVIOUS_COMMIT,
  openCommit,
  pairwiseKey,
  ratchetCommitSecret,
  SframeReceiver,
  roomFingerprint,
  SframeSender,
  type Identity,
  type RosterEntry,
} from '../crypto/index.ts';
import { gcm } from '@noble/ciphers/aes.js';
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
  implementation: 'WebCrypto (async)' | 'noble gcm() per frame (sync)';
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
  // What the Worker runs: SframeSender and SframeReceiver, AES in WebCrypto with each key imported once.
  for (const suite of Object.values(CIPHER_SUITES).filter((s) => s.id <= 5)) {
    for (const bytes of FRAME_SIZES) {
      const plain = new Uint8Array(bytes).fill(7);
      const sender = new SframeSender({ kid: 0x10001n, baseKey, suite: suite.id });
      const receiver = new SframeReceiver();
      receiver.addKey(0x10001n, baseKey, suite.id);
      const frames: Uint8Array[] = [];
      const encryptUs = await timeAsync(iterations, async () => frames.push(await sender.encrypt(plain)));
      let next = 0;
      const decryptUs = await timeAsync(iterations, () => receiver.decrypt(frames[next++]!));
      rows.push({
        suite: suite.name,
        bytes,
        implementation: 'WebCrypto (async)',
        encryptUs,
        decryptUs,
        encryptFps: 1e6 / encryptUs,
        decryptFps: 1e6 / decryptUs,
        overheadBytes: frames[0]!.length - bytes,
      });
    }
  }
  // The alternative for the default suite: noble's gcm(), which expands the key and builds its GHASH table per call.
  const material = deriveKeySalt(4, 0x10001n, baseKey);
  for (const bytes of FRAME_SIZES) {
    const plain = new Uint8Array(bytes).fill(7);
    const nonce = (i: number) => {
      const n = material.salt.slice();
      new DataView(n.buffer).setUint32(8, new DataView(material.salt.buffer, material.salt.byteOffset).getUint32(8) ^ i);
      return n;
    };
    const header = encodeHeader(0x10001n, 0n);
    const cts: Uint8Array[] = [];
    const encryptUs = timeLoop(iterations, (i) => (cts[i] = gcm(material.key, nonce(i), header).encrypt(plain)));
    const decryptUs = timeLoop(iterations, (i) => gcm(material.key, nonce(i), header).decrypt(cts[i]!));
    rows.push({
      suite: 'AES_128_GCM_SHA256_128',
      bytes,
      implementation: 'noble gcm() per frame (sync)',
      encryptUs,
      decryptUs,
      encryptFps: 1e6 / encryptUs,
      decryptFps: 1e6 / decryptUs,
      overheadBytes: header.length + cts[0]!.length - bytes,
    });
  }
  return rows;
}

export interface CommitRow {
  members: number;
  /** The signed header every member receives (a host and four speakers on stage), base64url characters. */
  headerBytes: number;
  /** One member's own package, base64url characters: the same whatever the size of the room. */
  packageBytes: number;
  /** All packages of a fresh commit together: what the distributor uploads besides the header. */
  allPackagesBytes: number;
  /** A fresh commit with one X25519 step per member (a distributor that just took over). */
  buildMs: number;
  /** The same with the pairwise keys already known (a distributor keeps them): one XChaCha20-Poly1305 per member. */
  buildCachedMs: number;
  /** A member opening its package: signature, one X25519 step, one decryption. */
  openMs: number;
  /** A member following a ratchet (no package): signature and two HKDFs. */
  openRatchetMs: number;
}

export async function commitBench(quick: boolean): Promise<CommitRow[]> {
  await initCrypto();
  const roomId = 'B'.repeat(22);
  const linkKey = new Uint8Array(32).fill(7);
  const distributor = generateIdentity();
  const rows: CommitRow[] = [];
  for (const n of quick ? [10, 100, 1000] : [10, 100, 1000, 10_000]) {
    const members: Identity[] = Array.from({ length: n }, () => generateIdentity());
    const stage: RosterEntry[] = [{ memberKeyId: distributor.memberKeyId, senderIndex: 0, role: 'host' }, ...members.slice(0, 4).map((m, i): RosterEntry => ({ memberKeyId: m.memberKeyId, senderIndex: i + 1, role: 'speaker' }))];
    const ids = [distributor.memberKeyId, ...members.map((m) => m.memberKeyId)];
    const pairwise = new Map(members.map((m) => [m.memberKeyId, pairwiseKey({ roomId, mySecretKey: distributor.boxSecretKey, theirPublicKey: m.boxPublicKey, distributor: distributor.memberKeyId, member: m.memberKeyId })]));
    const build = (cached: boolean, kind: 'fresh' | 'ratchet' = 'fresh', previous: Uint8Array = NO_PREVIOUS_COMMIT, commitSecret = generateCommitSecret()) =>
      createCommit({
        distributor,
        roomId,
        linkKey,
        epoch: kind === 'fresh' ? 2 : 3,
        kind,
        previous,
        locked: false,
        members: ids,
        stage,
        commitSecret,
        packageFor: kind === 'fresh' ? members : [],
        ...(cached ? { pairwiseKeyOf: (r: { memberKeyId: string }) => pairwise.get(r.memberKeyId) ?? null } : {}),
      });
    const repeats = quick ? (n >= 1000 ? 2 : 5) : n >= 10_000 ? 2 : n >= 1000 ? 10 : 30;
    let created = build(true);
    const buildMs = timeLoop(repeats, () => (created = build(false))) / 1000;
    const buildCachedMs = timeLoop(repeats, () => (created = build(true))) / 1000;
    const me = members[n - 1]!;
    const pkg = created.packages.find((p) => p.memberKeyId === me.memberKeyId)!.package;
    const signKeyOf = (id: string) => (id === distributor.memberKeyId ? distributor.signPublicKey : null);
    const pairwiseKeyWith = (id: string) => pairwiseKey({ roomId, mySecretKey: me.boxSecretKey, theirPublicKey: distributor.boxPublicKey, distributor: id, member: me.memberKeyId });
    const opens = quick ? 50 : 500;
    const openMs = timeLoop(opens, () => openCommit({ blob: created.blob, package: pkg, roomId, linkKey, signKeyOf, pairwiseKeyWith, me, current: null })) / 1000;
    const ratchet = build(true, 'ratchet', created.hash, ratchetCommitSecret(created.epochSecret));
    const current = { epochSecret: created.epochSecret, hash: created.hash };
    const openRatchetMs = timeLoop(opens, () => openCommit({ blob: ratchet.blob, package: null, roomId, linkKey, signKeyOf, pairwiseKeyWith, me, current })) / 1000;
    rows.push({
      members: n,
      headerBytes: created.blob.length,
      packageBytes: pkg.length,
      allPackagesBytes: created.packages.reduce((sum, p) => sum + p.package.length, 0),
      buildMs,
      buildCachedMs,
      openMs,
      openRatchetMs,
    });
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
  const ratio = gcm('noble gcm() per frame (sync)', 120).encryptUs / gcm('WebCrypto (async)', 120).encryptUs;
  writeJson('crypto', { quick: opts.quick, node: process.version, frames, commits, fingerprint, webcryptoOverNobleEncrypt120: ratio });
  const svg = barChartSvg(`Teahouse crypto (Node ${process.version})`, [
    {
      label: 'SFrame encrypt, 120-byte frame',
      unit: 'µs per frame',
      values: frames.filter((r) => r.bytes === 120).map((r) => ({ name: `${r.suite} ${r.implementation === 'WebCrypto (async)' ? '' : '(noble gcm() per frame)'}`.trim(), value: r.encryptUs })),
    },
    { label: 'Fresh epoch commit', unit: 'ms to build', values: commits.map((c) => ({ name: `${c.members} members`, value: c.buildMs })) },
  ]);
  await writePng('crypto', svg);
  return [
    {
      title: 'SFrame per frame (Node, one core)',
      columns: ['suite', 'impl', 'bytes', 'enc µs', 'dec µs', 'enc fps', 'dec fps', '+bytes', '% of 20 ms'],
      rows: frames.map((r) => [r.suite, r.implementation, r.bytes, r.encryptUs, r.decryptUs, Math.round(r.encryptFps), Math.round(r.decryptFps), r.overheadBytes, (100 * (r.encryptUs + r.decryptUs)) / FRAME_BUDGET_US]),
      notes: [
        `noble gcm() per frame / WebCrypto encrypt time, 120-byte AES-GCM frame, same run: ${ratio.toFixed(2)}×`,
        `overhead at 32 kbit/s Opus (50 frames/s): ${gcm('WebCrypto (async)', 120).overheadBytes} bytes × 50 × 8 = ${(gcm('WebCrypto (async)', 120).overheadBytes * 400) / 1000} kbit/s`,
      ],
    },
    {
      title: 'Epoch commits v3 (fresh: one signed header for all, one package per member under its pairwise key with the distributor)',
      columns: ['members', 'header B', 'package B', 'all packages KiB', 'build ms', 'build ms / 1k', 'build ms (keys kept)', 'open ms', 'open ratchet ms'],
      rows: commits.map((c) => [c.members, c.headerBytes, c.packageBytes, c.allPackagesBytes / 1024, c.buildMs, (c.buildMs * 1000) / c.members, c.buildCachedMs, c.openMs, c.openRatchetMs]),
      notes: ['bytes are base64url characters as sent; a member downloads the header and its own package only'],
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
