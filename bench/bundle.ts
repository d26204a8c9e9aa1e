// Bundle benchmark: the JavaScript the home page fetches before it runs (raw, gzip, brotli), all the JavaScript, and how
// soon the home page is interactive in headless Chromium against a loopback relay, also with a slow CPU and network.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { buildProductionClient, firstScripts } from '../test/helpers/client-build.ts';
import { barChartSvg, median, writeJson, writePng, type Table } from './report.ts';

export interface ScriptSize {
  file: string;
  loaded: 'first' | 'on demand' | 'worker';
  raw: number;
  gzip: number;
  brotli: number;
}

/** Every script of a built client with its compressed sizes (gzip -9, brotli 11: what a static server would send). */
export function scriptSizes(dir: string): ScriptSize[] {
  const first = new Set(firstScripts(dir));
  return readdirSync(join(dir, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => {
      const bytes = readFileSync(join(dir, 'assets', f));
      const file = `assets/${f}`;
      return {
        file,
        loaded: first.has(file) ? 'first' : /-worker-/.test(f) ? 'worker' : 'on demand',
        raw: bytes.length,
        gzip: gzipSync(bytes, { level: 9 }).length,
        brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
      } satisfies ScriptSize;
    })
    .sort((a, b) => (a.loaded === b.loaded ? b.raw - a.raw : a.loaded === 'first' ? -1 : b.loaded === 'first' ? 1 : a.loaded.localeCompare(b.loaded)));
}

interface Profile {
  name: string;
  /** Chromium's CPU slowdown factor (1 = this machine). */
  cpu: number;
  /** Added round trip and bandwidth; null = loopback as it is. */
  network: { latencyMs: number; mbps: number } | null;
}

const PROFILES: Profile[] = [
  { name: 'loopback', cpu: 1, network: null },
  { name: '4× slower CPU, 10 Mbit/s, 40 ms RTT', cpu: 4, network: { latencyMs: 40, mbps: 10 } },
];

/** Page times in ms from navigation start. */
export interface HomeTiming {
  firstPaintMs: number;
  createReadyMs: number;
  /** After the create button is there and the last long task (≥ 50 ms) of the load has ended. */
  interactiveMs: number;
  longTasksMs: number;
  allScriptsMs: number;
  /** From the create click (after the page settled) to the room screen. */
  clickToRoomMs: number;
}

interface PageRecord {
  fcp: number | null;
  ready: number | null;
  longTasks: [number, number][];
}

/** Runs in the page before its own scripts: first paint, when the create button is there and enabled, long tasks. */
function recordHomePage(): void {
  const record: PageRecord = { fcp: null, ready: null, longTasks: [] };
  (window as unknown as { bundleBench: PageRecord }).bundleBench = record;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') record.fcp = e.startTime;
  }).observe({ type: 'paint', buffered: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) record.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  new MutationObserver(() => {
    const button = document.querySelector<HTMLButtonElement>('[data-testid="create-room"]');
    if (record.ready === null && button && !button.disabled) record.ready = performance.now();
  }).observe(document, { subtree: true, childList: true, attributes: true });
}

async function timeHomePage(browser: Browser, url: string, profile: Profile): Promise<HomeTiming> {
  const context = await browser.newContext();
  try {
    await context.addInitScript(recordHomePage);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: profile.cpu });
    if (profile.network) {
      await cdp.send('Network.enable');
      const bytesPerSecond = (profile.network.mbps * 1e6) / 8;
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: profile.network.latencyMs, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond });
    }
    await page.goto(`${url}/`, { waitUntil: 'networkidle', timeout: 60_000 });
    // Settled: a second with no new long task (what the page fetched when idle has been evaluated too).
    let seen = -1;
    for (let i = 0; i < 20; i++) {
      const count = await page.evaluate(() => (window as unknown as { bundleBench: PageRecord }).bundleBench.longTasks.length);
      if (count === seen) break;
      seen = count;
      await page.waitForTimeout(1_000);
    }
    const record = await page.evaluate(() => {
      const r = (window as unknown as { bundleBench: PageRecord }).bundleBench;
      const scripts = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js')) as PerformanceResourceTiming[];
      return { ...r, allScripts: Math.max(0, ...scripts.map((e) => e.responseEnd)) };
    });
    if (record.fcp === null || record.ready === null) throw new Error('the home page never showed an enabled create button');
    const lastLongTaskEnd = Math.max(0, ...record.longTasks.map(([start, duration]) => start + duration));
    await page.getByTestId('create-title').fill('Bench');
    await page.getByTestId('create-name').fill('Host');
    const [clickToRoomMs] = await Promise.all([
      page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            let click = 0;
            document.querySelector('[data-testid="create-room"]')!.addEventListener('click', () => (click = performance.now()), { once: true });
            const observer = new MutationObserver(() => {
              if (click && document.querySelector('[data-testid="e2ee-status"]')) {
                observer.disconnect();
                resolve(performance.now() - click);
              }
            });
            observer.observe(document, { subtree: true, childList: true });
          }),
      ),
      page.getByTestId('create-room').click(),
    ]);
    return {
      firstPaintMs: record.fcp,
      createReadyMs: record.ready,
      interactiveMs: Math.max(record.fcp, record.ready, lastLongTaskEnd),
      longTasksMs: record.longTasks.reduce((sum, [, duration]) => sum + duration, 0),
      allScriptsMs: record.allScripts,
      clickToRoomMs,
    };
  } finally {
    await context.close();
  }
}

const kb = (bytes: number) => bytes / 1024;

/** `clientDir`: an already built client to measure (e.g. an older commit's); by default this tree's, built for the run. */
export async function runBundleBench(opts: { quick: boolean; clientDir?: string; label?: string }): Promise<Table[]> {
  const ownDir = opts.clientDir ? null : mkdtempSync(join(tmpdir(), 'teahouse-bundle-bench-'));
  const dir = opts.clientDir ?? ownDir!;
  try {
    if (ownDir) buildProductionClient(ownDir);
    const sizes = scriptSizes(dir);
    const first = sizes.filter((s) => s.loaded === 'first');
    const sum = (list: ScriptSize[], key: 'raw' | 'gzip' | 'brotli') => list.reduce((total, s) => total + s[key], 0);
    const page = sizes.filter((s) => s.loaded !== 'worker');

    const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: dir });
    const browser = await launchChromium({ toneHz: 440 });
    const runs = opts.quick ? 3 : 7;
    const timings: Record<string, HomeTiming[]> = {};
    try {
      for (const profile of PROFILES) {
        timings[profile.name] = [];
        for (let i = 0; i < runs; i++) timings[profile.name]!.push(await timeHomePage(browser, relay.url, profile));
      }
    } finally {
      await browser.close();
      await relay.close();
    }

    const label = opts.label ?? 'this tree';
    writeJson('bundle', { label, sizes, first: { raw: sum(first, 'raw'), gzip: sum(first, 'gzip'), brotli: sum(first, 'brotli') }, timings });
    await writePng(
      'bundle',
      barChartSvg(`Scripts of the production build (${label})`, [
        { label: 'gzip (first: fetched before the page runs)', unit: 'KB', values: sizes.map((s) => ({ name: `${s.file} (${s.loaded})`, value: kb(s.gzip) })) },
        ...PROFILES.map((p) => ({
          label: `home page, ${p.name}: median from navigation`,
          unit: 'ms',
          values: (['createReadyMs', 'interactiveMs', 'clickToRoomMs'] as const).map((key) => ({ name: key, value: median(timings[p.name]!.map((t) => t[key])) })),
        })),
      ]),
    );
    const m = (list: HomeTiming[], key: keyof HomeTiming) => median(list.map((t) => t[key]));
    return [
      {
        title: `Scripts of the production build (${label}), KB`,
        columns: ['file', 'loaded', 'raw', 'gzip', 'brotli'],
        rows: [
          ...sizes.map((s) => [s.file, s.loaded, kb(s.raw), kb(s.gzip), kb(s.brotli)]),
          ['first script total', 'first', kb(sum(first, 'raw')), kb(sum(first, 'gzip')), kb(sum(first, 'brotli'))],
          ['page total (no workers)', '', kb(sum(page, 'raw')), kb(sum(page, 'gzip')), kb(sum(page, 'brotli'))],
          ['all JavaScript', '', kb(sum(sizes, 'raw')), kb(sum(sizes, 'gzip')), kb(sum(sizes, 'brotli'))],
        ],
        notes: ['first: the entry script and its modulepreloads in index.html, fetched before the page runs; gzip -9, brotli 11.'],
      },
      {
        title: `Home page in headless Chromium, cold cache (${label}), median of ${runs}, ms from navigation`,
        columns: ['profile', 'first paint', 'create ready', 'interactive', 'long tasks', 'all JS fetched', 'click → room'],
        rows: PROFILES.map((p) => {
          const list = timings[p.name]!;
          return [p.name, m(list, 'firstPaintMs'), m(list, 'createReadyMs'), m(list, 'interactiveMs'), m(list, 'longTasksMs'), m(list, 'allScriptsMs'), m(list, 'clickToRoomMs')];
        }),
        notes: [
          'create ready: the create button is in the page and enabled; interactive: that, and the last long task (≥ 50 ms main-thread block) has ended.',
          'long tasks: their summed time until the page settled (a second without a new one); click → room: create clicked after that, until the room screen shows.',
        ],
      },
    ];
  } finally {
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  }
}
