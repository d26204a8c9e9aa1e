// A relay's death (an edge, the origin with one or two levels of edges under it) and a Redis restart, in Chromium behind HAProxy: every page comes back as the same member and hears again.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay, RelayOptions } from '../../server/index.ts';
import { spawnClusterRelay, startClusterRelay, type RelayProcess } from '../helpers/cluster.ts';
import { balancerConfig, freePort, haproxyCommand, startHaproxy, type Haproxy } from '../helpers/haproxy.ts';
import { alive } from '../helpers/process.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, describePage, e2eeState, epochCode, epochOf, expectHears, framesDecrypted, joinRoom, myId, roomIdOf } from './pages.ts';

/** Long, so that every page that lost its relay resumes within it as the same member. */
const GRACE_MS = 30_000;

let redis: TestRedis;
let dir: string;
let hostBrowser: Browser;
let listenerBrowser: Browser;
const inProcess: Relay[] = [];
const children: RelayProcess[] = [];
const proxies: Haproxy[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'teahouse-cluster-faults-'));
  hostBrowser = await launchChromium({ toneHz: 440 });
  listenerBrowser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await listenerBrowser?.close();
  for (const proxy of proxies) await proxy.stop();
  await Promise.allSettled(children.map((child) => child.kill('SIGKILL')));
  await Promise.allSettled(inProcess.map((r) => r.close()));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function relay(options: RelayOptions = {}): Promise<Relay> {
  const r = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS, ...options });
  inProcess.push(r);
  return r;
}

/** `npm start` with REDIS_URL as a child process: a relay the test can SIGKILL. */
async function relayProcess(env: Record<string, string> = {}): Promise<RelayProcess> {
  const child = await spawnClusterRelay(redis.url, { DISCONNECT_GRACE_MS: String(GRACE_MS), ...env });
  children.push(child);
  return child;
}

const portOf = (url: string) => Number(new URL(url).port);

interface Balancer {
  url: string;
  /** Only these servers (indices into the relay list) take new connections: where the next page lands, for the test. */
  only(indices: number[]): Promise<void>;
}

/**
 * HAProxy with failover (balancerConfig): a dead relay is out of the rotation within a second. Its admin socket
 * steers where a page lands; nothing steers where a page goes back.
 */
async function balancer(relayPorts: number[]): Promise<Balancer> {
  const port = await freePort();
  const admin = join(dir, `admin-${port}.sock`);
  const config = balancerConfig({ port, relayPorts, failover: { adminSocket: admin } });
  const sub = join(dir, String(port));
  mkdirSync(sub);
  proxies.push(await startHaproxy(sub, config, port));
  return {
    url: `http://127.0.0.1:${port}`,
    only: async (indices) => {
      for (let i = 0; i < relayPorts.length; i++) {
        const reply = await haproxyCommand(admin, `set server relays/relay${i} state ${indices.includes(i) ? 'ready' : 'maint'}`);
        if (reply !== '') throw new Error(`haproxy: ${reply}`);
      }
    },
  };
}

const fingerprint = (page: Page) => page.getByTestId('fingerprint').textContent();
const reconnectingShown = (page: Page) =>
  page
    .getByTestId('reconnecting')
    .count()
    .then((n) => n > 0);
/** The room's error notice, if one is shown (its text, so that a failure says which). */
const noticeShown = async (page: Page): Promise<string | false> => {
  const notice = page.getByTestId('room-notice');
  return (await notice.count()) > 0 ? await notice.innerText() : false;
};

/**
 * Hears the host's 440 Hz now: frames from the host are being decrypted at this moment (after a cut, the analyser
 * alone could still show the tone that went silent), and the tone is the host's.
 */
async function hearsHostNow(page: Page, hostId: string, timeout: number): Promise<void> {
  try {
    await expect
      .poll(
        async () => {
          const before = await framesDecrypted(page, hostId);
          await new Promise((resolve) => setTimeout(resolve, 300));
          return (await framesDecrypted(page, hostId)) > before;
        },
        { timeout, interval: 100 },
      )
      .toBe(true);
    await expectHears(page, hostId, 440, timeout);
  } catch (error) {
    console.error(`hearsHostNow: ${hostId} not heard by`, await describePage(page));
    throw error;
  }
}

/** A room's media tree as the directory holds it: each edge carrying the room, to the relay it takes it from. */
const tree = async (roomId: string): Promise<Record<string, string>> => {
  const flat = (await redis.command('HGETALL', `teahouse:tree:${roomId}`)).trim().split('\n').filter(Boolean);
  return Object.fromEntries(flat.flatMap((value, i) => (i % 2 === 0 ? [[value, flat[i + 1]!]] : [])));
};

/**
 * After the origin's death: every page shows the room again without a notice, as the member it was, in the same room
 * under the same fingerprint, and the relay that took the room over holds exactly those members, the host still host.
 */
async function expectSameMembers(pages: Page[], ids: string[], roomId: string, fingerprintBefore: string | null, holder: Relay, hostId: string): Promise<void> {
  for (const [i, page] of pages.entries()) {
    await expect.poll(() => reconnectingShown(page), { timeout: 30_000 }).toBe(false);
    expect(await myId(page)).toBe(ids[i]);
    expect(await roomIdOf(page)).toBe(roomId);
    expect(await fingerprint(page)).toBe(fingerprintBefore);
    expect(await e2eeState(page)).toBe('encrypted');
    expect(await noticeShown(page)).toBe(false);
  }
  expect([...holder.rooms.get(roomId)!.members.keys()].sort()).toEqual([...ids].sort());
  expect(holder.rooms.get(roomId)!.members.get(hostId)!.role).toBe('host');
}

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

describe('a relay’s death and a Redis restart, in Chromium behind HAProxy', () => {
  it('a listener whose relay is SIGKILLed reconnects through HAProxy to a live relay, resumes as the same member with no rekey, and hears the host again', async () => {
    const a = await relay();
    const c = await relay();
    const b = await relayProcess();
    const lb = await balancer([portOf(b.url), c.port]);
    const { page: host, link } = await createRoom(hostBrowser, a.url, 'Edge dies', 'Host');
    const hostId = await myId(host);
    const roomId = await roomIdOf(host);
    // The share link names the public address, the balancer; the listener's page lands on B.
    const viaBalancer = link.replace(a.url, lb.url);
    expect(viaBalancer).not.toBe(link);
    await lb.only([0]);
    const listener = await joinRoom(listenerBrowser, viaBalancer, 'Listener');
    await lb.only([0, 1]);
    const listenerId = await myId(listener);
    await expectHears(listener, hostId, 440);
    expect(c.cluster!.edgeMembers()).toBe(0);
    expect(a.cluster!.remoteMembers()).toBe(1);
    const codeBefore = await epochCode(listener);
    const epochBefore = await epochOf(listener);
    expect(codeBefore).not.toBeNull();

    const killed = performance.now();
    await b.kill('SIGKILL');
    expect(alive(b.pid)).toBe(false);
    await expect.poll(() => reconnectingShown(listener)).toBe(true);
    // The only live relay behind the balancer is C: the page is back there, as itself, and hears through C's pipe.
    await expect.poll(() => c.cluster!.edgeMembers(), { timeout: 60_000 }).toBe(1);
    await hearsHostNow(listener, hostId, 60_000);
    console.log(`listener's relay SIGKILLed: heard the host again after ${seconds(killed)} s`);
    expect(await myId(listener)).toBe(listenerId);
    expect(await epochCode(listener)).toBe(codeBefore);
    expect(await epochOf(listener)).toBe(epochBefore);
    expect(await epochOf(host)).toBe(epochBefore);
    expect(await e2eeState(listener)).toBe('encrypted');
    expect(await reconnectingShown(listener)).toBe(false);
    expect(await noticeShown(listener)).toBe(false);
    expect([...a.rooms.get(roomId)!.members.keys()].sort()).toEqual([hostId, listenerId].sort());
    await listener.close();
    await host.close();
  }, 150_000);

  it('the origin relay is SIGKILLed: everyone, the host included, resumes through HAProxy on the survivors as the same member under the same fingerprint, and the listeners hear the host again', async () => {
    const origin = await relayProcess();
    const d = await relay();
    const e = await relay();
    const lb = await balancer([portOf(origin.url), d.port, e.port]);
    // The host creates the room through the balancer, landing on the origin; the listeners land on the others.
    await lb.only([0]);
    const { page: host, link } = await createRoom(hostBrowser, lb.url, 'Origin dies', 'Host');
    expect(link.startsWith(`${lb.url}/`)).toBe(true);
    const roomId = await roomIdOf(host);
    expect(d.rooms.has(roomId) || e.rooms.has(roomId)).toBe(false);
    await lb.only([1, 2]);
    const listeners = [await joinRoom(listenerBrowser, link, 'Listener 1'), await joinRoom(listenerBrowser, link, 'Listener 2')];
    await lb.only([0, 1, 2]);
    const hostId = await myId(host);
    for (const listener of listeners) await expectHears(listener, hostId, 440);
    const pages = [host, ...listeners];
    const ids = await Promise.all(pages.map(myId));
    const fingerprintBefore = await fingerprint(host);
    for (const page of listeners) expect(await fingerprint(page)).toBe(fingerprintBefore);

    const killed = performance.now();
    await origin.kill('SIGKILL');
    expect(alive(origin.pid)).toBe(false);
    // One survivor takes the room over from its record in Redis.
    await expect.poll(() => [d, e].filter((r) => r.rooms.has(roomId)).length, { timeout: 30_000 }).toBe(1);
    const holder = [d, e].find((r) => r.rooms.has(roomId))!;
    for (const [i, listener] of listeners.entries()) {
      await hearsHostNow(listener, hostId, 90_000);
      console.log(`origin relay SIGKILLed: listener ${i + 1} heard the host again after ${seconds(killed)} s`);
    }
    await expectSameMembers(pages, ids, roomId, fingerprintBefore, holder, hostId);
    for (const page of pages) await page.close();
  }, 150_000);

  it('the origin relay is SIGKILLed while listeners sit on an edge and on an edge of that edge: everyone resumes as the same member under the same fingerprint, and both listeners hear the host again', async () => {
    // One child per relay: the origin feeds B, so C must take the room from B (tree.ts).
    const origin = await relayProcess({ PIPE_CHILDREN: '1' });
    const b = await relay({ pipeChildren: 1 });
    const c = await relay({ pipeChildren: 1 });
    const lb = await balancer([portOf(origin.url), b.port, c.port]);
    await lb.only([0]);
    const { page: host, link } = await createRoom(hostBrowser, lb.url, 'Origin over a tree dies', 'Host');
    const roomId = await roomIdOf(host);
    const hostId = await myId(host);
    const originId = (await redis.command('GET', `teahouse:origin:${roomId}`)).trim();
    expect([b.cluster!.relayId, c.cluster!.relayId]).not.toContain(originId);
    // B's listener first, so that B takes the origin's one place and C's listener then hangs below B.
    await lb.only([1]);
    const onB = await joinRoom(listenerBrowser, link, 'On B');
    await expectHears(onB, hostId, 440);
    await lb.only([2]);
    const onC = await joinRoom(listenerBrowser, link, 'On C');
    await expectHears(onC, hostId, 440);
    await lb.only([0, 1, 2]);
    // Two levels, as the directory holds them and as the relays carry them: C's media crosses B.
    expect(await tree(roomId)).toEqual({ [b.cluster!.relayId]: originId, [c.cluster!.relayId]: b.cluster!.relayId });
    expect(b.cluster!.treeParent(roomId)).toBe(originId);
    expect(c.cluster!.treeParent(roomId)).toBe(b.cluster!.relayId);
    expect(b.cluster!.feeds()).toEqual([c.cluster!.relayId]);
    expect(b.cluster!.edgeMembers()).toBe(1);
    expect(c.cluster!.edgeMembers()).toBe(1);
    const listeners = [onB, onC];
    const pages = [host, ...listeners];
    const ids = await Promise.all(pages.map(myId));
    const fingerprintBefore = await fingerprint(host);
    for (const page of listeners) expect(await fingerprint(page)).toBe(fingerprintBefore);

    const killed = performance.now();
    await origin.kill('SIGKILL');
    expect(alive(origin.pid)).toBe(false);
    await expect.poll(() => [b, c].filter((r) => r.rooms.has(roomId)).length, { timeout: 30_000 }).toBe(1);
    const holder = [b, c].find((r) => r.rooms.has(roomId))!;
    for (const [i, listener] of listeners.entries()) {
      await hearsHostNow(listener, hostId, 90_000);
      console.log(`origin over two levels SIGKILLed: listener ${i === 0 ? 'on B' : 'on C'} heard the host again after ${seconds(killed)} s`);
    }
    await expectSameMembers(pages, ids, roomId, fingerprintBefore, holder, hostId);
    for (const page of pages) await page.close();
  }, 180_000);

  it('Redis restarts during a room: the listener keeps hearing the host across relays, and a listener joining through HAProxy afterwards hears the host', async () => {
    const f = await relay();
    const g = await relay();
    const lb = await balancer([f.port, g.port]);
    // The host on F, the listener on G: the audio crosses a pipe between relays.
    await lb.only([0]);
    const { page: host, link } = await createRoom(hostBrowser, lb.url, 'Redis restarts', 'Host');
    const roomId = await roomIdOf(host);
    expect(f.rooms.has(roomId)).toBe(true);
    await lb.only([1]);
    const before = await joinRoom(listenerBrowser, link, 'Before');
    await lb.only([0, 1]);
    const hostId = await myId(host);
    await hearsHostNow(before, hostId, 30_000);
    expect(g.cluster!.edgeMembers()).toBe(1);

    await redis.restart();
    // Redis lost everything; the next heartbeats write the directory again.
    await expect.poll(async () => (await redis.command('GET', `teahouse:origin:${roomId}`)).trim(), { timeout: 10_000 }).toBe(f.cluster!.relayId);
    await hearsHostNow(before, hostId, 30_000);
    expect(await reconnectingShown(before)).toBe(false);

    const after = await joinRoom(listenerBrowser, link, 'After');
    await hearsHostNow(after, hostId, 30_000);
    await hearsHostNow(before, hostId, 30_000);
    expect(f.rooms.get(roomId)!.members.size).toBe(3);
    for (const page of [host, before, after]) expect(await noticeShown(page)).toBe(false);
    for (const page of [host, before, after]) await page.close();
  }, 150_000);
});
