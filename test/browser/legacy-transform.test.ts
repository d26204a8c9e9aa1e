import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeader, DEFAULT_CIPHER_SUITE, deriveSenderBaseKey, fromHex, parseKid, SframeReceiver } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { epochKey, tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, openPage, recordRequests, roomIdOf } from './pages.ts';

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

/** A browser with only the legacy API: Chromium has both, so the standard one is hidden before the app loads. */
const withoutScriptTransform = {
  before: () => {
    delete (window as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform;
  },
};

describe('browsers without RTCRtpScriptTransform', () => {
  it('encrypt and decrypt through createEncodedStreams: the listener hears the host, and the relay forwards SFrame under the room key', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Old browsers', 'Host', withoutScriptTransform);
    const listener = await joinRoom(browser, link, 'Listener', withoutScriptTransform);
    for (const page of [host, listener]) expect(await page.evaluate(() => typeof RTCRtpScriptTransform)).toBe('undefined');
    await expectHears(listener, await myId(host), 440);

    const tap = await tapRoom(relay, await roomIdOf(host));
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(100);
    tap.close();
    const { epoch, secret } = await epochKey(host);
    const receiver = new SframeReceiver();
    let decrypted = 0;
    for (const payload of tap.payloads) {
      const { kid } = decodeHeader(payload);
      const { epoch: frameEpoch, senderIndex } = parseKid(kid);
      if (frameEpoch !== epoch) continue;
      receiver.addKey(kid, deriveSenderBaseKey(fromHex(secret), senderIndex, DEFAULT_CIPHER_SUITE));
      // Opus in, Opus out: the Worker encrypted whole encoded frames, which decrypt to something frame-sized.
      expect((await receiver.decrypt(payload)).length).toBeGreaterThan(2);
      decrypted++;
    }
    expect(decrypted).toBeGreaterThan(50);
    await listener.close();
    await host.close();
  }, 90_000);

  it('a browser with neither API gets a page naming the browsers that work, and contacts no relay', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Closed to old browsers', 'Host');
    const neither = {
      before: () => {
        delete (window as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform;
        delete (RTCRtpSender.prototype as { createEncodedStreams?: unknown }).createEncodedStreams;
      },
    };
    for (const url of [link, `${relay.url}/`]) {
      const page = await openPage(browser, 'about:blank', neither);
      const requests = recordRequests(page);
      await page.goto(url);
      await expect(page.getByTestId('unsupported-browser').textContent()).resolves.toContain('Firefox 120');
      expect(await page.getByTestId('join-room').count()).toBe(0);
      expect(await page.getByTestId('create-room').count()).toBe(0);
      expect(requests.some((u) => u.includes('socket.io'))).toBe(false);
      await page.close();
    }
    expect(relay.rooms.get(await roomIdOf(host))!.members.size).toBe(1);
    await host.close();
  }, 60_000);
});
