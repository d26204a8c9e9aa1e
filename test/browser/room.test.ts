import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, joinRoom, myId, recordRequests } from './pages.ts';

let relay: Relay;
let hostBrowser: Browser;
let speakerBrowser: Browser;

beforeAll(async () => {
  // Two workers and one receiver per router: the second listener hears everything through a piped fan-out router.
  relay = await startTestRelay({ workers: 2, listenersPerRouter: 1 });
  hostBrowser = await launchChromium({ toneHz: 440 });
  speakerBrowser = await launchChromium({ toneHz: 660 });
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await speakerBrowser?.close();
  await relay?.close();
});

describe('a room in real browsers', () => {
  it('host speaks, listeners hear 440 Hz; an invited listener speaks 660 Hz and everyone hears it', async () => {
    const { page: host, link } = await createRoom(hostBrowser, relay.url, 'Evening tea', 'Host');
    const hostRequests = recordRequests(host);
    const hostId = await myId(host);
    const alice = await joinRoom(speakerBrowser, link, 'Alice');
    const bob = await joinRoom(hostBrowser, link, 'Bob');
    await expectHears(alice, hostId, 440);
    await expectHears(bob, hostId, 440);
    // The page says so too: media flowing, not merely keys held (Bob hears through the piped fan-out router).
    for (const page of [alice, bob, host]) await expect.poll(() => page.getByTestId('e2ee-status').getAttribute('data-media'), { timeout: 20_000 }).toBe('flowing');
    const state = [...relay.rooms.values()][0]!;
    expect(state.fanout.size).toBe(1);
    const spread = [await myId(alice), await myId(bob)].filter((id) => state.members.get(id)!.recvRouter !== state.router);
    expect(spread.length).toBeGreaterThan(0);

    const aliceId = await myId(alice);
    await alice.getByTestId('raise-hand').click();
    await expect.poll(() => host.getByTestId('hand-queue').textContent()).toContain('Alice');
    await host.locator(`[data-testid="participant"][data-participant="${aliceId}"] [data-testid="invite-to-speak"]`).click();
    await alice.getByTestId('accept-invite').click();
    await expect.poll(() => host.locator(`[data-testid="participant"][data-participant="${aliceId}"]`).getAttribute('data-role')).toBe('speaker');
    await expectHears(bob, aliceId, 660);
    await expectHears(host, aliceId, 660);
    await expect.poll(() => bob.locator(`[data-testid="participant"][data-participant="${aliceId}"]`).getAttribute('data-speaking')).toBe('true');

    const fingerprints = await Promise.all([host, alice, bob].map((p) => p.getByTestId('fingerprint').textContent()));
    expect(new Set(fingerprints).size).toBe(1);
    expect(fingerprints[0]).toMatch(/\d{5} \d{5} \d{5} \d{5}/);
    for (const url of hostRequests) expect(url.startsWith(relay.url) || url.startsWith('data:') || url.startsWith('blob:'), url).toBe(true);
    expect(await epochOf(bob)).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('closing the tab is a leave: the others see the member go and the room rekeys before any disconnect grace', async () => {
    const patient = await startTestRelay({ disconnectGraceMs: 120_000 });
    try {
      const { page: host, link } = await createRoom(hostBrowser, patient.url, 'Tab close', 'Host');
      const guest = await joinRoom(hostBrowser, link, 'Guest');
      await expect.poll(() => host.getByTestId('participant').count()).toBe(2);
      const before = await epochOf(host);
      await guest.close({ runBeforeUnload: true });
      await expect.poll(() => host.getByTestId('participant').count(), { timeout: 10_000 }).toBe(1);
      await expect.poll(() => epochOf(host), { timeout: 10_000 }).toBeGreaterThan(before!);
      await host.close();
    } finally {
      await patient.close();
    }
  }, 60_000);
});
