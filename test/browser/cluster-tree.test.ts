// A listener on an edge of an edge, behind HAProxy, hears the host in Chromium; and again, on the consumer it had, once the middle relay is gone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startClusterRelay } from '../helpers/cluster.ts';
import { balancerConfig, freePort, startHaproxy, type Haproxy } from '../helpers/haproxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, roomIdOf } from './pages.ts';

let redis: TestRedis;
let a: Relay;
let b: Relay;
let c: Relay;
let haproxy: Haproxy | undefined;
let dir: string;
let hostBrowser: Browser;
let guestBrowser: Browser;
let balancerPort: number;

beforeAll(async () => {
  redis = await startRedis();
  // One child per relay: A feeds B, and C, which the balancer sends pages to, must take the room from B.
  [a, b, c] = [await startClusterRelay(redis.url, { pipeChildren: 1 }), await startClusterRelay(redis.url, { pipeChildren: 1 }), await startClusterRelay(redis.url, { pipeChildren: 1 })];
  dir = mkdtempSync(join(tmpdir(), 'teahouse-tree-'));
  balancerPort = await freePort();
  haproxy = await startHaproxy(dir, balancerConfig({ port: balancerPort, relayPorts: [c.port] }), balancerPort);
  hostBrowser = await launchChromium({ toneHz: 440 });
  guestBrowser = await launchChromium({ toneHz: 660 });
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await haproxy?.stop();
  await Promise.allSettled([a, b, c].filter(Boolean).map((r) => r.close()));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a room’s media tree in Chromium', () => {
  it('a listener through HAProxy on C, fed by B, fed by the origin A, hears the host; when B closes it hears again without rejoining', async () => {
    const { page: host, link } = await createRoom(hostBrowser, a.url, 'Tea down a tree', 'Host');
    const hostId = await myId(host);
    const roomId = await roomIdOf(host);
    const onB = await joinRoom(guestBrowser, link.replace(a.url, b.url), 'On B');
    await expectHears(onB, hostId, 440);
    expect(b.cluster!.treeParent(roomId)).toBe(a.cluster!.relayId);

    const onC = await joinRoom(guestBrowser, link.replace(a.url, `http://127.0.0.1:${balancerPort}`), 'On C');
    const cId = await myId(onC);
    await expectHears(onC, hostId, 440);
    expect(c.cluster!.treeParent(roomId)).toBe(b.cluster!.relayId);
    expect(b.cluster!.feeds()).toEqual([c.cluster!.relayId]);
    const consumersOnC = () => [...c.cluster!.edgeMedia()].flatMap((m) => [...m.consumers.keys()]).sort();
    const before = consumersOnC();
    expect(before.length).toBeGreaterThan(0);

    await onB.context().close();
    await b.close();
    await expect.poll(() => c.cluster!.treeParent(roomId)).toBe(a.cluster!.relayId);
    // What C's listener hears now crossed the new pipe from A.
    const received = async () => {
      const [fromA] = c.cluster!.pipeTransports();
      return fromA ? ((await fromA.getStats())[0]?.bytesReceived ?? 0) : 0;
    };
    await expect.poll(received).toBeGreaterThan(10_000);
    await expectHears(onC, hostId, 440);
    // Same member, same consumers: the page was not asked for anything.
    expect(await myId(onC)).toBe(cId);
    expect(consumersOnC()).toEqual(before);
    await host.context().close();
    await onC.context().close();
  }, 150_000);
});
