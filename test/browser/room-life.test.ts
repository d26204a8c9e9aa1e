// Room life in real pages: chat, reactions and pins arrive decrypted with the sender's name; the relay holds only fixed-size ciphertext.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOM_MESSAGE_CHARS } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, peakFrom } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

const chatTexts = (page: Page) => page.getByTestId('chat-message').evaluateAll((els) => els.map((e) => ({ text: e.querySelector('.chat-text')?.textContent, name: e.querySelector('.chat-name')?.textContent, question: e.getAttribute('data-question') })));

describe('room life, end-to-end encrypted', () => {
  it('a listener\'s chat message, question and reaction reach the host and another listener decrypted, named; the relay sees only fixed-size ciphertext', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Tea talk', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    const bob = await joinRoom(browser, link, 'Bob');
    const aliceId = await myId(alice);

    const secret = 'oolong-secret-phrase';
    await alice.getByTestId('chat-input').fill(`hello ${secret}`);
    await alice.getByTestId('chat-send').click();
    await alice.getByTestId('chat-input').fill('When does the next tasting start?');
    await alice.getByTestId('chat-question').check();
    await alice.getByTestId('chat-send').click();
    await alice.locator('[data-testid="reaction-button"][data-emoji="🎉"]').click();

    for (const page of [host, bob]) {
      await expect.poll(() => chatTexts(page), { timeout: 15_000 }).toEqual([
        { text: `hello ${secret}`, name: 'Alice', question: null },
        { text: 'When does the next tasting start?', name: 'Alice', question: 'true' },
      ]);
      await expect.poll(() => page.locator(`[data-testid="participant"][data-participant="${aliceId}"] [data-testid="reaction"]`).getAttribute('data-emoji'), { timeout: 10_000 }).toBe('🎉');
    }

    // The host pins the question; everyone sees it.
    await host.locator('[data-testid="chat-message"][data-question="true"] [data-testid="pin-message"]').click();
    for (const page of [host, alice, bob]) {
      await expect.poll(() => page.getByTestId('pinned-message').textContent().catch(() => null), { timeout: 10_000 }).toContain('When does the next tasting start?');
    }
    // A listener has no pin button, and its page would refuse to pin.
    expect(await alice.getByTestId('pin-message').count()).toBe(0);

    // What the relay received: room messages of the fixed sizes only, and the plaintext nowhere.
    const received = adversary.received();
    const messages = received.filter((m) => m.event === 'room.message').map((m) => (m.payload as { message: string }).message);
    expect(messages.length).toBeGreaterThanOrEqual(4);
    for (const m of messages) expect(ROOM_MESSAGE_CHARS).toContain(m.length);
    const everything = JSON.stringify(received.map((m) => m.payload));
    for (const plain of [secret, 'next tasting', 'Alice']) expect(everything).not.toContain(plain);
    for (const page of [host, alice, bob]) await page.close();
  });

  it('too long and too fast get a clear error in the page; what was sent before arrives', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Limits', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    await alice.getByTestId('chat-input').fill('x'.repeat(501));
    await alice.getByTestId('chat-send').click();
    await expect.poll(() => alice.getByTestId('chat-error').getAttribute('data-code')).toBe('TOO_LONG');
    // Twenty presses at once: past the burst the page refuses before the relay would.
    await alice.locator('[data-testid="reaction-button"]').first().evaluate((button) => {
      for (let i = 0; i < 20; i++) (button as HTMLButtonElement).click();
    });
    await expect.poll(() => alice.getByTestId('chat-error').getAttribute('data-code')).toBe('RATE_LIMITED');
    const aliceId = await myId(alice);
    await expect.poll(() => host.locator(`[data-testid="participant"][data-participant="${aliceId}"] [data-testid="reaction"]`).count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(8);
    for (const page of [host, alice]) await page.close();
  });

  it('push-to-talk: with the key up the producer still sends frames to the relay, and the listener hears silence', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Push to talk', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    await expectHears(listener, hostId, 440);
    await host.getByTestId('push-to-talk-mode').check();
    const sent = () => host.evaluate(() => (window as unknown as { teahouse: { view(): { sent: { encrypted: number } } } }).teahouse.view().sent.encrypted);
    const before = await sent();
    await expect.poll(async () => {
      const peak = await peakFrom(listener, hostId);
      return peak === null || peak.db < -90;
    }, { timeout: 15_000 }).toBe(true);
    // Frames keep flowing while released: the relay cannot tell talking from not talking.
    await expect.poll(sent, { timeout: 10_000 }).toBeGreaterThan(before + 50);
    // Holding the button talks again.
    await host.getByTestId('push-to-talk').dispatchEvent('pointerdown');
    await expectHears(listener, hostId, 440);
    await host.getByTestId('push-to-talk').dispatchEvent('pointerup');
    for (const page of [host, listener]) await page.close();
  });
});
