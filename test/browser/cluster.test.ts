import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startClusterRelay } from '../helpers/cluster.ts';
import { freePort, startHaproxy, type Haproxy } from '../helpers/haproxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId } from './pages.ts';

let redis: TestRedis;
const relays: Relay[] = [];
let haproxy: Haproxy | undefined;
let dir: string;
let hostBrowser: Browser;
let guestBrowser: Browser;
let balancerPort: number;

/** Round-robin over the edge relays, websockets passed through; plain HTTP on loopback (a secure context). */
function balancerConfig(port: number, relayPorts: number[]): string {
  return [
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout tunnel 1h',
    'frontend teahouse',
    `    bind 127.0.0.1:${port}`,
    '    default_backend relays',
    'backend relays',
    '    balance roundrobin',
    ...relayPorts.map((p, i) => `    server relay${i} 127.0.0.1:${p}`),
    '',
  ].join('\n');
}

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) relays.push(await startClusterRelay(redis.url, { disconnectGraceMs: 30_000 }));
  dir = mkdtempSync(join(tmpdir(), 'teahouse-cluster-'));
  balancerPort = await freePort();
  haproxy = await startHaproxy(dir, balancerConfig(balancerPort, [relays[1]!.port, relays[2]!.port]), balancerPort);
  hostBrowser = await launchChromium({ toneHz: 440 });
  guestBrowser = await launchChromium({ toneHz: 660 });
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await haproxy?.stop();
  await Promise.allSettled(relays.map((r) => r.close()));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('one room over three relays in Chromium', () => {
  it('the host on relay A, a listener through HAProxy on another relay: each hears the other through the pipes', async () => {
    const [a] = relays;
    const { page: host, link } = await createRoom(hostBrowser, a!.url, 'Tea over relays', 'Host');
    const hostId = await myId(host);
    // The share link names the public address (here the balancer), not a relay.
    const viaBalancer = link.replace(a!.url, `http://127.0.0.1:${balancerPort}`);
    expect(viaBalancer).not.toBe(link);
    const guest = await joinRoom(guestBrowser, viaBalancer, 'Guest');
    const guestId = await myId(guest);
    // It landed on an edge relay: one of them counts it, and the origin counts it as a remote member.
    const edge = relays.slice(1).find((r) => r.cluster!.edgeMembers() === 1)!;
    expect(edge).toBeDefined();
    expect(a!.cluster!.remoteMembers()).toBe(1);
    await expectHears(guest, hostId, 440);
    expect(edge.cluster!.pipes()).toBe(1);

    await guest.getByTestId('raise-hand').click();
    await host.locator(`[data-testid="participant"][data-participant="${guestId}"] [data-testid="invite-to-speak"]`).click();
    await guest.getByTestId('accept-invite').click();
    await expectHears(host, guestId, 660);
    await expectHears(guest, hostId, 440);
    await host.context().close();
    await guest.context().close();
  }, 120_000);
});
