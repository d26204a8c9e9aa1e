// Room life in real pages: chat, reactions and pins arrive decrypted with the sender's name; the relay holds only fixed-size ciphertext.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeader, fromHex, initCrypto, openRoomMessage, roomMessageEpoch, RoomMessageError } from '../../crypto/index.ts';
import { ROOM_MESSAGE_CHARS, ROOM_MESSAGE_RATE } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { epochKey, tapRoom } from '../helpers/tap.ts';
import { createRoom, e2eeState, epochOf, expectHears, joinRoom, myId, peakFrom, roomIdOf } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
  browser = await launchChromium({ toneHz: 440 });
  await initCrypto();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

const rejected = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { rejected(): { messages: number } } }).teahouse.rejected());
const chatTexts = (page: Page) =>
  page.getByTestId('chat-message').evaluateAll((els) => els.map((e) => ({ text: e.querySelector('.chat-text')?.textContent, name: e.querySelector('.chat-name')?.textContent, question: e.getAttribute('data-question') })));

describe('room life, end-to-end encrypted', () => {
  it("a listener's chat message, question and reaction reach the host and another listener decrypted, named; the relay sees only fixed-size ciphertext", async () => {
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
      await expect
        .poll(() => chatTexts(page), { timeout: 15_000 })
        .toEqual([
          { text: `hello ${secret}`, name: 'Alice', question: null },
          { text: 'When does the next tasting start?', name: 'Alice', question: 'true' },
        ]);
      // By Alice's row where the page shows one (the host's); a listener, shown no other listeners, sees it float by
      // the audience.
      const where = page === host ? `[data-testid="participant"][data-participant="${aliceId}"] [data-testid="reaction"]` : `[data-testid="audience-reactions"] [data-testid="reaction"][data-participant="${aliceId}"]`;
      await expect.poll(() => page.locator(where).getAttribute('data-emoji'), { timeout: 10_000 }).toBe('🎉');
    }

    // The host pins the question; everyone sees it.
    await host.locator('[data-testid="chat-message"][data-question="true"] [data-testid="pin-message"]').click();
    for (const page of [host, alice, bob]) {
      await expect
        .poll(
          () =>
            page
              .getByTestId('pinned-message')
              .textContent()
              .catch(() => null),
          { timeout: 10_000 },
        )
        .toContain('When does the next tasting start?');
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

  it('too long and too fast get a clear error in the page; what was sent before arrives, and the relay forwards everything it accepted', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Limits', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    const aliceId = await myId(alice);
    const hostId = await myId(host);
    await alice.getByTestId('chat-input').fill('x'.repeat(501));
    await alice.getByTestId('chat-send').click();
    await expect.poll(() => alice.getByTestId('chat-error').getAttribute('data-code')).toBe('TOO_LONG');
    await alice.getByTestId('chat-input').fill('sent before the flood');
    await alice.getByTestId('chat-send').click();
    // Twenty presses at once: past the burst the page refuses before the relay would.
    await alice
      .locator('[data-testid="reaction-button"]')
      .first()
      .evaluate((button) => {
        for (let i = 0; i < 20; i++) (button as HTMLButtonElement).click();
      });
    await expect.poll(() => alice.getByTestId('chat-error').getAttribute('data-code')).toBe('RATE_LIMITED');
    await expect.poll(() => host.locator(`[data-testid="participant"][data-participant="${aliceId}"] [data-testid="reaction"]`).count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(ROOM_MESSAGE_RATE.burst - 1);
    await expect.poll(() => chatTexts(host), { timeout: 10_000 }).toEqual([{ text: 'sent before the flood', name: 'Alice', question: null }]);
    // Nothing Alice sent was lost: every room message her page gave the relay reached the host, none refused there.
    const fromAlice = adversary
      .received((r) => r.participantId === aliceId)
      .filter((m) => m.event === 'room.message')
      .map((m) => (m.payload as { message: string }).message);
    expect(fromAlice.length).toBeGreaterThanOrEqual(ROOM_MESSAGE_RATE.burst);
    await expect.poll(() => adversary.sent(hostId).filter((m) => m.event === 'room.message' && (m.payload as { from: string }).from === aliceId).length, { timeout: 10_000 }).toBe(fromAlice.length);
    expect((await rejected(host)).messages).toBe(0);
    for (const page of [host, alice]) await page.close();
  });

  it('push-to-talk: with the key up the listener hears silence while the relay still gets 20 ms frames, with no gap, of the size it got while talking', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Push to talk', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    await expectHears(listener, hostId, 440);
    const body = (p: Uint8Array) => p.length - decodeHeader(p).length;
    // A window of talking, at the relay, as the control.
    const talking = await tapRoom(relay, await roomIdOf(host), hostId);
    await expect.poll(() => talking.frames.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(100);
    talking.close();
    await host.getByTestId('push-to-talk-mode').check();
    await expect
      .poll(
        async () => {
          const peak = await peakFrom(listener, hostId);
          return peak === null || peak.db < -90;
        },
        { timeout: 15_000 },
      )
      .toBe(true);
    // Key up: tap again while the listener reads silence.
    const released = await tapRoom(relay, await roomIdOf(host), hostId);
    await expect.poll(() => released.frames.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(150);
    released.close();
    const peak = await peakFrom(listener, hostId);
    expect(peak === null || peak.db < -90).toBe(true);
    // 50 frames a second in media time: consecutive sequence numbers, each frame 960 samples (20 ms at 48 kHz) after
    // the last, so no frame was held back (DTX would skip timestamps); and one body size, the same as while talking.
    const frames = released.frames.slice(0, 150);
    for (let i = 1; i < frames.length; i++) {
      expect((frames[i]!.sequence - frames[i - 1]!.sequence) & 0xffff).toBe(1);
      expect((frames[i]!.timestamp - frames[i - 1]!.timestamp) >>> 0).toBe(960);
    }
    const seconds = (frames.at(-1)!.timestamp - frames[0]!.timestamp) / 48_000;
    expect((frames.length - 1) / seconds).toBe(50);
    const sizes = new Set(frames.map((f) => body(f.payload)));
    expect([...sizes]).toEqual([...new Set(talking.frames.slice(0, 100).map((f) => body(f.payload)))]);
    expect(sizes.size).toBe(1);
    // Holding the button talks again.
    await host.getByTestId('push-to-talk').dispatchEvent('pointerdown');
    await expectHears(listener, hostId, 440);
    await host.getByTestId('push-to-talk').dispatchEvent('pointerup');
    for (const page of [host, listener]) await page.close();
  });

  it('a kicked member holds no key that opens any room message sent after the kick', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Kick', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    const troll = await joinRoom(browser, link, 'Troll');
    const trollId = await myId(troll);
    const roomId = await roomIdOf(host);
    await alice.getByTestId('chat-input').fill('before the kick');
    await alice.getByTestId('chat-send').click();
    await expect.poll(() => chatTexts(host), { timeout: 10_000 }).toHaveLength(1);
    const held = await epochKey(troll);
    // This room's messages only: the recorder also holds the earlier tests' rooms, whose epochs share numbers.
    const senders = new Set([await myId(host), await myId(alice)]);
    const ours = () => adversary.received().filter((m) => m.event === 'room.message' && senders.has(m.sender.participantId ?? ''));
    const before = ours().length;

    await host.locator(`[data-testid="participant"][data-participant="${trollId}"] [data-testid="kick-participant"]`).click();
    await expect.poll(() => troll.getByTestId('room-ended').getAttribute('data-reason')).toBe('kicked');
    await expect.poll(() => epochOf(alice), { timeout: 15_000 }).toBeGreaterThan(held.epoch);
    await alice.getByTestId('chat-input').fill('after the kick');
    await alice.getByTestId('chat-send').click();
    await alice.locator('[data-testid="reaction-button"]').first().click();
    await host.getByTestId('chat-input').fill('the host, after the kick');
    await host.getByTestId('chat-send').click();
    await expect.poll(() => chatTexts(host), { timeout: 10_000 }).toHaveLength(3);

    const open = (blob: string) => () => openRoomMessage({ roomId, blob, epochSecret: fromHex(held.secret), commitHash: fromHex(held.hash), signKeyOf: () => null });
    const all = ours().map((m) => (m.payload as { message: string }).message);
    // The control: under the key the troll held, what was sent before the kick does open (only the signer is unknown here).
    const earlier = all.slice(0, before).filter((blob) => roomMessageEpoch(blob) === held.epoch);
    expect(earlier.length).toBeGreaterThanOrEqual(1);
    for (const blob of earlier) expect(open(blob)).toThrow(/signed by someone/);
    // Everything sent after the kick names a later epoch and does not authenticate under the troll's key.
    const after = all.slice(before);
    expect(after.length).toBeGreaterThanOrEqual(3);
    for (const blob of after) {
      expect(roomMessageEpoch(blob)).toBeGreaterThan(held.epoch);
      expect(open(blob)).toThrow(RoomMessageError);
      expect(open(blob)).toThrow(/does not authenticate/);
    }
    for (const page of [host, alice, troll]) await page.close();
  });

  it('a listener the relay keeps on the epoch before a kick sends nothing the kicked member can open, and says why; one that can confirm its epoch chats as before', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Kept behind', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    const aliceId = await myId(alice);
    const bob = await joinRoom(browser, link, 'Bob');
    const troll = await joinRoom(browser, link, 'Troll');
    const trollId = await myId(troll);
    const roomId = await roomIdOf(host);
    for (const p of [alice, bob]) await expect.poll(() => epochOf(p)).toBe(await epochOf(troll));
    const held = await epochKey(troll);
    // Alice gets no commit, package, rotation or decision from now on; the distributor's answers to her still come.
    const uninstall = adversary.intercept((m) => (m.recipient.participantId === aliceId && ['key.commit', 'key.package', 'room.rotated', 'stage.decision'].includes(m.event ?? '') ? verdict.drop : undefined));
    try {
      const fromAlice = () =>
        adversary
          .received(aliceId)
          .filter((m) => m.event === 'room.message')
          .map((m) => (m.payload as { message: string }).message);
      const before = fromAlice().length;
      await host.locator(`[data-testid="participant"][data-participant="${trollId}"] [data-testid="kick-participant"]`).click();
      await expect.poll(() => troll.getByTestId('room-ended').getAttribute('data-reason')).toBe('kicked');
      await expect.poll(() => epochOf(host), { timeout: 15_000 }).toBeGreaterThan(held.epoch);
      await expect.poll(() => epochOf(bob), { timeout: 15_000 }).toBeGreaterThan(held.epoch);
      expect(await epochOf(alice)).toBe(held.epoch);

      await alice.getByTestId('chat-input').fill('written on the epoch before the kick');
      await alice.getByTestId('chat-send').click();
      await alice.locator('[data-testid="reaction-button"]').first().click();
      // Either the page sent something, or it held the message for the distributor's confirmation (which names the
      // newer epoch, or fails under the rotated link) and then dropped it, saying why.
      const errorCode = () => alice.locator('[data-testid="chat-error"]').evaluateAll((els) => els[0]?.getAttribute('data-code') ?? null);
      await expect.poll(async () => fromAlice().length > before || (await errorCode()) !== null, { timeout: 20_000 }).toBe(true);
      // Whatever Alice sent the relay after the kick does not authenticate under the key the troll held.
      const open = (blob: string) => () => openRoomMessage({ roomId, blob, epochSecret: fromHex(held.secret), commitHash: fromHex(held.hash), signKeyOf: () => null });
      for (const blob of fromAlice().slice(before)) expect(open(blob)).toThrow(/does not authenticate/);
      await expect.poll(errorCode, { timeout: 20_000 }).toBe('WAITING_FOR_KEY');
      await expect.poll(() => e2eeState(alice), { timeout: 10_000 }).toBe('waiting-for-key');
      expect(await chatTexts(host)).toEqual([]);

      // Bob, a listener whose epoch the distributor confirms on demand, chats as before.
      await bob.getByTestId('chat-input').fill('a listener on the current epoch');
      await bob.getByTestId('chat-send').click();
      await expect.poll(() => chatTexts(host), { timeout: 15_000 }).toEqual([{ text: 'a listener on the current epoch', name: 'Bob', question: null }]);
    } finally {
      uninstall();
    }
    for (const page of [host, alice, bob, troll]) await page.close();
  });

  it("a relay that attaches another member's announcement to a listener's message gets it refused, not misnamed", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Swapped sender', 'Host');
    const alice = await joinRoom(browser, link, 'Alice');
    const aliceId = await myId(alice);
    const bob = await joinRoom(browser, link, 'Bob');
    const bobId = await myId(bob);
    const carol = await joinRoom(browser, link, 'Carol');
    const carolId = await myId(carol);
    // Carol's own announcement, as the relay holds it, goes on Alice's message to Bob: it verifies, but names Carol.
    const carolAnnouncement = (adversary.received(carolId).find((m) => m.event === 'room.join')!.payload as { announcement: string }).announcement;
    const uninstall = adversary.intercept((m) =>
      m.event === 'room.message' && m.recipient.participantId === bobId && (m.payload as { from: string }).from === aliceId ? verdict.replace({ ...(m.payload as object), announcement: carolAnnouncement }) : undefined,
    );
    try {
      const before = (await rejected(bob)).messages;
      await alice.getByTestId('chat-input').fill('who sent this?');
      await alice.getByTestId('chat-send').click();
      // The host, on stage, knows Alice and shows her message; Bob refuses it rather than showing it as Carol's.
      await expect.poll(() => chatTexts(host), { timeout: 15_000 }).toEqual([{ text: 'who sent this?', name: 'Alice', question: null }]);
      await expect.poll(async () => (await rejected(bob)).messages, { timeout: 15_000 }).toBeGreaterThan(before);
      expect(await chatTexts(bob)).toEqual([]);
    } finally {
      uninstall();
    }
    for (const page of [host, alice, bob, carol]) await page.close();
  });
});
