// Hybrid pairwise keys in real pages: a distributor seals every package under X25519 and X-Wing together, and a relay
// that withholds a member's KEM offer gets that member skipped (no package, no epoch), never keyed with X25519 alone.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, joinRoom, myId, openPage } from './pages.ts';

let browser: Browser;
const relays: Relay[] = [];

beforeAll(async () => {
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  for (const r of relays) await r.close();
});

type Sealed = { hybrid: number; classical: number };
const sealed = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { sealedPackages(): Sealed | null } }).teahouse.sealedPackages());
const notice = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { view(): { notice: string | null } } }).teahouse.view().notice);

describe('hybrid pairwise keys in the page', () => {
  it('an honest room: the host seals every package under hybrid keys, and the listener hears it', async () => {
    const { relay } = await startHostileRelay({});
    relays.push(relay);
    const { page: host, link } = await createRoom(browser, relay.url, 'Hybrid', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    await expectHears(listener, hostId, 440);
    const counts = await sealed(host);
    expect(counts?.hybrid).toBeGreaterThan(0);
    expect(counts?.classical).toBe(0);
    for (const page of [host, listener]) await page.close();
  });

  it('a relay that holds back a newcomer KEM offer gets it skipped, not keyed with X25519 alone; once the offer passes it is keyed', async () => {
    const { relay, adversary } = await startHostileRelay({});
    relays.push(relay);
    const { page: host, link } = await createRoom(browser, relay.url, 'Hybrid', 'Host');
    const hostId = await myId(host);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = 0;
    adversary.forEvent('key.kem', (_payload, message) => {
      if (message.recipient.participantId !== hostId) return;
      held++;
      return verdict.delay(released);
    });
    // Joined as joinRoom does, without waiting for keys that cannot come yet.
    const listener = await openPage(browser, link);
    await listener.getByTestId('join-name').fill('Listener');
    await listener.getByTestId('join-room').click();
    await expect.poll(() => held).toBeGreaterThan(0);
    // Past the batch window the host commits without it and says so; the newcomer holds no epoch.
    await expect.poll(() => notice(host)).toMatch(/could not be made for 1 member/);
    expect(await epochOf(listener)).toBeNull();
    expect((await sealed(host))?.classical).toBe(0);

    release();
    await expectHears(listener, hostId, 440);
    expect(await epochOf(listener)).toBe(await epochOf(host));
    expect((await sealed(host))?.classical).toBe(0);
    for (const page of [host, listener]) await page.close();
  });
});
