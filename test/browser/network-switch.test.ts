// A real network drop and switch (a phone going from Wi-Fi to mobile data): the kernel drops every packet of the
// listener's browser for a few seconds, then lets only new flows through, and the listener comes back on its own.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../server/config.ts';
import type { Relay } from '../../server/index.ts';
import { NetworkCut } from '../helpers/netfilter.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { CHROMIUM_PATH, launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, joinRoom, myId, peakFrom, roomIdOf } from './pages.ts';

let cut: NetworkCut;
let hostBrowser: Browser;
let listenerBrowser: Browser;
const relays: Relay[] = [];

beforeAll(async () => {
  cut = NetworkCut.create();
  hostBrowser = await launchChromium({ toneHz: 440 });
  // Only the listener's browser is in the network the test cuts: the host and the relay keep theirs.
  listenerBrowser = await launchChromium({ launcher: cut.wrap(CHROMIUM_PATH) });
}, 60_000);

// A test that failed with the network down leaves the next one a working network.
afterEach(() => cut?.up());

afterAll(async () => {
  cut?.close();
  await hostBrowser?.close();
  await listenerBrowser?.close();
  for (const r of relays) await r.close();
});

const OUTAGE_MS = 5_000;

const hears = async (page: Page, id: string) => {
  const peak = await peakFrom(page, id);
  return peak !== null && peak.db > -70 && Math.abs(peak.hz - 440) < 15;
};

/** From now on the page remembers whether it ever showed the reconnecting state, however briefly. */
async function watchReconnecting(page: Page): Promise<() => Promise<{ seen: boolean; now: boolean }>> {
  await page.evaluate(() => {
    const w = window as unknown as { reconnectingSeen: boolean };
    const shown = () => document.querySelector('[data-testid="reconnecting"]') !== null;
    w.reconnectingSeen = shown();
    new MutationObserver(() => {
      if (shown()) w.reconnectingSeen = true;
    }).observe(document.body, { childList: true, subtree: true });
  });
  return () => page.evaluate(() => ({ seen: (window as unknown as { reconnectingSeen: boolean }).reconnectingSeen, now: document.querySelector('[data-testid="reconnecting"]') !== null }));
}

async function relayCountingResumes(disconnectGraceMs: number): Promise<{ r: Relay; resumes: () => number }> {
  let resumes = 0;
  const r = await startTestRelay({
    disconnectGraceMs,
    onClientMessage: (event, payload) => {
      if (event === 'room.join' && typeof (payload as { resumeToken?: unknown }).resumeToken === 'string') resumes++;
    },
  });
  relays.push(r);
  return { r, resumes: () => resumes };
}

/** The network goes for a few seconds and another one comes: the flows from before are dead for good. */
async function dropAndSwitch(listener: Page, hostId: string, outageMs: number): Promise<number> {
  cut.down();
  // The kernel really cut it: no audio reaches the listener.
  await expect.poll(() => hears(listener, hostId), { timeout: 30_000 }).toBe(false);
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  cut.up();
  return Date.now();
}

describe('the network drops and another one comes, in the kernel', () => {
  it('within the grace: the listener comes back as the same member on its own, with no rekey, and hears again', async () => {
    // The relay's own default grace: how soon the page notices and resumes must fit inside it.
    const grace = DEFAULTS.disconnectGraceMs;
    const { r, resumes } = await relayCountingResumes(grace);
    const { page: host, link } = await createRoom(hostBrowser, r.url, 'Switch', 'Host');
    const listener = await joinRoom(listenerBrowser, link, 'Listener');
    const hostId = await myId(host);
    const listenerId = await myId(listener);
    const roomId = await roomIdOf(host);
    await expectHears(listener, hostId, 440);
    const epoch = await epochOf(host);
    expect(await epochOf(listener)).toBe(epoch);
    const reconnecting = await watchReconnecting(listener);

    const backAt = await dropAndSwitch(listener, hostId, OUTAGE_MS);
    // Nothing is pressed: the page finds its connection dead, reconnects on the new network and resumes. Within the
    // grace: a relay that noticed the drop at once would have let the member go after it.
    await expectHears(listener, hostId, 440, grace);
    console.log(`network switch: heard again ${Date.now() - backAt} ms after the new network came (outage ${OUTAGE_MS} ms)`);
    // Media may find a new path by itself (ICE over a new TCP connection) before the page has resumed.
    await expect.poll(resumes).toBe(1);
    expect(await myId(listener)).toBe(listenerId);
    expect(r.rooms.get(roomId)?.members.get(listenerId)?.socket ?? null).not.toBeNull();
    await expect.poll(reconnecting).toEqual({ seen: true, now: false });
    // Nobody left: no rekey on either side, and the host still lists two.
    expect(await epochOf(host)).toBe(epoch);
    expect(await epochOf(listener)).toBe(epoch);
    expect(await host.getByTestId('participant').count()).toBe(2);
    await host.close();
    await listener.close();
  }, 180_000);

  it('past the grace: the member is let go and the room rekeyed; the page comes back as a new member, keyed, and hears', async () => {
    const { r, resumes } = await relayCountingResumes(6_000);
    const { page: host, link } = await createRoom(hostBrowser, r.url, 'Switch late', 'Host');
    const listener = await joinRoom(listenerBrowser, link, 'Listener');
    const hostId = await myId(host);
    const listenerId = await myId(listener);
    await expectHears(listener, hostId, 440);
    const epoch = await epochOf(host);
    const reconnecting = await watchReconnecting(listener);

    cut.down();
    await expect.poll(() => host.getByTestId('participant').count(), { timeout: 60_000 }).toBe(1);
    await expect.poll(() => epochOf(host)).toBeGreaterThan(epoch!);
    cut.up();
    const backAt = Date.now();

    await expect.poll(() => myId(listener), { timeout: 60_000 }).not.toBe(listenerId);
    // It offered its resume token; the relay, which had let it go, made it a new participant.
    expect(resumes()).toBe(1);
    await expect.poll(() => host.getByTestId('participant').count()).toBe(2);
    await expect.poll(async () => (await epochOf(listener)) === (await epochOf(host))).toBe(true);
    await expectHears(listener, hostId, 440, 30_000);
    console.log(`network switch past the grace: heard again ${Date.now() - backAt} ms after the new network came`);
    await expect.poll(reconnecting).toEqual({ seen: true, now: false });
    await host.close();
    await listener.close();
  }, 180_000);
});
