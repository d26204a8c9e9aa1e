import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/tls.ts';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

const readyz = async (relay: Pick<Relay, 'url'>) => {
  const res = await fetch(`${relay.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reasons?: string[] } };
};

/** Lines a relay logged, parsed: every one must be JSON. */
function capture(): { lines: Record<string, unknown>[]; write(line: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line: string) => lines.push(JSON.parse(line)) };
}

describe('a media worker that cannot be replaced', () => {
  it('makes the relay unready, and after WORKER_RECOVERY_MS `npm start` exits non-zero (not 2) so that it is restarted', async () => {
    const dir = tempDir('worker-gone');
    const broken = join(dir, 'broken');
    // The real worker until `broken` exists; from then on every replacement fails to start.
    const wrapper = join(dir, 'mediasoup-worker');
    writeFileSync(wrapper, `#!/bin/sh\n[ -e '${broken}' ] && exit 1\nexec '${mediasoup.workerBin}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', LOG_LEVEL: 'info', MEDIASOUP_WORKER_BIN: wrapper, WORKER_RECOVERY_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await expect.poll(() => /open (http:\/\/\S+?)\/ in a browser/.exec(out)?.[1], { timeout: 20_000 }).toBeTruthy();
    const url = /open (http:\/\/\S+?)\/ in a browser/.exec(out)![1]!;
    expect((await readyz({ url })).status).toBe(200);

    writeFileSync(broken, '');
    // The relay's only child is its worker (the wrapper exec'd it).
    const [worker] = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    process.kill(worker!, 'SIGKILL');
    await expect.poll(async () => (await readyz({ url })).body, { timeout: 10_000 }).toEqual({ status: 'not ready', reasons: ['no live media worker'] });
    expect(await exited).toBe(1);
    expect(out).toContain('no mediasoup worker could be started within WORKER_RECOVERY_MS');
  });
});

async function redisLatency(relay: Relay): Promise<number> {
  const text = await (await fetch(`${relay.metricsUrl}/metrics`)).text();
  return Number(/^teahouse_cluster_redis_latency_seconds (\S+)$/m.exec(text)?.[1]);
}

describe('Redis health in cluster mode', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  it('Redis stopping makes the relay unready and is logged once; its return makes it ready again and is logged', async () => {
    const log = capture();
    const relay = await startTestRelay({ redisUrl: redis.url, logLevel: 'info', logDestination: log, clusterHeartbeatMs: 200 });
    try {
      expect(await readyz(relay)).toEqual({ status: 200, body: { status: 'ready' } });
      await redis.stop();
      await expect.poll(async () => (await readyz(relay)).body, { timeout: 10_000 }).toEqual({ status: 'not ready', reasons: ['Redis unreachable'] });
      await expect.poll(() => log.lines.filter((l) => l.msg === 'Redis unreachable: this relay is not ready until it is back').length).toBe(1);
      // The latency gauge counts the outage (beats of 200 ms, none through for seconds), not the last good round trip.
      await expect.poll(() => redisLatency(relay), { timeout: 10_000 }).toBeGreaterThan(1);
      await redis.restart();
      await expect.poll(async () => (await readyz(relay)).status, { timeout: 15_000 }).toBe(200);
      await expect.poll(() => redisLatency(relay), { timeout: 10_000 }).toBeLessThan(1);
      expect(log.lines.filter((l) => l.msg === 'Redis reachable again')).toHaveLength(1);
      // The password is in REDIS_URL: no line has it.
      expect(JSON.stringify(log.lines)).not.toContain('cluster-test-password');
    } finally {
      await relay.close();
    }
  });

  it('drain: unready at once, newcomers refused with RELAY_DRAINING, then the relay closes', async () => {
    const relay = await startTestRelay({ redisUrl: redis.url, drainMs: 1_000 });
    const room = await newRoom();
    const client = await connect(relay);
    const drained = relay.drain();
    expect((await readyz(relay)).body).toEqual({ status: 'not ready', reasons: ['draining'] });
    await expect(client.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Tea') })).rejects.toMatchObject({ code: 'RELAY_DRAINING' });
    await drained;
    client.close();
  });
});

describe('one log format', () => {
  it('every line is JSON with the relay id and the version', async () => {
    const log = capture();
    const relay = await startTestRelay({ logLevel: 'debug', logDestination: log, announcedIp: '127.0.0.1' });
    const client = await connect(relay);
    await expect(client.req('room.join', { roomId: 'r'.repeat(22), announcement: 'x' })).rejects.toBeDefined();
    client.close();
    await relay.close();
    expect(log.lines.length).toBeGreaterThan(3);
    const ids = new Set(log.lines.map((l) => l.relay));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^\S{6,}$/);
    for (const line of log.lines) expect(line.version).toMatch(/^\d+\.\d+\.\d+/);
    // Debug says what went wrong by code, and the media addresses are logged at start.
    expect(log.lines.some((l) => l.msg === 'request refused' && typeof l.code === 'string')).toBe(true);
    expect(log.lines.some((l) => l.msg === 'media addresses' && l.announcedIp === '127.0.0.1')).toBe(true);
  });
});
