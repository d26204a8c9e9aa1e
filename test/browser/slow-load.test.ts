// A click that comes before the room's code (libsodium above all) has loaded and started: it waits, then works.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { e2eeState, expectHears, myId, openPage } from './pages.ts';

let relay: Relay;
let browser: Browser;

beforeAll(async () => {
  relay = await startTestRelay();
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

/** libsodium's chunk arrives 1.5 s late, as on a slow network: the page is up and clickable long before it. */
const slowLibsodium = async (context: BrowserContext) => {
  await context.route(/\/assets\/libsodium-[^/]+\.js$/, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await route.continue();
  });
};

describe('a click before libsodium is ready', () => {
  it('creating a room and joining it both wait for it, and work', async () => {
    // The home page's create click comes at once, before the room's modules (and libsodium's WebAssembly) are there.
    const host = await openPage(browser, `${relay.url}/`, { context: slowLibsodium });
    await host.getByTestId('create-title').fill('Slow');
    await host.getByTestId('create-name').fill('Host');
    await host.getByTestId('create-room').click();
    await expect.poll(() => e2eeState(host), { timeout: 20_000 }).toBe('encrypted');
    const link = (await host.getByTestId('room-link').textContent())!;

    // The join screen shows as soon as the room is known; the click follows at once, while libsodium may still start.
    const guest = await openPage(browser, link, { context: slowLibsodium });
    await guest.getByTestId('join-name').fill('Guest');
    await guest.getByTestId('join-room').click();
    await expect.poll(() => e2eeState(guest), { timeout: 20_000 }).toBe('encrypted');
    expect(await guest.getByText(/went wrong/).count()).toBe(0);
    await expectHears(guest, await myId(host), 440);
    await host.close();
    await guest.close();
  }, 90_000);
});
