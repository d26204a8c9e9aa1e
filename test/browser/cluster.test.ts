import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeader, DEFAULT_CIPHER_SUITE, deriveSenderBaseKey, fromHex, parseKid, SframeReceiver, toHex } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { startClusterRelay } from '../helpers/cluster.ts';
import { balancerConfig, freePort, startHaproxy, type Haproxy } from '../helpers/haproxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { epochKey, expectUndecryptable, tapEdge } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, roomIdOf } from './pages.ts';

let redis: TestRedis;
const relays: Relay[] = [];
let haproxy: Haproxy | undefined;
let dir: string;
let hostBrowser: Browser;
let guestBrowser: Browser;
let balancerPort: number;

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) relays.push(await startClusterRelay(redis.url, { disconnectGraceMs: 30_000 }));
  dir = mkdtempSync(join(tmpdir(), 'teahouse-cluster-'));
  balancerPort = await freePort();
  haproxy = await startHaproxy(dir, balancerConfig({ port: balancerPort, relayPorts: [relays[1]!.port, relays[2]!.port] }), balancerPort);
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
  it('the host on relay A, a listener through HAProxy on another relay, whose join never reaches A: each hears the other through the pipes', async () => {
    const [a] = relays;
    const { page: host, link } = await createRoom(hostBrowser, a!.url, 'Tea over relays', 'Host');
    const hostId = await myId(host);
    // The share link names the public address (here the balancer), not a relay.
    const viaBalancer = link.replace(a!.url, `http://127.0.0.1:${balancerPort}`);
    expect(viaBalancer).not.toBe(link);
    const joinsAtOrigin = () => {
      const { forwardedHere } = a!.cluster!.joins();
      return (forwardedHere['room.peek'] ?? 0) + (forwardedHere['room.join'] ?? 0);
    };
    const answeredByEdges = () => relays.slice(1).reduce((n, r) => n + r.cluster!.joins().answeredHere, 0);
    const before = { origin: joinsAtOrigin(), edges: answeredByEdges() };
    const guest = await joinRoom(guestBrowser, viaBalancer, 'Guest');
    const guestId = await myId(guest);
    // It landed on an edge relay: one of them counts it, and the origin counts it as a remote member.
    const edge = relays.slice(1).find((r) => r.cluster!.edgeMembers() === 1)!;
    expect(edge).toBeDefined();
    expect(a!.cluster!.remoteMembers()).toBe(1);
    // Its peek and join were answered by the edge from the room's join view: no join request reached the origin.
    expect(joinsAtOrigin()).toBe(before.origin);
    expect(answeredByEdges()).toBe(before.edges + 1);
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

  it("a tap on the edge relay that pipes the host's audio to a listener sees only SFrame ciphertext under the room's key, never the host's plaintext frames", async () => {
    const [a] = relays;
    const { page: host, link } = await createRoom(hostBrowser, a!.url, 'Tapped edge', 'Host');
    const hostId = await myId(host);
    const roomId = await roomIdOf(host);
    const guest = await joinRoom(guestBrowser, link.replace(a!.url, `http://127.0.0.1:${balancerPort}`), 'Guest');
    await expectHears(guest, hostId, 440);
    const edge = relays.slice(1).find((r) => r.cluster!.edgeMembers() === 1)!;
    expect(edge).toBeDefined();
    expect(edge.rooms.has(roomId)).toBe(false);

    const tap = await tapEdge(edge, roomId);
    const plaintexts: string[] = await host.evaluate(() => (window as unknown as { teahouse: { capturePlaintext(n: number): Promise<string[]> } }).teahouse.capturePlaintext(50));
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(100);
    tap.close();
    const { epoch, secret } = await epochKey(host);
    expect(plaintexts).toHaveLength(50);
    const tappedHex = tap.payloads.map((p) => toHex(p));
    for (const plain of plaintexts) {
      expect(plain.length).toBeGreaterThan(4);
      expect(tappedHex.some((hex) => hex.includes(plain))).toBe(false);
    }
    // Every frame is the host's (sender 0) under the room's current epoch: it opens with that epoch's key, which the
    // relay never has, and with no other.
    for (const payload of tap.payloads) {
      const { kid } = decodeHeader(payload);
      const { epoch: frameEpoch, senderIndex } = parseKid(kid);
      expect(frameEpoch).toBe(epoch);
      expect(senderIndex).toBe(0);
      const receiver = new SframeReceiver();
      receiver.addKey(kid, deriveSenderBaseKey(fromHex(secret), senderIndex, DEFAULT_CIPHER_SUITE));
      expect((await receiver.decrypt(payload)).length).toBeGreaterThan(0);
    }
    await expectUndecryptable(tap.payloads, toHex(randomBytes(32)), epoch);
    await host.context().close();
    await guest.context().close();
  }, 150_000);
});
