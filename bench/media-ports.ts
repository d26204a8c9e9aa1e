// Capacity variant: one media port per worker (mediasoup WebRtcServer) against a port per transport, side by side.
import { readdirSync, readlinkSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { MEDIA_CODECS } from '../server/media/codecs.ts';
import { webRtcTransportListen } from '../server/media/listen.ts';
import { startRelay, type Relay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
import { median, writeJson, type Table } from './report.ts';
import { workerCpuMs } from './worker-cpu.ts';

const MODES = ['single', 'range'] as const;
type Mode = (typeof MODES)[number];
const PAGE_TIMEOUT_MS = 120_000;

/** Sockets a process holds open (Linux /proc): what a port per transport costs in descriptors and firewall rules. */
function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // Closed between listing and reading.
    }
  }
  return n;
}

function startModeRelay(mode: Mode): Promise<Relay> {
  return startRelay({ port: 0, host: '127.0.0.1', rtcPorts: mode, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR, disconnectGraceMs: 0 });
}

interface SetupResult {
  mode: Mode;
  transports: number;
  medianCreateMs: number;
  socketsOpened: number;
  distinctPorts: number;
}

/** Creates N WebRTC transports on one router the relay's way, timing each and counting the sockets the worker opened. */
async function setupCost(mode: Mode, n: number): Promise<SetupResult> {
  const relay = await startModeRelay(mode);
  try {
    const worker = relay.workers()[0]!;
    const server = relay.webRtcServers()[0] ?? null;
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const before = socketCount(worker.pid);
    const times: number[] = [];
    const ports = new Set<string>();
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const transport = await router.createWebRtcTransport(webRtcTransportListen(relay.config, server));
      times.push(performance.now() - started);
      for (const c of transport.iceCandidates) ports.add(`${c.protocol}:${c.port}`);
    }
    const socketsOpened = socketCount(worker.pid) - before;
    router.close();
    return { mode, transports: n, medianCreateMs: median(times), socketsOpened, distinctPorts: ports.size };
  } finally {
    await relay.close();
  }
}

interface MediaResult {
  mode: Mode;
  listeners: number;
  heard: number;
  workerCpuPct: number;
  cpuPerListenerPct: number;
}

async function openRoom(browser: Browser, url: string): Promise<{ link: string; hostId: string }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}/`);
  await page.getByTestId('create-title').fill('Ports');
  await page.getByTestId('create-name').fill('Host');
  await page.getByTestId('create-room').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted', null, { timeout: PAGE_TIMEOUT_MS });
  const link = (await page.getByTestId('room-link').textContent())!;
  const hostId = await page.evaluate(() => (window as unknown as { teahouse: { view(): { me: string } } }).teahouse.view().me);
  return { link, hostId };
}

async function joinAndHear(browser: Browser, link: string, hostId: string, name: string): Promise<Page | null> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link, { timeout: PAGE_TIMEOUT_MS });
  await page.getByTestId('join-name').fill(name, { timeout: PAGE_TIMEOUT_MS });
  await page.getByTestId('join-room').click({ timeout: PAGE_TIMEOUT_MS });
  try {
    await page.waitForFunction(
      (id) => {
        const peak = (window as unknown as { teahouse?: { spectrumPeak(id: string): { hz: number; db: number } | null } }).teahouse?.spectrumPeak(id);
        return peak !== null && peak !== undefined && peak.db > -70 && Math.abs(peak.hz - 440) < 15;
      },
      hostId,
      { timeout: PAGE_TIMEOUT_MS, polling: 250 },
    );
    return page;
  } catch {
    return null;
  }
}

/** Real browser listeners (ICE, DTLS, SRTP, SFrame) of one speaking host: the relay worker's CPU over a window. */
async function mediaCost(mode: Mode, hostBrowser: Browser, listenerBrowser: Browser, listeners: number, windowMs: number): Promise<MediaResult> {
  const relay = await startModeRelay(mode);
  try {
    const { link, hostId } = await openRoom(hostBrowser, relay.url);
    const pages = await Promise.all(Array.from({ length: listeners }, (_, i) => joinAndHear(listenerBrowser, link, hostId, `L${i}`)));
    const worker = relay.workers()[0]!;
    const before = await workerCpuMs(worker);
    await new Promise((r) => setTimeout(r, windowMs));
    const workerCpuPct = (100 * ((await workerCpuMs(worker)) - before)) / windowMs;
    for (const context of [...hostBrowser.contexts(), ...listenerBrowser.contexts()]) await context.close();
    const heard = pages.filter((p) => p !== null).length;
    return { mode, listeners, heard, workerCpuPct, cpuPerListenerPct: workerCpuPct / Math.max(1, heard) };
  } finally {
    await relay.close();
  }
}

export async function runMediaPortsBench(opts: { quick: boolean }): Promise<Table[]> {
  const transports = opts.quick ? 200 : 1000;
  const listeners = opts.quick ? 4 : 12;
  const windowMs = opts.quick ? 3000 : 10_000;
  const setup: SetupResult[] = [];
  for (const mode of MODES) setup.push(await setupCost(mode, transports));
  const media: MediaResult[] = [];
  const hostBrowser = await launchChromium({ toneHz: 440 });
  const listenerBrowser = await launchChromium();
  try {
    for (const mode of MODES) {
      const result = await mediaCost(mode, hostBrowser, listenerBrowser, listeners, windowMs);
      console.log(`  RTC_PORTS=${mode}: ${result.heard}/${listeners} browser listeners heard the host, worker CPU ${result.workerCpuPct.toFixed(1)}%`);
      media.push(result);
    }
  } finally {
    await hostBrowser.close();
    await listenerBrowser.close();
  }
  writeJson('media-ports', { quick: opts.quick, setup, media, windowMs });
  const label = (mode: Mode) => (mode === 'single' ? 'WebRtcServer (RTC_PORTS=single)' : 'port per transport (RTC_PORTS=range)');
  return [
    {
      title: `Media ports: creating ${transports} WebRTC transports on one worker`,
      columns: ['mode', 'transports', 'median create ms', 'sockets opened by the worker', 'distinct candidate ports'],
      rows: setup.map((s) => [label(s.mode), s.transports, s.medianCreateMs, s.socketsOpened, s.distinctPorts]),
      notes: ["With a WebRtcServer every transport shares the worker's one UDP socket and one TCP listener: two firewall rules per worker instead of a port range."],
    },
    {
      title: `Media ports: ${listeners} Chromium listeners of one speaking host (real ICE, DTLS-SRTP, SFrame), one worker`,
      columns: ['mode', 'listeners', 'heard the host', 'worker CPU %', 'worker CPU % per listener'],
      rows: media.map((m) => [label(m.mode), m.listeners, m.heard, m.workerCpuPct, m.cpuPerListenerPct]),
      notes: [`Worker CPU over a ${windowMs / 1000} s window once every listener heard the tone; Chromium runs on the same cores, so compare the two rows of one run, not absolutes.`],
    },
  ];
}
