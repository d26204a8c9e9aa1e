// Browser checks shared by the HTTPS and proxy tests: a room on a real (non-localhost) secure origin works end to end.
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { createRoom, expectHears, joinRoom, myId } from './pages.ts';

/** The host name the tests map to loopback (launchChromium with secureOriginArgs): an origin that is not localhost. */
export const TEST_HOST = 'teahouse.test';

/**
 * The host (microphone at 440 Hz) creates a room at `origin`, a listener (660 Hz) joins, is invited on stage, and
 * each hears the other through the encrypted path. Proves the page ran as a secure context at exactly that origin.
 */
export async function hearEachOther(hostBrowser: Browser, guestBrowser: Browser, origin: string): Promise<{ host: Page; guest: Page; hostId: string; guestId: string; link: string }> {
  const { page: host, link } = await createRoom(hostBrowser, origin, 'Tea on a domain', 'Host');
  expect(link.startsWith(`${origin}/r/`)).toBe(true);
  expect(await host.evaluate(() => [location.origin, window.isSecureContext])).toEqual([origin, true]);
  const hostId = await myId(host);
  const guest = await joinRoom(guestBrowser, link, 'Guest');
  const guestId = await myId(guest);
  await expectHears(guest, hostId, 440);
  await guest.getByTestId('raise-hand').click();
  await host.locator(`[data-testid="participant"][data-participant="${guestId}"] [data-testid="invite-to-speak"]`).click();
  await guest.getByTestId('accept-invite').click();
  await expectHears(host, guestId, 660);
  await expectHears(guest, hostId, 440);
  return { host, guest, hostId, guestId, link };
}
