// The media status tells the truth: a listener whose ICE cannot succeed holds every key yet is shown "failed".
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { launchFirefox } from './firefox.ts';
import { attr, decryptedFrom, expectMedia, hears, hostRoom, idOf, joinAs, mediaOf, openTab, text } from './tab.ts';

let relay: Relay;
let chromium: ChromiumBrowser;
let stockFirefox: FirefoxBrowser;

beforeAll(async () => {
  relay = await startTestRelay();
  chromium = await launchChromium({ toneHz: 440 });
  // A stock profile: no loopback candidates, no microphone permission, so no path to a relay on 127.0.0.1.
  stockFirefox = await launchFirefox({ loopback: false });
}, 90_000);

afterAll(async () => {
  await stockFirefox?.close();
  await chromium?.close();
  await relay?.close();
});

describe('media status', () => {
  it('a listener whose ICE fails is told audio is not arriving, with a retry; a working listener in the same room is told it flows', async () => {
    const host = await openTab({ chromium }, `${relay.url}/`);
    const link = await hostRoom(host, 'Honest status', 'Host');
    const hostId = await idOf(host);
    expect((await mediaOf(host)).media).not.toBe('failed');

    const working = await openTab({ chromium }, link);
    await joinAs(working, 'Working listener');
    await hears(working, hostId, 440);
    await expectMedia(working, 'flowing');

    const stranded = await openTab({ firefox: stockFirefox }, link);
    await joinAs(stranded, 'Stranded listener');
    await expectMedia(stranded, 'failed');
    // Keys are fine (the old status alone said "encrypted"), but not one frame arrived from the speaker.
    expect(await attr(stranded, '[data-testid="e2ee-status"]', 'data-state')).toBe('encrypted');
    expect(await decryptedFrom(stranded, hostId)).toBe(0);
    expect(['transport-failed', 'transport-disconnected', 'no-frames']).toContain((await mediaOf(stranded)).reason);
    // The reason can move on (no frames, then the transport failing) between two reads: the text is checked against
    // the reason read with it, until one read of both agrees.
    await expect
      .poll(async () => {
        const shown = await text(stranded, '[data-testid="media-status"]');
        return (await mediaOf(stranded)).reason !== 'no-frames' || (shown ?? '').includes('Host');
      })
      .toBe(true);
    expect(await text(stranded, '[data-testid="media-retry"]')).toBeTruthy();
    // A retry restarts ICE (the relay sees new ICE credentials on the member's transport); with no path to the relay
    // it fails again, and the page says so again.
    const strandedId = await idOf(stranded);
    const fragments = () => [...[...relay.rooms.values()][0]!.members.get(strandedId)!.transports.values()].map((t) => t.iceParameters.usernameFragment);
    const before = fragments();
    expect(before.length).toBeGreaterThan(0);
    await stranded.click('[data-testid="media-retry"]');
    await expect.poll(() => fragments().some((f) => !before.includes(f)), { timeout: 20_000 }).toBe(true);
    expect(fragments()).toHaveLength(before.length);
    await expectMedia(stranded, 'failed');
    expect(await decryptedFrom(stranded, hostId)).toBe(0);

    expect((await mediaOf(working)).media).toBe('flowing');
    expect((await mediaOf(host)).media).toBe('flowing');
    await stranded.close();
    await working.close();
    await host.close();
  }, 180_000);
});
