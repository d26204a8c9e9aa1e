// Join benchmark: from opening the link to the first decrypted sound, in headless Chromium against a loopback relay.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startRelay, type Relay } from '../server/index.ts';
import { JOIN_MARK_PREFIX, type JoinStep } from '../client/src/media/join-timeline.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
import { bareRoom } from './bare-webrtc.ts';
import { barChartSvg, median, renderTable, writeJson, writePng, type Table } from './report.ts';
import { workerCpuMs } from './worker-cpu.ts';

/** Twenty pages loading at once in one Chromium on two cores take a while: generous, since this measures, not tests. */
const PAGE_TIMEOUT_MS = 120_000;

/** CPU seconds used so far by every Chromium process on this machine (Linux /proc), to say where a crowd's time goes. */
function chromiumCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(chromium)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between listing and reading.
    }
  }
  return ticks / 100;
}

async function relayCpuSeconds(relay: Relay): Promise<number> {
  let ms = 0;
  for (const worker of relay.workers()) ms += await workerCpuMs(worker);
  const own = process.cpuUsage();
  return ms / 1000 + (own.user + own.system) / 1e6;
}

interface JoinTiming {
  loadToSoundMs: number;
  clickToSoundMs: number;
  /**
   * Open link → sound without the wait for the click: the moment the page had finished everything it does before one
   * (the last of PRE_CLICK reached before it), plus click → sound. Playwright clicks only after `load`, a fill and
   * a few round trips to the browser; a person who typed a name while the page loaded clicks as the button enables.
   */
  pageOwnMs: number;
  /** Page time (ms since navigation) of each step reached; 'first-sound' is when the analyser heard the tone. */
  steps: Partial<Record<BreakdownStep, number>>;
}

/** What the page does while the join screen waits: a click after all of them finds the page idle, waiting for it. */
const PRE_CLICK: BreakdownStep[] = ['scripts-run', 'room-code', 'crypto-ready', 'socket-connected', 'peek-answered', 'worker-ready', 'device-loaded'];

/** Where a join's time goes, in the order steps usually happen; the page marks its own (join-timeline.ts). */
const BREAKDOWN: { step: BreakdownStep; label: string }[] = [
  { step: 'html', label: 'page: HTML received' },
  { step: 'scripts-run', label: 'page: scripts loaded, parsed and run (DOMContentLoaded)' },
  { step: 'room-code', label: "page: the room's code (session, screens) loaded and run, the session started" },
  { step: 'crypto-ready', label: 'page: libsodium loaded and its WebAssembly started' },
  { step: 'socket-connected', label: 'socket connected' },
  { step: 'peek-answered', label: 'room.peek answered (join screen)' },
  { step: 'worker-ready', label: 'E2EE Worker loaded' },
  { step: 'join-click', label: 'join clicked' },
  { step: 'join-answered', label: 'room.join answered' },
  { step: 'device-loaded', label: 'mediasoup Device loaded' },
  { step: 'recv-transport-created', label: 'receive transport created' },
  { step: 'consumer-created', label: 'consumer created and resumed' },
  { step: 'recv-connected', label: 'ICE and DTLS connected' },
  { step: 'epoch-key', label: 'epoch key in the Worker' },
  { step: 'first-decrypt', label: 'first frame decrypted' },
  { step: 'first-sound', label: 'first sound (440 Hz in the analyser)' },
];
type BreakdownStep = JoinStep | 'html' | 'scripts-run' | 'first-sound';

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

/** Opens the link and types a name: the join screen, ready for the click. */
async function openJoinPage(browser: Browser, link: string, name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link, { timeout: PAGE_TIMEOUT_MS });
  await page.getByTestId('join-name').fill(name, { timeout: PAGE_TIMEOUT_MS });
  return page;
}

/**
 * Clicks join and times in the page until the analyser hears the host's 440 Hz tone; page time 0 is navigation.
 * Null when nothing was heard in time: a data point of the crowd, not a reason to lose the others' numbers.
 */
async function timeJoin(page: Page, hostId: string, pollMs: number): Promise<JoinTiming | null> {
  const result = await Promise.all([
    page.evaluate(
      ({ id, timeoutMs, prefix, pollMs }) =>
        new Promise<{ click: number; sound: number; marks: Record<string, number> } | null>((resolve) => {
          let click = 0;
          document.querySelector('[data-testid="join-room"]')!.addEventListener('click', () => (click = performance.now()), { once: true });
          const deadline = performance.now() + timeoutMs;
          const poll = () => {
            const t = (window as unknown as { teahouse?: { spectrumPeak(id: string): { hz: number; db: number } | null } }).teahouse;
            const peak = t?.spectrumPeak(id);
            if (peak && peak.db > -70 && Math.abs(peak.hz - 440) < 15) {
              const sound = performance.now();
              const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
              const marks: Record<string, number> = { html: nav?.responseEnd ?? 0, 'scripts-run': nav?.domContentLoadedEventEnd ?? 0 };
              // The Worker's first decrypted frame is reported every 250 ms: wait for its mark before reading them all.
              const read = () => {
                for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith(prefix)) marks[m.name.slice(prefix.length)] = m.startTime;
                if (!('first-decrypt' in marks) && performance.now() - sound < 1_000) return setTimeout(read, 50);
                resolve({ click, sound, marks });
              };
              return read();
            }
            if (performance.now() > deadline) return resolve(null);
            // A crowd polls every 50 ms: twenty pages polling the analyser faster would load the very CPU they are timing.
            setTimeout(poll, pollMs);
          };
          poll();
        }),
      { id: hostId, timeoutMs: PAGE_TIMEOUT_MS, prefix: JOIN_MARK_PREFIX, pollMs },
    ),
    page.getByTestId('join-room').click({ timeout: PAGE_TIMEOUT_MS }),
  ]);
  const timing = result[0];
  if (!timing) return null;
  const steps: Partial<Record<BreakdownStep, number>> = { ...(timing.marks as Partial<Record<BreakdownStep, number>>), 'join-click': timing.click, 'first-sound': timing.sound };
  const readyAt = Math.max(0, ...PRE_CLICK.map((step) => steps[step]).filter((t): t is number => t !== undefined && t <= timing.click));
  return { loadToSoundMs: timing.sound, clickToSoundMs: timing.sound - timing.click, pageOwnMs: readyAt + timing.sound - timing.click, steps };
}

/** The same click → 440 Hz heard, on a bare WebRTC page (bench/bare/page.ts) through the same relay. */
async function timeBareJoin(page: Page, pollMs: number): Promise<number | null> {
  return page.evaluate(
    ({ timeoutMs, pollMs }) =>
      new Promise<number | null>((resolve) => {
        const bare = (window as unknown as { bare: { listen(): Promise<void>; spectrumPeak(): { hz: number; db: number } | null } }).bare;
        const click = performance.now();
        const deadline = click + timeoutMs;
        const poll = () => {
          const peak = bare.spectrumPeak();
          if (peak && peak.db > -70 && Math.abs(peak.hz - 440) < 15) return resolve(performance.now() - click);
          if (performance.now() > deadline) return resolve(null);
          setTimeout(poll, pollMs);
        };
        void bare.listen().then(poll, () => resolve(null));
      }),
    { timeoutMs: PAGE_TIMEOUT_MS, pollMs },
  );
}

/**
 * Per step, medians over the runs: the time since opening the link, since the click, and since the step before it
 * (the latest earlier step in BREAKDOWN, per run). A step's share of click → sound is its own time over the total,
 * counted only for steps after the click: what to attack first.
 */
function breakdownTable(runs: JoinTiming[]): Table {
  const rows = BREAKDOWN.map(({ step, label }, index) => {
    const reached = runs.filter((r) => r.steps[step] !== undefined);
    if (reached.length === 0) return [label, 0, null, null, null, null];
    const sinceLoad = reached.map((r) => r.steps[step]!);
    const sinceClick = reached.map((r) => r.steps[step]! - r.steps['join-click']!);
    const own = reached.map((r) => {
      const before = BREAKDOWN.slice(0, index)
        .map((b) => r.steps[b.step])
        .filter((t): t is number => t !== undefined && t <= r.steps[step]!);
      return r.steps[step]! - Math.max(0, ...before);
    });
    const afterClick = median(sinceClick) > 0;
    const share = afterClick ? median(reached.map((r, i) => own[i]! / r.clickToSoundMs)) * 100 : null;
    return [label, reached.length, median(sinceLoad), median(sinceClick), median(own), share];
  });
  return {
    title: 'Joining, step by step (one listener at a time; medians)',
    columns: ['step', 'runs', 'ms since opening the link', 'ms since the click', 'ms since the step before', '% of click → sound'],
    rows,
    notes: [
      'Negative "since the click": done while the join screen waited for the click. Page times come from the listener page\'s User Timing marks (client/src/media/join-timeline.ts) and Navigation Timing.',
      "ICE and DTLS overlap the consumer creation, and the epoch key can arrive before or after them: a step's own time is counted from whichever step came just before it in that run.",
    ],
  };
}

export async function runJoinBench(opts: { quick: boolean }): Promise<Table[]> {
  // The test build: timing reads the page's diagnostics (window.teahouse), which production builds do not have.
  const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
  const hostBrowser = await launchChromium({ toneHz: 440 });
  const listenerBrowser = await launchChromium();
  try {
    const { link, hostId } = await createHost(hostBrowser, relay.url);
    const bare = await bareRoom(relay);
    await (await bare.open(hostBrowser)).evaluate(() => (window as unknown as { bare: { speak(): Promise<void> } }).bare.speak());
    const single: (JoinTiming | null)[] = [];
    const bareSingle: (number | null)[] = [];
    // Teahouse and bare WebRTC take turns, so both see the same machine load.
    for (let i = 0; i < (opts.quick ? 3 : 10); i++) {
      const page = await openJoinPage(listenerBrowser, link, `Solo ${i}`);
      single.push(await timeJoin(page, hostId, 10));
      await page.context().close();
      const barePage = await bare.open(listenerBrowser);
      bareSingle.push(await timeBareJoin(barePage, 10));
      await barePage.context().close();
    }
    bare.close();
    // The crowd's pages are opened first: twenty renderer processes starting at once on two cores take tens of
    // seconds before any page exists (even a blank one), which would measure Chromium, not joining.
    const crowdSize = opts.quick ? 5 : 20;
    const openStarted = performance.now();
    const pages = await Promise.all(Array.from({ length: crowdSize }, (_, i) => openJoinPage(listenerBrowser, link, `Crowd ${i}`)));
    const crowdOpenMs = performance.now() - openStarted;
    const [chromiumBefore, relayBefore] = [chromiumCpuSeconds(), await relayCpuSeconds(relay)];
    const crowdStarted = performance.now();
    const crowd = await Promise.all(pages.map((page) => timeJoin(page, hostId, 50)));
    const crowdCpu = {
      wallSeconds: (performance.now() - crowdStarted) / 1000,
      chromiumSeconds: chromiumCpuSeconds() - chromiumBefore,
      relayAndBenchSeconds: (await relayCpuSeconds(relay)) - relayBefore,
    };
    // Closed only now: a closed page's renderer takes its CPU count with it.
    for (const page of pages) await page.context().close();
    const row = (label: string, all: (JoinTiming | null)[], withLoad: boolean) => {
      const xs = all.filter((x) => x !== null);
      const some = xs.length > 0;
      return [
        label,
        `${xs.length} of ${all.length}`,
        withLoad && some ? median(xs.map((x) => x.loadToSoundMs)) : null,
        withLoad && some ? Math.max(...xs.map((x) => x.loadToSoundMs)) : null,
        withLoad && some ? median(xs.map((x) => x.pageOwnMs)) : null,
        some ? median(xs.map((x) => x.clickToSoundMs)) : null,
        some ? Math.max(...xs.map((x) => x.clickToSoundMs)) : null,
      ];
    };
    const breakdown = breakdownTable(single.filter((x) => x !== null));
    const heardBare = bareSingle.filter((x) => x !== null);
    const bareMedian = heardBare.length > 0 ? median(heardBare) : null;
    const teahouseClick = single.filter((x) => x !== null).map((x) => x.clickToSoundMs);
    const ratio = bareMedian && teahouseClick.length > 0 ? median(teahouseClick) / bareMedian : null;
    writeJson('join', { quick: opts.quick, single, bareSingle, crowd, crowdOpenMs, crowdCpu, breakdown: breakdown.rows });
    await writePng(
      'join',
      barChartSvg('Joining: to the first decrypted sound', [
        { label: 'one listener at a time, open link → sound', unit: 'ms', values: single.flatMap((x, i) => (x ? [{ name: `run ${i + 1}`, value: x.loadToSoundMs }] : [])) },
        { label: `${crowdSize} listeners clicking join at once, click → sound`, unit: 'ms', values: crowd.flatMap((x, i) => (x ? [{ name: `listener ${i + 1}`, value: x.clickToSoundMs }] : [])) },
      ]),
    );
    return [
      {
        title: 'Joining: page load → first decrypted 440 Hz heard (headless Chromium, relay on loopback)',
        columns: ['case', 'heard', 'load→sound median ms', 'worst ms', "load→sound, page's own, median ms", 'click→sound median ms', 'worst ms'],
        rows: [
          row('one listener at a time', single, true),
          ['bare WebRTC (no E2EE), one at a time', `${heardBare.length} of ${bareSingle.length}`, null, null, null, bareMedian, heardBare.length > 0 ? Math.max(...heardBare) : null],
          row(`${crowdSize} listeners clicking join at once`, crowd, false),
        ],
        notes: [
          `Load → sound as Playwright drives it includes its own wait for the load event, the name's fill and its round trips before the click. The page's own: the last of ${PRE_CLICK.join(', ')} before the click (everything the page does while the join screen waits; after it the page only waits), plus click → sound: the time for a person who typed the name while the page loaded and clicked as the button enabled.`,
          `Click → sound, Teahouse over bare WebRTC at the median: ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`} (same run, turns taken). Bare WebRTC: mediasoup-client through the same relay's worker, its Device loaded before the click, one request bringing the receive transport and the consumer (bench/bare-webrtc.ts).`,
          `One Chromium process hosts all listeners, sharing 2 cores with the host browser and the relay; "heard": pages that heard 440 Hz within ${PAGE_TIMEOUT_MS / 1000} s.`,
          `The crowd's ${crowdSize} pages were opened beforehand (${(crowdOpenMs / 1000).toFixed(1)} s for all: renderer start-up on this machine), then all clicked join together.`,
          `During the crowd's ${crowdCpu.wallSeconds.toFixed(0)} s: Chromium used ${crowdCpu.chromiumSeconds.toFixed(0)} CPU-seconds, the relay (with its mediasoup worker and this benchmark's Playwright client) ${crowdCpu.relayAndBenchSeconds.toFixed(1)}.`,
        ],
      },
      breakdown,
    ];
  } finally {
    await listenerBrowser.close();
    await hostBrowser.close();
    await relay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runJoinBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
