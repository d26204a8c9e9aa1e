// Mouth-to-ear benchmark: a speaker's fake microphone plays tone bursts; the time from a burst on the speaker's own track to the same burst heard by a listener, Teahouse against bare WebRTC through the same relay.
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startRelay } from '../server/index.ts';
import { burstWav, launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
import { bareRoom } from './bare-webrtc.ts';
import { recordPeerConnections } from './peer-connections.ts';
import { median, renderTable, writeJson, type Table } from './report.ts';

const PAGE_TIMEOUT_MS = 120_000;
/** 100 ms of 880 Hz, then 900 ms of digital silence: one clean onset a second. */
const BURST = { hz: 880, onMs: 100, offMs: 900 };
/** Before timing: long enough for the listeners' jitter buffers to settle after joining. */
const WARM_UP_MS = 10_000;

async function recordingContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript(recordPeerConnections);
  return context;
}

/**
 * Starts timing onsets on the page's sending (or receiving) audio track: the wall-clock time of the first sample above
 * the threshold after silence, read back from the analyser's buffer so the polling interval does not count.
 */
function watchOnsets(page: Page, side: 'send' | 'recv'): Promise<void> {
  return page.evaluate((side) => {
    const pcs = (window as unknown as { benchPcs: RTCPeerConnection[] }).benchPcs;
    const tracks = pcs.flatMap((pc) => (side === 'send' ? pc.getSenders() : pc.getReceivers()).map((x) => x.track)).filter((t): t is MediaStreamTrack => t?.kind === 'audio' && t.readyState === 'live');
    const track = tracks.at(-1);
    if (!track) throw new Error(`no ${side} audio track`);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const onsets: number[] = [];
    (window as unknown as { benchOnsets: number[] }).benchOnsets = onsets;
    let quietSince = 0;
    const poll = () => {
      analyser.getFloatTimeDomainData(buf);
      const now = performance.now();
      const first = buf.findIndex((x) => Math.abs(x) > 0.05);
      if (first < 0) quietSince ||= now;
      else if (quietSince && now - quietSince > 300) {
        onsets.push(performance.timeOrigin + now - ((buf.length - first) / context.sampleRate) * 1000);
        quietSince = 0;
      } else if (first >= 0) quietSince = 0;
      setTimeout(poll, 5);
    };
    void context.resume().then(poll);
  }, side);
}

const onsetsOf = (page: Page) => page.evaluate(() => (window as unknown as { benchOnsets: number[] }).benchOnsets.slice());

/** The receiving side's jitter buffer totals so far (WebRTC stats): seconds of delay summed over emitted samples. */
function jitterBuffer(page: Page): Promise<{ delay: number; count: number }> {
  return page.evaluate(async () => {
    let delay = 0;
    let count = 0;
    for (const pc of (window as unknown as { benchPcs: RTCPeerConnection[] }).benchPcs) {
      for (const s of (await pc.getStats()).values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          delay += s.jitterBufferDelay ?? 0;
          count += s.jitterBufferEmittedCount ?? 0;
        }
      }
    }
    return { delay, count };
  });
}

/** Each listener onset against the speaker's latest onset before it (within half a period). */
function delays(spoken: number[], heard: number[]): number[] {
  const out: number[] = [];
  for (const h of heard) {
    const s = spoken.filter((t) => t < h && h - t < (BURST.onMs + BURST.offMs) / 2).at(-1);
    if (s !== undefined) out.push(h - s);
  }
  return out;
}

const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? 0;

interface Measured {
  spoken: number[];
  heard: number[];
  delays: number[];
  jitterBufferMs: number | null;
}

async function watch(speaker: Page, listener: Page): Promise<() => Promise<Measured>> {
  await Promise.all([watchOnsets(speaker, 'send'), watchOnsets(listener, 'recv')]);
  const before = await jitterBuffer(listener);
  return async () => {
    const [spoken, heard, after] = [await onsetsOf(speaker), await onsetsOf(listener), await jitterBuffer(listener)];
    const count = after.count - before.count;
    // Mean over this window only: the start-up's deeper buffer is not counted.
    const jitterBufferMs = count > 0 ? ((after.delay - before.delay) / count) * 1000 : null;
    return { spoken, heard, delays: delays(spoken, heard), jitterBufferMs };
  };
}

export async function runMouthToEarBench(opts: { quick: boolean }): Promise<Table[]> {
  const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
  const speakerBrowser = await launchChromium({ wav: burstWav(BURST.hz, BURST.onMs, BURST.offMs) });
  const listenerBrowser = await launchChromium();
  const seconds = opts.quick ? 8 : 30;
  try {
    // Teahouse: the host speaks (its microphone is on from creating the room), one listener hears it decrypted.
    const host = await (await recordingContext(speakerBrowser)).newPage();
    await host.goto(`${relay.url}/`);
    await host.getByTestId('create-title').fill('Bench');
    await host.getByTestId('create-name').fill('Host');
    await host.getByTestId('create-room').click();
    await host.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted', null, { timeout: PAGE_TIMEOUT_MS });
    const link = (await host.getByTestId('room-link').textContent())!;
    const listener = await (await recordingContext(listenerBrowser)).newPage();
    await listener.goto(link);
    await listener.getByTestId('join-name').fill('Ear');
    await listener.getByTestId('join-room').click();
    await listener.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-media') === 'flowing', null, { timeout: PAGE_TIMEOUT_MS });
    const transform = async (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { frameCost(): { encryptMs: number; encrypted: number; decryptMs: number; decrypted: number } | null } }).teahouse.frameCost());

    // Bare WebRTC: the same fake microphone in the same speaker browser, through the same relay's worker.
    const bare = await bareRoom(relay);
    const bareSpeaker = await bare.open(speakerBrowser, recordPeerConnections);
    await bareSpeaker.evaluate(() => (window as unknown as { bare: { speak(): Promise<void> } }).bare.speak());
    const bareListener = await bare.open(listenerBrowser, recordPeerConnections);
    await bareListener.evaluate(() => (window as unknown as { bare: { listen(): Promise<void> } }).bare.listen());

    // Both flow all along: after a warm-up (a jitter buffer drains what piled up while the page started), the two are
    // timed over the same seconds, so they see the same machine load.
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    const [collectTeahouse, collectBare] = await Promise.all([watch(host, listener), watch(bareSpeaker, bareListener)]);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const [teahouse, plain] = await Promise.all([collectTeahouse(), collectBare()]);
    const [sent, received] = [await transform(host), await transform(listener)];
    bare.close();

    const perFrame = (ms: number | undefined, n: number | undefined) => (ms !== undefined && n ? ms / n : null);
    const encryptMs = perFrame(sent?.encryptMs, sent?.encrypted);
    const decryptMs = perFrame(received?.decryptMs, received?.decrypted);
    const row = (label: string, m: Measured) => [label, m.delays.length, m.delays.length ? median(m.delays) : null, m.delays.length ? p95(m.delays) : null, m.jitterBufferMs];
    const added = teahouse.delays.length && plain.delays.length ? median(teahouse.delays) - median(plain.delays) : null;
    writeJson('mouth-to-ear', { quick: opts.quick, burst: BURST, teahouse, bare: plain, encryptMs, decryptMs });
    return [
      {
        title: "Mouth to ear: a tone burst on the speaker's track → heard by a listener (headless Chromium, relay on loopback)",
        columns: ['case', 'bursts', 'median ms', 'p95 ms', 'listener jitter buffer ms (mean over the window)'],
        rows: [row('Teahouse (SFrame, hold, E2EE Worker)', teahouse), row('bare WebRTC (no E2EE)', plain)],
        notes: [
          `Teahouse adds ${added === null ? 'n/a' : `${added.toFixed(1)} ms`} at the median (the same ${seconds} s for both, after ${WARM_UP_MS / 1000} s of warm-up).`,
          `Where it could go: SFrame per frame ${encryptMs?.toFixed(3) ?? 'n/a'} ms to encrypt, ${decryptMs?.toFixed(3) ?? 'n/a'} ms to decrypt (inside the Worker); the hold only gates the start (it is released before this window); the jitter buffer is the column above.`,
          "Onsets are read from each side's own analyser (the speaker's microphone track before encoding, the listener's decoded track), corrected for the polling interval; both sides are on one machine and one clock.",
        ],
      },
    ];
  } finally {
    await listenerBrowser.close();
    await speakerBrowser.close();
    await relay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runMouthToEarBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
