// Issue 27: a member colluding with the relay encrypts its own tone under the host's sender index with the real epoch
// key, and the relay delivers it on the host's track, or splices single such frames into the host's real stream.
// Listeners (Chromium, and Firefox) never play it as the host beyond the stated bound and say so; once the relay
// stops, the real host is heard again.
import type { Browser, Page } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { decodeHeader, DEFAULT_CIPHER_SUITE, deriveSenderBaseKey, ed25519Verifier, FRAME_SIG_BATCH, FRAME_SIG_CHUNK, fromBase64url, fromHex, parseKid, SframeReceiver, SframeSender, streamKeyMessage, toHex } from '../../crypto/index.ts';
import { spliceRtp, startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { launchFirefox } from './firefox.ts';
import { createRoom, joinRoom, myId, type PageOptions } from './pages.ts';
import { capturePlaintextIn, chromiumTab, epochKeyIn, hears, idOf, joinAs, openTab, type Tab } from './tab.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
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

/**
 * The colluder's page, modified as an attacker would: every epoch it gives its E2EE Worker the sender index of the
 * participant named in `window.impersonate`, so it encrypts its microphone under that index with the real epoch key.
 */
const impersonator: PageOptions = {
  before: () => {
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
      const m = message as { type?: string; senderIndex?: number | null; senders?: Record<string, number> };
      const victim = (window as unknown as { impersonate?: string }).impersonate;
      if (m?.type === 'set-epoch' && victim && m.senders?.[victim] !== undefined) m.senderIndex = m.senders[victim]!;
      return (post as (...args: unknown[]) => void).call(this, message, ...rest);
    } as typeof Worker.prototype.postMessage;
  },
};

const row = (page: Page, id: string) => page.locator(`[data-testid="participant"][data-participant="${id}"]`);

type Peak = { teahouse: { spectrumPeak(id: string): { hz: number; db: number } | null } };

/** Samples what the tab plays as `participantId` for `ms`: the frequencies heard above the noise floor. */
async function heardFor(tab: Tab, participantId: string, ms: number): Promise<number[]> {
  const heard: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const peak = await tab.evaluate((id) => (window as unknown as Peak).teahouse.spectrumPeak(id), participantId);
    if (peak && peak.db > -70) heard.push(Math.round(peak.hz));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return heard;
}

const near = (hz: number, target: number) => Math.abs(hz - target) < 15;
const forgedShown = (tab: Tab, id: string) => tab.evaluate((i) => document.querySelectorAll(`[data-testid="forged-audio"][data-participant="${i}"]`).length, id);

async function attack(listenerBrowser: { chromium: Browser } | { firefox: FirefoxBrowser }): Promise<void> {
  const { page: host, link } = await createRoom(browser, relay.url, 'Forged speaker', 'Host');
  const hostId = await myId(host);
  const listener = await openTab(listenerBrowser, link);
  await joinAs(listener, 'Listener');
  const id = await idOf(listener);
  await hears(listener, hostId, 440);
  const hostProducer = producerOf(hostId);
  expect(hostProducer).not.toBeNull();

  // The relay stops the host's real track to the listener (its frames no longer come), and tells it that the colluder's producer, when it comes,
  // is the host's (and the colluder has none): the listener's host track carries the colluder's frames.
  let colluderId = '';
  let colluderProducer: string | null = null;
  uninstall.push(
    adversary.intercept((m) => {
      if (m.recipient.participantId !== id || m.kind !== 'event' || !colluderId) return undefined;
      const p = m.payload as { producerId?: string; participantId?: string; participant?: { participantId?: string; producerIds?: string[] } };
      if (m.event === 'producer.added' && p.participantId === colluderId) {
        colluderProducer = p.producerId ?? null;
        return verdict.replace({ ...p, participantId: hostId });
      }
      if (p.participant?.participantId === colluderId && p.participant.producerIds?.length) return verdict.replace({ ...p, participant: { ...p.participant, producerIds: [] } });
      return undefined;
    }),
  );
  adversary.inject(id, 'producer.removed', { producerId: hostProducer!, participantId: hostId });
  const member = relay.rooms.get(new URL(link).pathname.split('/')[2]!)!.members.get(id)!;
  for (const consumer of member.consumers.values()) if (consumer.producerId === hostProducer) await consumer.pause();

  // The colluder's page encrypts its 660 Hz tone under the host's sender index with the real epoch key (its joining
  // starts a new epoch, whose replay window at the listener has seen nothing of the host).
  const colluder = await joinRoom(browser660, link, 'Colluder', impersonator);
  colluderId = await myId(colluder);
  await colluder.evaluate((victim) => ((window as unknown as { impersonate: string }).impersonate = victim), hostId);
  await row(host, colluderId).getByTestId('invite-to-speak').click();
  await colluder.getByTestId('accept-invite').click();
  await expect.poll(() => colluderProducer, { timeout: 20_000 }).not.toBeNull();

  // Its frames carry the colluder's signatures, not the host's: the listener mutes them and names the host.
  await expect.poll(() => forgedShown(listener, hostId), { timeout: 20_000 }).toBe(1);
  const heard = await heardFor(listener, hostId, 4_000);
  expect(heard.filter((hz) => near(hz, 660))).toEqual([]);
  expect(await forgedShown(listener, hostId)).toBe(1);

  // The relay stops: the forged track goes, the listener's media is reset, and the real host is heard again.
  for (const undo of uninstall.splice(0)) undo();
  adversary.inject(id, 'producer.removed', { producerId: colluderProducer!, participantId: hostId });
  adversary.inject(id, 'room.mediaReset', {});
  await hears(listener, hostId, 440);
  for (const p of [host, colluder, listener]) await p.close();
}

/** The producer the relay announced for a participant to anyone, in an event or in a room list. */
function producerOf(participantId: string): string | null {
  let found: string | null = null;
  const visit = (value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    const o = value as { participantId?: string; producerId?: string; producerIds?: string[] };
    if (o.participantId === participantId) found = o.producerId ?? o.producerIds?.[0] ?? found;
    for (const child of Object.values(value)) visit(child);
  };
  for (const m of adversary.sent()) visit(m.payload);
  return found;
}

/** The SFrame counters of the frames the tab last played from a participant (the E2EE Worker's record, test builds). */
const playedBy = (tab: Tab, id: string) =>
  tab.evaluate((i) => (window as unknown as { teahouse: { view(): { speakers: { participantId: string; played?: number[] }[] } } }).teahouse.view().speakers.find((s) => s.participantId === i)?.played ?? [], id);

/** One spliced frame every this many of the host's: never two in one batch, and a forged batch at least every third. */
const SPLICE_EVERY = 10;
/** The relay splices over this many of the host's counters (3 s), then passes its stream untouched again. */
const SPLICE_SPAN = 150;

/**
 * The second case: the relay, holding the epoch keys the colluder gives it, re-sends the host's real stream to the
 * listener and replaces single frames of it by the colluder's tone, encrypted under the host's KID at the counter of
 * the frame it replaces and carrying that frame's own chunk of signature, so that only the audio differs; it hands its
 * copy of the stream out with the host's real certificate.
 */
async function splice(): Promise<void> {
  const { page: host, link } = await createRoom(browser, relay.url, 'Spliced speaker', 'Host');
  const hostId = await myId(host);
  const colluder = chromiumTab(await joinRoom(browser660, link, 'Colluder'));
  const colluderId = await idOf(colluder);
  await row(host, colluderId).getByTestId('invite-to-speak').click();
  await colluder.click('[data-testid="accept-invite"]');
  const tone = (await capturePlaintextIn(colluder, 50)).map((hex) => fromHex(hex).slice(0, -FRAME_SIG_CHUNK));
  const listener = await openTab({ chromium: browser }, link);
  await joinAs(listener, 'Listener');
  const id = await idOf(listener);
  await hears(listener, hostId, 440);

  const room = relay.rooms.get(new URL(link).pathname.split('/')[2]!)!;
  const hostMember = room.members.get(hostId)!;
  const [hostProducer] = [...hostMember.producers.keys()];
  const keys = new Map<number, Uint8Array>();
  const receivers = new Map<bigint, SframeReceiver>();
  let fetching = false;
  let spliceFrom: bigint | null = null;
  const forged: number[] = [];
  let passed = -1n;
  const splicer = await spliceRtp(room.router, hostProducer!, async (frame) => {
    const { kid, counter } = decodeHeader(frame);
    passed = counter;
    const { epoch, senderIndex } = parseKid(kid);
    const secret = keys.get(epoch);
    if (!secret && !fetching) {
      fetching = true;
      void epochKeyIn(colluder)
        .then((k) => keys.set(k.epoch, fromHex(k.secret)))
        .finally(() => (fetching = false));
    }
    if (!secret || spliceFrom === null || counter < spliceFrom || counter >= spliceFrom + BigInt(SPLICE_SPAN) || counter % BigInt(SPLICE_EVERY) !== 3n) return frame;
    const baseKey = deriveSenderBaseKey(secret, senderIndex, DEFAULT_CIPHER_SUITE);
    let receiver = receivers.get(kid);
    if (!receiver) {
      receiver = new SframeReceiver();
      receiver.addKey(kid, baseKey);
      receivers.set(kid, receiver);
    }
    const real = await receiver.decrypt(frame);
    const plain = new Uint8Array([...tone[forged.length % tone.length]!, ...real.subarray(real.length - FRAME_SIG_CHUNK)]);
    forged.push(Number(counter));
    return new SframeSender({ kid, baseKey, startCounter: counter }).encrypt(plain);
  });
  splicer.producer.appData.streamCertificate = hostMember.producers.get(hostProducer!)!.appData.streamCertificate;
  hostMember.producers.set(splicer.producer.id, splicer.producer);
  try {
    // The listener's host track now carries the relay's copy of the host's stream, untouched so far.
    const member = room.members.get(id)!;
    for (const consumer of member.consumers.values()) if (consumer.producerId === hostProducer) await consumer.pause();
    adversary.inject(id, 'producer.removed', { producerId: hostProducer!, participantId: hostId });
    adversary.inject(id, 'producer.added', { producerId: splicer.producer.id, participantId: hostId, streamCertificate: splicer.producer.appData.streamCertificate });
    const switched = Number(passed);
    await expect.poll(() => playedBy(listener, hostId).then((p) => p.some((c) => c > switched)), { timeout: 20_000 }).toBe(true);
    await hears(listener, hostId, 440);
    await expect.poll(() => keys.size, { timeout: 10_000 }).toBeGreaterThan(0);

    spliceFrom = passed + 20n;
    await expect.poll(() => passed >= spliceFrom! + BigInt(SPLICE_SPAN), { timeout: 30_000 }).toBe(true);
    // What the listener played of the host from the first spliced frame on, while the relay spliced: at most the
    // stated bound (the rest of the forged frame's batch and the next batch: 7 frames, 140 ms), then nothing.
    const during = (await playedBy(listener, hostId)).filter((c) => c >= forged[0]! && c < Number(spliceFrom) + SPLICE_SPAN);
    expect(forged.length).toBeGreaterThanOrEqual(SPLICE_SPAN / SPLICE_EVERY - 1);
    expect(during.length).toBeLessThanOrEqual(2 * FRAME_SIG_BATCH - 1);
    expect(during.filter((c) => forged.includes(c)).length).toBeLessThanOrEqual(1);
    expect(await forgedShown(listener, hostId)).toBe(1);

    // The relay stops splicing: the host's real frames verify again and the listener plays and hears the host.
    const end = Number(spliceFrom) + SPLICE_SPAN;
    await expect.poll(() => playedBy(listener, hostId).then((p) => p.filter((c) => c >= end).length), { timeout: 20_000 }).toBeGreaterThan(FRAME_SIG_BATCH);
    await hears(listener, hostId, 440);
  } finally {
    hostMember.producers.delete(splicer.producer.id);
    splicer.close();
  }
  await listener.close();
  await host.close();
  await colluder.close();
}

/** The host's page, recording every byte array it posts to a Worker (hex), and every key of its set-epoch messages. */
const recorder: PageOptions = {
  before: () => {
    const w = window as unknown as { posted: string[]; epochFields: string[] };
    w.posted = [];
    w.epochFields = [];
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const scan = (value: unknown): void => {
      if (value instanceof Uint8Array) w.posted.push(hex(value));
      else if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) for (const child of Object.values(value)) scan(child);
    };
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
      const m = message as { type?: string };
      if (m?.type === 'set-epoch') w.epochFields.push(...Object.keys(m));
      scan(message);
      return (post as (...args: unknown[]) => void).call(this, message, ...rest);
    } as typeof Worker.prototype.postMessage;
  },
};

/** The identity keys the page keeps for this tab (member-store.ts), base64url. */
const storedIdentity = (page: Page) =>
  page.evaluate(() => {
    for (let i = 0; i < sessionStorage.length; i++) {
      const value = sessionStorage.getItem(sessionStorage.key(i)!);
      try {
        const identity = (JSON.parse(value ?? '') as { identity?: { signPublicKey?: string; signSecretKey?: string } }).identity;
        if (identity?.signSecretKey && identity.signPublicKey) return { publicKey: identity.signPublicKey, secretKey: identity.signSecretKey };
      } catch {
        // Not a stored member.
      }
    }
    return null;
  });

describe('a member and the relay cannot make a listener hear the member as the host', () => {
  it("the identity secret never enters the E2EE Worker: the host's frames are signed by a stream key its identity certified", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Stream key', 'Host', recorder);
    const hostId = await myId(host);
    const listener = await openTab({ chromium: browser }, link);
    await joinAs(listener, 'Listener');
    await hears(listener, hostId, 440);
    await expect.poll(() => storedIdentity(host), { timeout: 10_000 }).not.toBeNull();
    const identity = (await storedIdentity(host))!;
    const seed = toHex(fromBase64url(identity.secretKey).subarray(0, 32));
    const posted: string[] = await host.evaluate(() => (window as unknown as { posted: string[] }).posted);
    const fields: string[] = await host.evaluate(() => (window as unknown as { epochFields: string[] }).epochFields);
    expect(posted.length).toBeGreaterThan(0);
    expect(posted.filter((hex) => hex.includes(seed))).toEqual([]);
    expect(fields).toContain('streamCertificate');
    expect(fields).not.toContain('signSecretKey');
    // What the Worker got instead: certificates, each the identity's signature over the Worker's stream key.
    const verify = await ed25519Verifier(fromBase64url(identity.publicKey));
    const certificates = posted.filter((hex) => hex.length === 2 * 96).map(fromHex);
    expect(certificates.length).toBeGreaterThan(0);
    for (const c of certificates) expect(await verify(c.subarray(32), streamKeyMessage(c.subarray(0, 32)))).toBe(true);
    await listener.close();
    await host.close();
  }, 90_000);

  it("Chromium listener: the colluder's tone under the host's index, on the host's track, never plays", () => attack({ chromium: browser }), 150_000);

  it("Chromium listener: single forged frames spliced into the host's real stream play within the bound, then the host is muted until the splicing stops", () => splice(), 150_000);

  it('Firefox listener: the same', async () => {
    const firefox = await launchFirefox();
    try {
      await attack({ firefox });
    } finally {
      await firefox.close();
    }
  }, 180_000);
});
