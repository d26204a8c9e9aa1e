// Before the room's code (libsodium above all) has loaded and started: the join form is there, a click waits, then works.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, e2eeState, expectHears, myId, openPage } from './pages.ts';

let relay: Relay;
let browser: Browser;
/** Relays a test starts for itself, closed with the others whatever the test did. */
const own: Relay[] = [];

beforeAll(async () => {
  relay = await startTestRelay();
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await relay?.close();
  for (const r of own) await r.close();
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

describe('a room link opened before the room’s code arrives', () => {
  it('shows the join form at once: the name typed meanwhile stays, the button waits for the room, then joins; a reload of a member shows no form', async () => {
    // A grace long enough for the reload below to come back as the same participant.
    const graced = await startTestRelay({ disconnectGraceMs: 30_000 });
    own.push(graced);
    const { page: host, link } = await createRoom(browser, graced.url, 'Early', 'Host');
    // The session's chunk (mediasoup-client, socket.io: everything that asks the relay) is held until released.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const context = await browser.newContext();
    await context.route(/\/assets\/room-session-[^/]+\.js$/, async (route) => {
      await held;
      await route.continue();
    });
    const guest = await context.newPage();
    await guest.goto(link, { waitUntil: 'commit' });
    await guest.getByTestId('join-name').fill('Early bird');
    expect(await guest.getByTestId('join-room').isDisabled()).toBe(true);
    expect(await guest.getByTestId('join-waiting').count()).toBe(1);
    // Nothing of the room is known yet: no title, and no home page in its place.
    expect(await guest.getByTestId('room-title').textContent()).toBe('…');
    expect(await guest.getByTestId('create-room').count()).toBe(0);
    release();
    await expect.poll(() => guest.getByTestId('room-title').textContent(), { timeout: 20_000 }).toBe('Early');
    expect(await guest.getByTestId('join-name').inputValue()).toBe('Early bird');
    expect(await guest.getByTestId('join-room').isDisabled()).toBe(false);
    expect(await guest.getByTestId('join-waiting').count()).toBe(0);
    await guest.getByTestId('join-room').click();
    await expect.poll(() => e2eeState(guest), { timeout: 20_000 }).toBe('encrypted');
    await expectHears(guest, await myId(host), 440);
    const guestId = await myId(guest);

    // A reload comes back as the same member: never a join form, even while the room's code is held again.
    let releaseAgain!: () => void;
    const heldAgain = new Promise<void>((resolve) => (releaseAgain = resolve));
    await context.unroute(/\/assets\/room-session-[^/]+\.js$/);
    await context.route(/\/assets\/room-session-[^/]+\.js$/, async (route) => {
      await heldAgain;
      await route.continue();
    });
    await guest.reload({ waitUntil: 'commit' });
    await expect.poll(() => guest.getByRole('status').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await guest.getByTestId('join-name').count()).toBe(0);
    releaseAgain();
    await expect.poll(() => e2eeState(guest), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(guest)).toBe(guestId);
    expect(await guest.getByTestId('join-name').count()).toBe(0);
    await host.close();
    await context.close();
  }, 90_000);
});
