// The host's recording in real pages: every member is shown it, a newcomer before it hears anything, and the file holds the stage's tones.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, peakFrom } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  await relay?.close();
});

/** What the docs promise (protocol §10): a member in the room shows the indicator within this of the host pressing record. */
const INDICATOR_BOUND_MS = 5_000;

interface Probe {
  indicatorAt: number | null;
  audibleAt: number | null;
  heardAt: number | null;
}

/**
 * Runs in the page before its scripts: every 10 ms notes when the recording indicator is first in the DOM, when a
 * playing media element is first unmuted (what reaches the speakers), and when an analyser first hears a tone.
 */
function probe(): void {
  const w = window as unknown as { probe: Probe; teahouse?: { view(): { members: { participantId: string }[] }; spectrumPeak(id: string): { db: number } | null } };
  w.probe = { indicatorAt: null, audibleAt: null, heardAt: null };
  const elements: HTMLMediaElement[] = [];
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (this: HTMLMediaElement) {
    elements.push(this);
    return play.call(this);
  };
  setInterval(() => {
    const now = performance.now();
    const p = w.probe;
    if (p.indicatorAt === null && document.querySelector('[data-testid="recording-indicator"]')) p.indicatorAt = now;
    if (p.audibleAt === null && elements.some((e) => e.srcObject && !e.muted && !e.paused)) p.audibleAt = now;
    const tea = w.teahouse;
    if (p.heardAt === null && tea && tea.view().members.some((m) => (tea.spectrumPeak(m.participantId)?.db ?? -Infinity) > -70)) p.heardAt = now;
  }, 10);
}

const probeOf = (page: Page) => page.evaluate(() => (window as unknown as { probe: Probe }).probe);
const indicators = (page: Page) => page.getByTestId('recording-indicator').count();

/**
 * Decodes the host's finished recording in its page and returns the strongest spectral peaks of its power spectrum
 * averaged over the whole file (Welch: Hann windows overlapping by half), so that a short gap in one speaker's audio,
 * which a loaded machine can cause, does not hide that speaker's tone.
 */
async function recordedPeaks(page: Page): Promise<{ type: string; seconds: number; peaks: { hz: number; db: number }[]; floorDb: number }> {
  return page.evaluate(async () => {
    const tea = (window as unknown as { teahouse: { recordedFile(): Promise<{ type: string; bytes: string } | null> } }).teahouse;
    const file = (await tea.recordedFile())!;
    const bytes = Uint8Array.from(file.bytes.match(/../g)!.map((h) => parseInt(h, 16)));
    const audio = await new AudioContext().decodeAudioData(bytes.buffer);
    const N = 16_384;
    const data = audio.getChannelData(0);
    const power = new Float64Array(N / 2);
    const re = new Float64Array(N);
    const im = new Float64Array(N);
    let windows = 0;
    for (let start = 0; start + N <= data.length; start += N / 2, windows++) {
      for (let i = 0; i < N; i++) {
        re[i] = data[start + i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (N - 1)));
        im[i] = 0;
      }
      // Iterative radix-2 FFT.
      for (let i = 1, j = 0; i < N; i++) {
        let bit = N >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
          [re[i], re[j]] = [re[j]!, re[i]!];
          [im[i], im[j]] = [im[j]!, im[i]!];
        }
      }
      for (let len = 2; len <= N; len <<= 1) {
        const angle = (-2 * Math.PI) / len;
        for (let i = 0; i < N; i += len) {
          for (let k = 0; k < len / 2; k++) {
            const wr = Math.cos(angle * k);
            const wi = Math.sin(angle * k);
            const a = i + k;
            const b = a + len / 2;
            const xr = re[b]! * wr - im[b]! * wi;
            const xi = re[b]! * wi + im[b]! * wr;
            re[b] = re[a]! - xr;
            im[b] = im[a]! - xi;
            re[a] = re[a]! + xr;
            im[a] = im[a]! + xi;
          }
        }
      }
      for (let i = 0; i < N / 2; i++) power[i] = power[i]! + re[i]! ** 2 + im[i]! ** 2;
    }
    const binHz = audio.sampleRate / N;
    const db = Array.from(power, (p) => 10 * Math.log10(p / Math.max(1, windows) + 1e-20));
    const peaks: { hz: number; db: number }[] = [];
    for (let i = Math.ceil(100 / binHz); i < Math.floor(4_000 / binHz); i++) {
      if (db[i]! > db[i - 1]! && db[i]! >= db[i + 1]!) peaks.push({ hz: i * binHz, db: db[i]! });
    }
    peaks.sort((a, b) => b.db - a.db);
    const sorted = db.slice(Math.ceil(100 / binHz), Math.floor(4_000 / binHz)).sort((a, b) => a - b);
    return { type: file.type, seconds: audio.duration, peaks: peaks.slice(0, 4), floorDb: sorted[Math.floor(sorted.length / 2)]! };
  });
}

/** How long the host records at least, so the file is long enough to hold both tones whatever the machine's speed. */
const RECORD_AT_LEAST_MS = 3_000;

describe('recording, visible to all', () => {
  it("every member is shown it within the bound; a newcomer is shown it before it hears anything; the host's file plays and holds both speakers' tones", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Recorded', 'Host');
    const hostId = await myId(host);
    const speaker = await joinRoom(browser660, link, 'Speaker');
    const speakerId = await myId(speaker);
    await host.locator(`[data-testid="participant"][data-participant="${speakerId}"] [data-testid="make-moderator"]`).click();
    await expect.poll(() => speaker.locator(`[data-testid="participant"][data-participant="${speakerId}"]`).getAttribute('data-role'), { timeout: 10_000 }).toBe('moderator');
    await speaker.getByTestId('mic-toggle').click();
    const listener = await joinRoom(browser, link, 'Listener');
    await expectHears(host, speakerId, 660);
    await expectHears(listener, speakerId, 660);
    await expectHears(listener, hostId, 440);

    await host.getByTestId('record-start').click();
    const recordingSince = Date.now();
    for (const page of [host, speaker, listener]) await expect.poll(() => indicators(page), { timeout: INDICATOR_BOUND_MS, interval: 100 }).toBe(1);

    // A newcomer, while the relay holds back every room message to it: its keys arrive and its page decrypts the
    // stage, but it plays nothing, because it has not yet opened the host's notice of whether it records.
    const known = new Set([hostId, speakerId, await myId(listener)]);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const stopHolding = adversary.forEvent('room.message', (_payload, message) => (message.recipient.participantId && !known.has(message.recipient.participantId) ? verdict.delay(held) : undefined));
    const late = await joinRoom(browser, link, 'Late', { before: probe });
    await expect.poll(() => late.evaluate(() => (window as unknown as { teahouse: { firstDecryptedAt(): number | null } }).teahouse.firstDecryptedAt()), { timeout: 20_000 }).not.toBeNull();
    for (const id of [hostId, speakerId]) expect((await peakFrom(late, id))?.db ?? -Infinity).toBeLessThan(-90);
    expect(await indicators(late)).toBe(0);
    expect(await probeOf(late)).toEqual({ indicatorAt: null, audibleAt: null, heardAt: null });

    release();
    stopHolding();
    await expect.poll(() => indicators(late), { timeout: 10_000 }).toBe(1);
    await expectHears(late, hostId, 440);
    await expectHears(late, speakerId, 660);
    const seen = await probeOf(late);
    expect(seen.indicatorAt).not.toBeNull();
    expect(seen.audibleAt).not.toBeNull();
    expect(seen.heardAt).not.toBeNull();
    expect(seen.indicatorAt!).toBeLessThanOrEqual(seen.audibleAt!);
    expect(seen.indicatorAt!).toBeLessThanOrEqual(seen.heardAt!);

    await new Promise((resolve) => setTimeout(resolve, RECORD_AT_LEAST_MS - (Date.now() - recordingSince)));
    await host.getByTestId('record-stop').click();
    for (const page of [host, speaker, listener, late]) await expect.poll(() => indicators(page), { timeout: INDICATOR_BOUND_MS, interval: 100 }).toBe(0);
    await expect.poll(() => host.getByTestId('recording-file').count(), { timeout: 10_000 }).toBe(1);

    // The file plays in the host's page...
    const played = await host.evaluate(async () => {
      const a = new Audio((document.querySelector('[data-testid="recording-file"]') as HTMLAnchorElement).href);
      await a.play();
      await new Promise((resolve) => a.addEventListener('timeupdate', () => a.currentTime > 0.2 && resolve(null)));
      a.pause();
      return a.currentTime;
    });
    expect(played).toBeGreaterThan(0.2);
    // ...and holds the host's 440 Hz and the speaker's 660 Hz as the two strongest peaks, far above the rest.
    const file = await recordedPeaks(host);
    expect(file.type).toContain('webm');
    expect(file.seconds).toBeGreaterThan((RECORD_AT_LEAST_MS - 500) / 1_000);
    const strongest = file.peaks
      .slice(0, 2)
      .map((p) => p.hz)
      .sort((a, b) => a - b);
    expect(strongest[0]).toBeCloseTo(440, -1);
    expect(strongest[1]).toBeCloseTo(660, -1);
    for (const p of file.peaks.slice(0, 2)) expect(p.db - file.floorDb).toBeGreaterThan(30);
    for (const page of [host, speaker, listener, late]) await page.close();
  });

  it('a room with no recording plays a newcomer\'s audio once the host\'s "not recording" notice opens, and shows no indicator', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Not recorded', 'Host');
    const hostId = await myId(host);
    const late = await joinRoom(browser, link, 'Listener', { before: probe });
    await expectHears(late, hostId, 440);
    expect(await indicators(late)).toBe(0);
    expect((await probeOf(late)).indicatorAt).toBeNull();
    for (const page of [host, late]) await page.close();
  });
});
