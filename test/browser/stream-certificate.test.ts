// The stream certificate travels by signaling (issue 27): a relay that withholds, swaps (another member's, an old
// page's) or corrupts the certificate of the host's producer never makes a listener, Chromium or Firefox, play the
// host beyond the bound; a swapped or corrupted one is shown as forged-audio, a withheld one is silence; once the
// relay tells the truth again the host is heard. A speaker that reloads produces with its new Worker's certificate,
// and honest listeners hear it.
import type { Browser, Page } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAME_SIG_BATCH } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { launchFirefox } from './firefox.ts';
import { createRoom, e2eeState, joinRoom, myId } from './pages.ts';
import { chromiumTab, hears, idOf, joinAs, openTab, type Tab } from './tab.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  // A grace long enough for the host's reload to come back as the same member.
  ({ relay, adversary } = await startHostileRelay({ disconnectGraceMs: 60_000 }));
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);
afterEach(() => {
  for (const off of uninstall.splice(0)) off();
});
afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  await relay?.close();
});

interface Speaker {
  participantId: string;
  played?: number[];
  decrypted: number;
  sourceMuted?: boolean;
  forged?: number;
}

const speakerIn = (tab: Tab, id: string) => tab.evaluate((i) => (window as unknown as { teahouse: { view(): { speakers: Speaker[] } } }).teahouse.view().speakers.find((s) => s.participantId === i) ?? null, id);
const forgedShown = (tab: Tab, id: string) => tab.evaluate((i) => document.querySelectorAll(`[data-testid="forged-audio"][data-participant="${i}"]`).length, id);

type Peak = { teahouse: { spectrumPeak(id: string): { hz: number; db: number } | null } };

/** The frequencies the tab plays as `participantId` over `ms`, above the noise floor. */
async function heardFor(tab: Tab, participantId: string, ms: number): Promise<number[]> {
  const heard: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const peak = await tab.evaluate((id) => (window as unknown as Peak).teahouse.spectrumPeak(id), participantId);
    if (peak && peak.db > -70) heard.push(Math.round(peak.hz));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return heard;
}

/** The certificate a member's page made its producer with, as the relay received it. */
function certificateFrom(participantId: string): string[] {
  return adversary
    .received(participantId)
    .filter((m) => m.event === 'producer.create')
    .map((m) => (m.payload as { streamCertificate: string }).streamCertificate);
}

/** `value` with the certificate of `producerId` replaced by `lie(it)`, or removed where `lie` gives undefined. */
function rewrite(value: unknown, producerId: string, lie: (certificate: string) => string | undefined): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, producerId, lie));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, producerId, lie)]));
  if (out.producerId === producerId && typeof out.streamCertificate === 'string') {
    const told = lie(out.streamCertificate);
    if (told === undefined) delete out.streamCertificate;
    else out.streamCertificate = told;
  }
  return out;
}

let host: Page;
let guest: Page;
let hostId: string;
let guestId: string;
let link: string;

const hostProducer = () => [...[...relay.rooms.values()][0]!.members.get(hostId)!.producers.keys()][0]!;

type ListenerBrowser = { chromium: Browser } | { firefox: FirefoxBrowser };

/**
 * A new listener to whom the relay tells `lie` about the host's certificate wherever it hands it out (the join reply's
 * consumers, consumer.create, producer.added). It hears the guest (so its media flows); returns it once it does, with
 * `truth`: the relay stops lying and has the listener consume afresh, and the listener hears the real host again.
 */
async function listenerLiedTo(listener: ListenerBrowser, lie: (certificate: string) => string | undefined): Promise<{ tab: Tab; truth(): Promise<void> }> {
  const producerId = hostProducer();
  const stop = adversary.intercept((m) => {
    if (m.recipient.participantId === hostId || m.recipient.participantId === guestId) return undefined;
    const told = rewrite(m.payload, producerId, lie);
    return JSON.stringify(told) === JSON.stringify(m.payload) ? undefined : verdict.replace(told);
  });
  uninstall.push(stop);
  const tab = await openTab(listener, link);
  await joinAs(tab, 'Listener');
  const id = await idOf(tab);
  await hears(tab, guestId, 660);
  // The host's frames reach it and decrypt: what keeps them from playing is their certificate alone.
  await expect.poll(async () => (await speakerIn(tab, hostId))?.decrypted ?? 0, { timeout: 20_000 }).toBeGreaterThan(50);
  const truth = async () => {
    stop();
    adversary.inject(id, 'room.mediaReset', {});
    await hears(tab, hostId, 440);
  };
  return { tab, truth };
}

/** What the listener did with the host: never heard, nothing played beyond `bound` frames, muted for want of proof. */
async function expectHostSilent(tab: Tab, bound: number): Promise<void> {
  const heard = await heardFor(tab, hostId, 3_000);
  expect(heard.filter((hz) => Math.abs(hz - 440) < 15)).toEqual([]);
  const speaker = (await speakerIn(tab, hostId))!;
  expect((speaker.played ?? []).length).toBeLessThanOrEqual(bound);
  expect(speaker.sourceMuted).toBe(true);
}

/** The room every case shares, made by the first (expect.poll runs only inside a test): a host and a guest on stage. */
let made: Promise<void> | null = null;
const room = () => (made ??= makeRoom());

async function makeRoom(): Promise<void> {
  ({ page: host, link } = await createRoom(browser, relay.url, 'Certificates', 'Host'));
  hostId = await myId(host);
  guest = await joinRoom(browser660, link, 'Guest');
  guestId = await myId(guest);
  await host.locator(`[data-testid="participant"][data-participant="${guestId}"]`).getByTestId('invite-to-speak').click();
  await guest.getByTestId('accept-invite').click();
  await hears(chromiumTab(guest), hostId, 440);
  await expect.poll(() => certificateFrom(guestId).length, { timeout: 20_000 }).toBe(1);
  expect(certificateFrom(hostId)).toHaveLength(1);
}

/** The host's reload, done once for every case that needs it (the first): the certificate of its page before. */
let reloadedOnce: Promise<string> | null = null;
const reloaded = () => (reloadedOnce ??= reloadHost());

async function reloadHost(): Promise<string> {
  await room();
  const before = certificateFrom(hostId)[0]!;
  const guestTab = chromiumTab(guest);
  const lastBefore = (await speakerIn(guestTab, hostId))!.played!.at(-1)!;
  await host.reload();
  await expect.poll(() => e2eeState(host), { timeout: 30_000 }).toBe('encrypted');
  expect(await myId(host)).toBe(hostId);
  // The microphone opens again only on the person's action.
  await host.getByTestId('mic-toggle').click();
  // The reloaded page's new Worker has a new stream key: it produces with a new certificate, which the guest
  // verifies: it plays the new page's frames (whose counters start again from 0).
  await expect.poll(() => certificateFrom(hostId).length, { timeout: 30_000 }).toBe(2);
  expect(certificateFrom(hostId)[1]).not.toBe(before);
  await expect.poll(async () => ((await speakerIn(guestTab, hostId))?.played ?? [lastBefore]).at(-1)! < lastBefore, { timeout: 30_000 }).toBe(true);
  await hears(guestTab, hostId, 440);
  return before;
}

/** The four lies, told to a new listener of `kind` each; the host and the guest stay for all of them. */
function certificateLies(kind: string, listener: () => ListenerBrowser, timeout: number): void {
  it(
    `${kind} listener, withheld: the host is silence, with no forgery claimed; heard once the relay gives it`,
    async () => {
      await room();
      const { tab, truth } = await listenerLiedTo(listener(), () => undefined);
      await expectHostSilent(tab, 0);
      expect(await forgedShown(tab, hostId)).toBe(0);
      expect((await speakerIn(tab, hostId))!.forged).toBe(0);
      await truth();
      await tab.close();
    },
    timeout,
  );

  it(
    `${kind} listener, another member's (the guest's, on the host's producer): silence and forged-audio naming the host; heard once the relay stops`,
    async () => {
      await room();
      const { tab, truth } = await listenerLiedTo(listener(), () => certificateFrom(guestId)[0]!);
      await expect.poll(() => forgedShown(tab, hostId), { timeout: 10_000 }).toBe(1);
      await expectHostSilent(tab, 0);
      await truth();
      await tab.close();
    },
    timeout,
  );

  it(
    `${kind} listener, corrupted (one bit of its signature): silence and forged-audio; heard once the relay stops`,
    async () => {
      const flip = (c: string) => `${c.slice(0, 80)}${c[80] === 'A' ? 'B' : 'A'}${c.slice(81)}`;
      await room();
      const { tab, truth } = await listenerLiedTo(listener(), flip);
      await expect.poll(() => forgedShown(tab, hostId), { timeout: 10_000 }).toBe(1);
      await expectHostSilent(tab, 0);
      await truth();
      await tab.close();
    },
    timeout,
  );

  it(
    `${kind} listener, an old page's (the host's own, before it reloaded): at most 7 frames, then silence and forged-audio; honest listeners hear the reloaded host, and so does it once the relay stops`,
    async () => {
      const before = await reloaded();
      const { tab, truth } = await listenerLiedTo(listener(), () => before);
      await expect.poll(() => forgedShown(tab, hostId), { timeout: 10_000 }).toBe(1);
      await expectHostSilent(tab, 2 * FRAME_SIG_BATCH - 1);
      await truth();
      await tab.close();
    },
    timeout + 30_000,
  );
}

describe("the relay lies about the host's stream certificate", () => {
  afterAll(async () => {
    await host?.close();
    await guest?.close();
  });

  certificateLies('Chromium', () => ({ chromium: browser }), 90_000);

  describe('to a Firefox listener', () => {
    let firefox: FirefoxBrowser;
    beforeAll(async () => {
      firefox = await launchFirefox();
    }, 90_000);
    afterAll(async () => {
      await firefox?.close();
    });

    certificateLies('Firefox', () => ({ firefox }), 120_000);
  });
});
