// Firefox ESR and Chromium in one room, both ways: decrypted tones, one fingerprint, a rekey, and Firefox's ciphertext.
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CIPHER_SUITE, decodeHeader, deriveSenderBaseKey, fromHex, parseKid, SframeError, SframeReceiver, toHex } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { launchFirefox } from './firefox.ts';
import { capturePlaintextIn, decryptedFrom, epochIn, epochKeyIn, expectMedia, fingerprintIn, hears, hostRoom, idOf, joinAs, openTab, type Tab } from './tab.ts';

let relay: Relay;
let chromium: ChromiumBrowser;
let firefox: FirefoxBrowser;

beforeAll(async () => {
  relay = await startTestRelay();
  chromium = await launchChromium({ toneHz: 440 });
  firefox = await launchFirefox({ toneHz: 660 });
}, 90_000);

afterAll(async () => {
  await firefox?.close();
  await chromium?.close();
  await relay?.close();
});

const member = (id: string) => `[data-testid="participant"][data-participant="${id}"]`;

function roomIdOf(link: string): string {
  return new URL(link).pathname.split('/')[2]!;
}

describe('Firefox and Chromium in one room', () => {
  it('Chromium host -> Firefox listener; a rekey after a leave; the Firefox listener invited on stage is heard, its frames ciphertext under the epoch key', async () => {
    const host = await openTab({ chromium }, `${relay.url}/`);
    const link = await hostRoom(host, 'Across browsers', 'Chromium host');
    const hostId = await idOf(host);
    const fox = await openTab({ firefox }, link);
    await joinAs(fox, 'Firefox listener');
    await hears(fox, hostId, 440);
    await expectMedia(fox, 'flowing');
    const foxId = await idOf(fox);

    // A Chromium guest joins and leaves: the Firefox receiver moves to the new epoch and keeps decrypting the host.
    const guest = await openTab({ chromium }, link);
    await joinAs(guest, 'Chromium guest');
    const prints = await Promise.all([host, fox, guest].map(fingerprintIn));
    expect(prints[0]).toMatch(/\d{5} \d{5} \d{5} \d{5}/);
    expect(new Set(prints).size).toBe(1);
    await expect.poll(() => epochIn(fox), { timeout: 20_000 }).toBe(await epochIn(guest));
    const beforeLeave = await epochIn(fox);
    await guest.close();
    await expect.poll(() => epochIn(fox), { timeout: 20_000 }).toBeGreaterThan(beforeLeave!);
    await expect.poll(() => epochIn(host), { timeout: 20_000 }).toBe(await epochIn(fox));
    const counted = await decryptedFrom(fox, hostId);
    await expect.poll(() => decryptedFrom(fox, hostId), { timeout: 20_000 }).toBeGreaterThan(counted + 100);
    await hears(fox, hostId, 440);
    await expectMedia(fox, 'flowing');

    // The host invites the Firefox listener on stage; its 660 Hz reaches the Chromium host through the relay.
    await host.click(`${member(foxId)} [data-testid="invite-to-speak"]`);
    await fox.click('[data-testid="accept-invite"]');
    await hears(host, foxId, 660);
    await expectMedia(host, 'flowing');
    await expectMedia(fox, 'flowing');

    // What the relay forwards from the Firefox sender: SFrame frames that open only under the epoch's key for its
    // sender index, and whose plaintexts are the very frames Firefox's encoder produced.
    const tap = await tapRoom(relay, roomIdOf(link), foxId);
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(20);
    const plaintexts = await capturePlaintextIn(fox, 50);
    const key = await epochKeyIn(fox);
    const start = tap.payloads.length;
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(start + 100);
    tap.close();
    expect(plaintexts).toHaveLength(50);
    const opened = new Set<string>();
    let refused = 0;
    for (const payload of tap.payloads) {
      const { kid } = decodeHeader(payload);
      const { epoch, senderIndex } = parseKid(kid);
      if (epoch !== key.epoch) continue;
      const right = new SframeReceiver();
      right.addKey(kid, deriveSenderBaseKey(fromHex(key.secret), senderIndex, DEFAULT_CIPHER_SUITE));
      const plain = toHex(await right.decrypt(payload));
      expect(toHex(payload)).not.toContain(plain);
      opened.add(plain);
      const wrong = new SframeReceiver();
      wrong.addKey(kid, deriveSenderBaseKey(fromHex(key.secret), senderIndex + 1, DEFAULT_CIPHER_SUITE));
      await expect(wrong.decrypt(payload)).rejects.toThrow(SframeError);
      refused++;
    }
    expect(refused).toBeGreaterThan(100);
    for (const plain of plaintexts) expect(opened.has(plain)).toBe(true);

    const stage = await Promise.all([host, fox].map(fingerprintIn));
    expect(stage).toEqual([prints[0], prints[0]]);
    await fox.close();
    await host.close();
  }, 240_000);

  it('Firefox host -> Chromium listener: the tone decrypts, the fingerprint matches, both see media flowing', async () => {
    const host: Tab = await openTab({ firefox }, `${relay.url}/`);
    const link = await hostRoom(host, 'Fox den', 'Firefox host');
    const hostId = await idOf(host);
    const listener = await openTab({ chromium }, link);
    await joinAs(listener, 'Chromium listener');
    await hears(listener, hostId, 660);
    await expectMedia(listener, 'flowing');
    await expectMedia(host, 'flowing');
    const prints = await Promise.all([host, listener].map(fingerprintIn));
    expect(prints[0]).toMatch(/\d{5} \d{5} \d{5} \d{5}/);
    expect(prints[1]).toBe(prints[0]);
    await listener.close();
    await host.close();
  }, 120_000);
});
