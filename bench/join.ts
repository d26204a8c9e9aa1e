// Join benchmark: from opening the link to the first decrypted sound, in headless Chromium against a loopback relay.
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { barChartSvg, renderTable, writeJson, writePng, type Table } from './report.ts';

interface JoinTiming {
  loadToSoundMs: number;
  clickToSoundMs: number;
}

async function createHost(browser: Browser, url: string): Promise<{ page: Page; link: string; hostId: string }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}/`);
  await page.getByTestId('create-title').fill('Bench');
  await page.getByTestId('create-name').fill('Host');
  await page.getByTestId('create-room').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted');
  const link = (await page.getByTestId('room-link').textContent())!;
  const hostId = await page.evaluate(() => (window as unknown as { teahouse: { view(): { me: string } } }).teahouse.view().me);
  return { page, link, hostId };
}

/** Opens the link, joins, and times in the page until the analyser hears the host's 440 Hz tone. */
async function timeJoin(browser: Browser, link: string, hostId: string, name: string): Promise<JoinTiming> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  await page.getByTestId('join-name').fill(name);
  const result = await Promise.all([
    page.evaluate((id) => new Promise<{ click: number; sound: number }>((resolve, reject) => {
      let click = 0;
      document.querySelector('[data-testid="join-room"]')!.addEventListener('click', () => (click = performance.now()), { once: true });
      const deadline = performance.now() + 30_000;
      const poll = () => {
        const t = (window as unknown as { teahouse?: { spectrumPeak(id: string): { hz: number; db: number } | null } }).teahouse;
        const peak = t?.spectrumPeak(id);
        if (peak && peak.db > -70 && Math.abs(peak.hz - 440) < 15) return resolve({ click, sound: performance.now() });
        if (performance.now() > deadline) return reject(new Error('no sound within 30 s'));
        setTimeout(poll, 10);
      };
      poll();
    }), hostId),
    page.getByTestId('join-room').click(),
  ]);
  const timing = result[0];
  await page.context().close();
  return { loadToSoundMs: timing.sound, clickToSoundMs: timing.sound - timing.click };
}

interface FrameCostSample {
  encryptMs: number;
  encrypted: number;
  decryptMs: number;
  decrypted: number;
  crossOriginIsolated: boolean;
}

const frameCost = (page: Page) =>
  page.evaluate(() => (window as unknown as { teahouse: { frameCost(): FrameCostSample | null } }).teahouse.frameCost());

/** SFrame cost per frame inside the page's E2EE Worker, summed by the real RTCRtpScriptTransform over a window. */
async function measureFrameCost(browser: Browser, hostPage: Page, link: string, windowMs: number): Promise<{ encryptUs: number; decryptUs: number; frames: number; isolated: boolean }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  await page.getByTestId('join-name').fill('Cost');
  await page.getByTestId('join-room').click();
  await page.waitForFunction(() => ((window as unknown as { teahouse?: { frameCost(): { decrypted: number } | null } }).teahouse?.frameCost()?.decrypted ?? 0) > 50, null, { timeout: 30_000 });
  const [host0, listener0] = [await frameCost(hostPage), await frameCost(page)];
  await page.waitForTimeout(windowMs);
  const [host1, listener1] = [await frameCost(hostPage), await frameCost(page)];
  await page.context().close();
  const encrypted = host1!.encrypted - host0!.encrypted;
  const decrypted = listener1!.decrypted - listener0!.decrypted;
  return {
    encryptUs: (1000 * (host1!.encryptMs - host0!.encryptMs)) / encrypted,
    decryptUs: (1000 * (listener1!.decryptMs - listener0!.decryptMs)) / decrypted,
    frames: Math.min(encrypted, decrypted),
    isolated: host1!.crossOriginIsolated && listener1!.crossOriginIsolated,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runJoinBench(opts: { quick: boolean }): Promise<Table[]> {
  const relay = await startRelay({ port: 0, workers: 1, logLevel: 'silent' });
  const hostBrowser = await launchChromium({ toneHz: 440 });
  const listenerBrowser = await launchChromium();
  try {
    const { page: hostPage, link, hostId } = await createHost(hostBrowser, relay.url);
    const single: JoinTiming[] = [];
    for (let i = 0; i < (opts.quick ? 3 : 10); i++) single.push(await timeJoin(listenerBrowser, link, hostId, `Solo ${i}`));
    const crowdSize = opts.quick ? 5 : 20;
    const crowd = await Promise.all(Array.from({ length: crowdSize }, (_, i) => timeJoin(listenerBrowser, link, hostId, `Crowd ${i}`)));
    const row = (label: string, xs: JoinTiming[]) => [label, xs.length, median(xs.map((x) => x.loadToSoundMs)), Math.max(...xs.map((x) => x.loadToSoundMs)), median(xs.map((x) => x.clickToSoundMs)), Math.max(...xs.map((x) => x.clickToSoundMs))];
    const cost = await measureFrameCost(listenerBrowser, hostPage, link, opts.quick ? 3_000 : 15_000);
    writeJson('join', { quick: opts.quick, single, crowd, frameCost: cost });
    await writePng('join', barChartSvg('Open link → first decrypted sound', [
      { label: 'one listener at a time', unit: 'ms', values: single.map((x, i) => ({ name: `run ${i + 1}`, value: x.loadToSoundMs })) },
      { label: `${crowdSize} listeners at once`, unit: 'ms', values: crowd.map((x, i) => ({ name: `listener ${i + 1}`, value: x.loadToSoundMs })) },
    ]));
    return [{
      title: 'Joining: page load → first decrypted 440 Hz heard (headless Chromium, relay on loopback)',
      columns: ['case', 'n', 'load→sound median ms', 'worst ms', 'click→sound median ms', 'worst ms'],
      rows: [row('one listener at a time', single), row(`${crowdSize} listeners at once`, crowd)],
      notes: ['One Chromium process hosts all listeners, sharing 2 cores with the host browser and the relay.'],
    }, {
      title: 'SFrame inside Chromium: per-frame cost in the E2EE Worker through RTCRtpScriptTransform (default suite)',
      columns: ['side', 'µs per frame', '% of the 20 ms frame budget', 'frames'],
      rows: [
        ['encrypt (host, sending)', cost.encryptUs, cost.encryptUs / 200, cost.frames],
        ['decrypt (listener, receiving)', cost.decryptUs, cost.decryptUs / 200, cost.frames],
      ],
      notes: [`Summed with performance.now() around each frame in the Worker; the page is ${cost.isolated ? '' : 'NOT '}cross-origin isolated, so timers are ${cost.isolated ? 'fine-grained (5 µs)' : 'coarse (100 µs)'}.`],
    }];
  } finally {
    await listenerBrowser.close();
    await hostBrowser.close();
    await relay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runJoinBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
