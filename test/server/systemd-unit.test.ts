// docs/teahouse.service as written: systemd accepts it, and a stop as its KillMode sends it lets the relay drain and hand its rooms over.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startClusterRelay, TEST_HEARTBEAT_MS } from '../helpers/cluster.ts';
import { alive } from '../helpers/process.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, TEST_CLIENT_DIR, type TestClient } from '../helpers/relay.ts';
import { directive, parseEnvironmentFile, parseUnit, stopSignalTargets, systemdVerify, type Unit } from '../helpers/systemd-unit.ts';
import { tempDir } from '../helpers/tls.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const UNIT_TEXT = readFileSync(join(ROOT, 'docs/teahouse.service'), 'utf8');
/** Where docs/operations.md installs the relay; the unit names it, and here it is this checkout. */
const INSTALL_DIR = '/opt/teahouse';
/** DRAIN_MS as the unit leaves it (the default): how long a stopped relay keeps its rooms before it hands them over. */
const DRAIN_MS = 5_000;

let redis: TestRedis;
let other: Relay;
const clients: TestClient[] = [];
const pids: number[] = [];

beforeAll(async () => {
  redis = await startRedis();
  other = await startClusterRelay(redis.url, { disconnectGraceMs: 5_000 });
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.close();
  for (const pid of pids) if (alive(pid)) process.kill(-pid, 'SIGKILL');
  await other?.close();
  await redis?.stop();
});

async function member(relay: { url: string }): Promise<TestClient> {
  const client = await connect(relay);
  clients.push(client);
  return client;
}

interface UnitRelay {
  url: string;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * The relay started as the unit starts it: its ExecStart in its WorkingDirectory, with only the variables of its
 * EnvironmentFile (test values here) besides PATH and HOME, in a process group of its own standing for the unit's
 * control group: the mediasoup workers node spawns are in it, as they are in the unit's cgroup.
 */
async function startAsTheUnit(unit: Unit, envFile: string): Promise<UnitRelay> {
  const [command, ...args] = directive(unit, 'Service', 'ExecStart')!.replaceAll(INSTALL_DIR, ROOT).split(/\s+/);
  const cwd = directive(unit, 'Service', 'WorkingDirectory')!.replaceAll(INSTALL_DIR, ROOT);
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, ...parseEnvironmentFile(readFileSync(envFile, 'utf8')) };
  const child = spawn(command!, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  pids.push(child.pid!);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await expect.poll(() => /open (http:\/\/\S+?)\/ in a browser/.test(output) || child.exitCode !== null, { timeout: 20_000 }).toBe(true);
  const url = /open (http:\/\/\S+?)\/ in a browser/.exec(output)?.[1];
  if (!url) throw new Error(`the relay did not start: ${output}`);
  return { url, pid: child.pid!, output: () => output, exited };
}

/** Test values in the EnvironmentFile's format: free ports, loopback, the cluster's Redis; the drain left as it is. */
function testEnvironmentFile(): string {
  const path = join(tempDir('unit-env'), 'teahouse.env');
  writeFileSync(
    path,
    [
      "# Test values for the unit (docs/teahouse.env has a real server's).",
      'PORT=0',
      'HOST=127.0.0.1',
      'RTC_PORT=0',
      'METRICS_PORT=0',
      'WORKERS=1',
      'LOG_LEVEL=info',
      `CLIENT_DIR=${TEST_CLIENT_DIR}`,
      `REDIS_URL=${redis.url}`,
      `CLUSTER_HEARTBEAT_MS=${TEST_HEARTBEAT_MS}`,
      'DISCONNECT_GRACE_MS=5000',
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * A room on the unit's relay, a host sending and a listener receiving through its worker, then a SIGTERM to `targets`.
 * Returns what the relay said of itself during the drain and whether its media still served a request then, how it
 * exited, what it logged, what the members were sent before `relay.shuttingDown`, and whether the host's page then
 * resumes on the other relay as itself (the hand-over).
 */
async function stopWithARoom(targets: 'main' | 'group') {
  const unit = parseUnit(UNIT_TEXT);
  const relay = await startAsTheUnit(unit, testEnvironmentFile());
  const room = await newRoom();
  const roomId = room.keys.roomId;
  const hostAnnouncement = announce(room, 'Host');
  const host = await member(relay);
  const created = await host.req('room.create', { roomId, announcement: hostAnnouncement, sealedTitle: sealedTitle(room, 'T') });
  const send = await host.req('transport.create', { direction: 'send' });
  const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
  const listener = await member(relay);
  const joined = await listener.req('room.join', { roomId, announcement: announce(room, 'Listener') });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  await listener.req('transport.create', { direction: 'recv' });
  await listener.req('consumer.create', { producerId, rtpCapabilities: created.routerRtpCapabilities as Record<string, unknown> });
  const [worker] = readFileSync(`/proc/${relay.pid}/task/${relay.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  expect(alive(worker!)).toBe(true);
  const shuttingDown = Promise.all([host.next('relay.shuttingDown', DRAIN_MS + 10_000), listener.next('relay.shuttingDown', DRAIN_MS + 10_000)]);
  for (const m of [host, listener]) m.received.length = 0;

  process.kill(targets === 'main' ? relay.pid : -relay.pid, 'SIGTERM');
  await expect.poll(() => relay.output(), { timeout: 10_000 }).toContain('draining: not ready, refusing new rooms and members');
  const readiness = (await (await fetch(`${relay.url}/readyz`)).json()) as { reasons: string[] };
  // A member of a room still gets media from a draining relay: a page that reloads now makes a transport here.
  const media = await listener.req('transport.create', { direction: 'recv' }).then(
    () => 'served',
    (error: { code: string }) => error.code,
  );
  // Whether the worker still serves the drain: killed with node's SIGTERM, it is gone within moments.
  let workerInDrain: 'serving' | 'died' = 'serving';
  for (const deadline = performance.now() + 2_000; performance.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (!alive(worker!)) {
      workerInDrain = 'died';
      break;
    }
  }
  await shuttingDown;
  const beforeShutdown = [host, listener].map((m) => m.received.map((r) => r.event).filter((e) => e !== 'relay.shuttingDown'));
  const exitCode = await relay.exited;
  // The relay closes its worker before it exits: nothing is left for systemd's final SIGKILL.
  const leftBehind = alive(worker!);

  const back = await member(other);
  const resumed = await back.req('room.join', { roomId, announcement: hostAnnouncement, resumeToken: created.resumeToken });
  if ('lobby' in resumed) throw new Error('unexpected lobby');
  return { readiness: readiness.reasons, media, workerInDrain, exitCode, leftBehind, output: relay.output(), beforeShutdown, resumedAs: resumed.participantId, participantId: created.participantId };
}

describe('docs/teahouse.service', () => {
  it('passes systemd-analyze verify without a warning, installed at this checkout', async () => {
    const path = join(tempDir('unit'), 'teahouse.service');
    writeFileSync(path, UNIT_TEXT.replaceAll(INSTALL_DIR, ROOT));
    expect(await systemdVerify(path)).toEqual({ code: 0, output: '' });
  });

  it('stops with KillMode=mixed: the SIGTERM reaches node alone, which drains with its worker serving, hands the room over and exits 0', async () => {
    const killMode = directive(parseUnit(UNIT_TEXT), 'Service', 'KillMode');
    // The default (control-group) signals the workers too: the next test shows what that breaks.
    expect(killMode).toBe('mixed');
    const stopped = await stopWithARoom(stopSignalTargets(killMode));
    expect(stopped.readiness).toEqual(['draining']);
    expect(stopped.media).toBe('served');
    expect(stopped.workerInDrain).toBe('serving');
    expect(stopped.exitCode).toBe(0);
    expect(stopped.leftBehind).toBe(false);
    // The members' media went on through the drain: no reset, nothing at error level ("level":50 or 60 in pino's lines).
    expect(stopped.beforeShutdown).toEqual([[], []]);
    expect(stopped.output).not.toMatch(/"level":(50|60)/);
    expect(stopped.resumedAs).toBe(stopped.participantId);
  }, 40_000);

  it("what KillMode=control-group (systemd's default) breaks: the worker dies with the SIGTERM, so the room loses its media for the whole drain", async () => {
    const stopped = await stopWithARoom(stopSignalTargets('control-group'));
    // The relay takes its worker's death for a crash in the middle of serving: an error line, a replacement worker
    // started for a relay that is leaving, and every member told to rebuild its media on it.
    expect(stopped.output).toMatch(/"level":50[^\n]*mediasoup worker died; starting a replacement/);
    // Gone during the drain, not at its end: the members' media stopped with it. (The relay's reply, room.mediaReset on
    // the replacement, waits for a new worker and router, which a loaded machine can take longer than the drain to start.)
    expect(stopped.workerInDrain).toBe('died');
    // The hand-over itself survives: the room's record is the relay's, not the worker's.
    expect(stopped.exitCode).toBe(0);
    expect(stopped.resumedAs).toBe(stopped.participantId);
  }, 40_000);
});
