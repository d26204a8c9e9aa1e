// A room in the background, as on a phone: a hidden page still sends and still hears; the lock screen shows the room and a speaker's screen stays on.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId } from './pages.ts';

let relay: Relay;
let hostBrowser: Browser;
let guestBrowser: Browser;

beforeAll(async () => {
  relay = await startTestRelay();
  // As in a person's browser, as far as headless goes: hidden-page throttling is not switched off.
  hostBrowser = await launchChromium({ toneHz: 440, throttleHidden: true });
  guestBrowser = await launchChromium({ toneHz: 660, throttleHidden: true });
}, 60_000);

afterAll(async () => {
  await guestBrowser?.close();
  await hostBrowser?.close();
  await relay?.close();
});

/** Headless Chromium grants no screen wake lock: a stand-in records what the page asks for and gives back. */
function recordWakeLocks(): void {
  const log: string[] = [];
  (window as unknown as { wakeLocks: string[] }).wakeLocks = log;
  Object.defineProperty(navigator, 'wakeLock', {
    value: {
      request: async (type: string) => {
        log.push(`request:${type}`);
        return { release: async () => void log.push('release') };
      },
    },
  });
}

/** The Page Visibility API's answer and event, as the browser gives them when a tab goes to the background and back. */
function setHidden(page: Page, hidden: boolean): Promise<void> {
  return page.evaluate((hidden) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

const wakeLocks = (page: Page) => page.evaluate(() => (window as unknown as { wakeLocks: string[] }).wakeLocks.slice());
const lockScreen = (page: Page) => page.evaluate(() => ({ title: navigator.mediaSession.metadata?.title ?? null, artist: navigator.mediaSession.metadata?.artist ?? null }));
const sentFrames = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { view(): { sent: { encrypted: number } } } }).teahouse.view().sent.encrypted);

describe('in the background', () => {
  it('a hidden speaker is still heard and still hears; its lock screen shows the room title and its screen stays on while on stage, released on leaving', async () => {
    const { page: host, link } = await createRoom(hostBrowser, relay.url, 'Night owls', 'Host', { before: recordWakeLocks });
    const guest = await joinRoom(guestBrowser, link, 'Guest');
    const guestId = await myId(guest);
    await host.locator(`[data-testid="participant"][data-participant="${guestId}"] [data-testid="invite-to-speak"]`).click();
    // Accepting is the person's own action: it opens the guest's microphone.
    await guest.getByTestId('accept-invite').click();
    const hostId = await myId(host);
    await expectHears(guest, hostId, 440);
    await expectHears(host, guestId, 660);

    // The lock screen: the title this member decrypted, which the relay only ever saw sealed.
    expect(await lockScreen(host)).toEqual({ title: 'Night owls', artist: 'Teahouse' });
    expect(await wakeLocks(host)).toEqual(['request:screen']);

    // Hidden, as on a phone switched to another app or locked. Headless Chromium keeps every page visible (a tab in
    // front, a minimised window and window.open all leave it so), so the page is told it is hidden the way the browser
    // tells it: whatever Teahouse does on visibilitychange (nothing may stop the audio) runs as it would.
    await setHidden(host, true);
    await expect.poll(() => host.evaluate(() => document.visibilityState), { timeout: 10_000 }).toBe('hidden');
    const sentBefore = await sentFrames(host);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await sentFrames(host)).toBeGreaterThan(sentBefore);
    await expectHears(guest, hostId, 440);
    await expectHears(host, guestId, 660);

    await setHidden(host, false);
    await expect.poll(() => host.evaluate(() => document.visibilityState), { timeout: 10_000 }).toBe('visible');
    // Back in front, the screen is kept on again (the browser gave the lock back when the page was hidden).
    await expect.poll(() => wakeLocks(host), { timeout: 10_000 }).toEqual(['request:screen', 'request:screen']);
    await host.getByTestId('leave-room').click();
    await expect.poll(() => wakeLocks(host), { timeout: 10_000 }).toContain('release');
    expect(await lockScreen(host)).toEqual({ title: null, artist: null });
    await guest.close();
  }, 180_000);
});
