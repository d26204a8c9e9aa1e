// A listener whose last commit the relay dropped (no later one shows it the gap) asks the distributor again and hears.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, framesDecrypted, joinRoom, myId } from './pages.ts';

let browser: Browser;
const relays: Relay[] = [];

beforeAll(async () => {
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  for (const r of relays) await r.close();
});

describe('a commit lost on the way', () => {
  it('leaves the listener behind only until it asks the distributor, from the frames it holds, for the epoch again', async () => {
    const { relay, adversary } = await startHostileRelay({});
    relays.push(relay);
    const { page: host, link } = await createRoom(browser, relay.url, 'Lost commit', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    const listenerId = await myId(listener);
    await expectHears(listener, hostId, 440);
    expect(await epochOf(listener)).toBe(await epochOf(host));

    // The next commit the listener is sent (the ratchet for a newcomer) is dropped; the resend it asks for passes.
    let dropped = 0;
    adversary.forEvent('key.commit', (_payload, message) => {
      if (message.recipient.participantId !== listenerId || dropped > 0) return;
      dropped++;
      return verdict.drop;
    });
    const before = await epochOf(listener);
    const newcomer = await joinRoom(browser, link, 'Newcomer');
    expect(dropped).toBe(1);
    expect(await epochOf(host)).toBeGreaterThan(before!);

    // The listener caught up by its own asking: it sent key.resend to the host, and holds the host's epoch again.
    await expect.poll(() => epochOf(listener), { timeout: 30_000 }).toBe(await epochOf(host));
    const asked = adversary.received(listenerId).filter((m) => m.event === 'key.resend');
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked[0]!.payload).toEqual({ to: hostId });
    const count = await framesDecrypted(listener, hostId);
    await expect.poll(() => framesDecrypted(listener, hostId)).toBeGreaterThan(count);
    await expectHears(listener, hostId, 440);
    for (const page of [host, listener, newcomer]) await page.close();
  }, 90_000);
});
