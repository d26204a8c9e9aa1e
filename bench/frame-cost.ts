// SFrame cost per frame inside Chromium: engines side by side in a Worker, and the real E2EE transform of a room.
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
import type { EngineResult, WorkerBenchRequest } from './frame-cost-worker.ts';
import { median, renderTable, writeJson, type Table } from './report.ts';

const PAGE_TIMEOUT_MS = 120_000;
/** What the app sends: constant-bitrate Opus, 80 bytes every 20 ms (protocol §7). */
const OPUS_FRAME_BYTES = 80;
const FRAME_BUDGET_US = 20_000;

interface FrameCostSample {
  encryptMs: number;
  encrypted: number;
  decryptMs: number;
  decrypted: number;
  crossOriginIsolated: boolean;
}

export interface TransformCost {
  encryptUs: number;
  decryptUs: number;
  frames: number;
  isolated: boolean;
}

const frameCost = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { frameCost(): FrameCostSample | null } }).teahouse.frameCost());

/** SFrame cost per frame inside the page's E2EE Worker, summed by the real RTCRtpScriptTransform over a window. */
export async function measureFrameCost(browser: Browser, hostPage: Page, link: string, windowMs: number): Promise<TransformCost> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link, { timeout: PAGE_TIMEOUT_MS });
  await page.getByTestId('join-name').fill('Cost');
  await page.getByTestId('join-room').click();
  await page.waitForFunction(() => ((window as unknown as { teahouse?: { frameCost(): { decrypted: number } | null } }).teahouse?.frameCost()?.decrypted ?? 0) > 50, null, { timeout: PAGE_TIMEOUT_MS });
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

/** bench/frame-cost-worker.ts and what it imports as one ES module, minified as the client build is. */
async function bundleWorker(): Promise<string> {
  const output = await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: true,
      target: 'es2022',
      lib: { entry: fileURLToPath(new URL('./frame-cost-worker.ts', import.meta.url)), formats: ['es'], fileName: 'frame-cost-worker' },
      // One file: the Worker runs it from a string, where the chunk of a dynamic import (libsodium's) has no URL.
      rolldownOptions: { output: { codeSplitting: false } },
    },
  });
  const first = (Array.isArray(output) ? output[0] : output) as { output: { type: string; code?: string }[] };
  const chunk = first.output.find((o) => o.type === 'chunk');
  if (!chunk?.code) throw new Error('the worker bundle has no code');
  return chunk.code;
}

export interface WorkerEngineCost {
  engine: string;
  cache: 'warm' | 'cold';
  encryptUs: number;
  decryptUs: number;
}

/**
 * The engines of frame-cost-worker.ts in one dedicated Worker of a cross-origin-isolated page on localhost (a secure
 * context, so WebCrypto is there), served by Playwright itself: no relay, nothing else running in the page.
 */
export async function measureWorkerEngines(browser: Browser, request: WorkerBenchRequest): Promise<{ engines: WorkerEngineCost[]; isolated: boolean }> {
  const code = await bundleWorker();
  const page = await (await browser.newContext()).newPage();
  try {
    await page.route('http://localhost/frame-cost', (route) =>
      route.fulfill({
        contentType: 'text/html',
        headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
        body: '<!doctype html><title>frame cost</title>',
      }),
    );
    await page.goto('http://localhost/frame-cost');
    const reply = await page.evaluate(
      ({ code, request }) =>
        new Promise<{ results?: EngineResult[]; isolated?: boolean; error?: string }>((resolve) => {
          const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => resolve({ error: event.message });
          worker.postMessage(request);
        }),
      { code, request },
    );
    if (reply.error || !reply.results) throw new Error(`worker benchmark failed: ${reply.error}`);
    return {
      engines: reply.results.map((r) => ({ engine: r.engine, cache: r.cache, encryptUs: median(r.encryptUs), decryptUs: median(r.decryptUs) })),
      isolated: reply.isolated ?? false,
    };
  } finally {
    await page.context().close();
  }
}

async function openRoom(browser: Browser, url: string): Promise<{ page: Page; link: string }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}/`);
  await page.getByTestId('create-title').fill('Frame cost');
  await page.getByTestId('create-name').fill('Host');
  await page.getByTestId('create-room').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted');
  return { page, link: (await page.getByTestId('room-link').textContent())! };
}

export async function runFrameCostBench(opts: { quick: boolean }): Promise<Table[]> {
  const request: WorkerBenchRequest = { frames: opts.quick ? 300 : 1_000, rounds: opts.quick ? 3 : 7, frameBytes: OPUS_FRAME_BYTES, evictBytes: 8 << 20 };
  const browser = await launchChromium({ toneHz: 440 });
  const listenerBrowser = await launchChromium();
  const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
  try {
    const worker = await measureWorkerEngines(browser, request);
    const host = await openRoom(browser, relay.url);
    const transform = await measureFrameCost(listenerBrowser, host.page, host.link, opts.quick ? 3_000 : 15_000);
    writeJson('frame-cost', { quick: opts.quick, request, worker, transform });
    const row = (e: WorkerEngineCost): (string | number)[] => {
      const before = worker.engines.find((b) => b.cache === e.cache)!;
      return [e.engine, e.cache, e.encryptUs, e.decryptUs, (e.encryptUs + e.decryptUs) / (before.encryptUs + before.decryptUs), (100 * Math.max(e.encryptUs, e.decryptUs)) / FRAME_BUDGET_US];
    };
    return [
      {
        title: `SFrame AES_128_GCM_SHA256_128 in a Chromium Worker: ${OPUS_FRAME_BYTES}-byte frames, engines side by side`,
        columns: ['engine', 'caches', 'encrypt µs', 'decrypt µs', '× before', '% of 20 ms'],
        rows: worker.engines.map(row),
        notes: [
          `Median of ${request.rounds} rounds of ${request.frames} frames each way, the engines taking turns; page ${worker.isolated ? '' : 'NOT '}cross-origin isolated.`,
          `Load average when it ended: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores (other jobs share them; the slowest tenth of the timings is left out).`,
          `warm: frames back to back, timed 20 at a time; cold: ${request.evictBytes >> 20} MiB written before each frame (as the renderer's other work does between two frames 20 ms apart), each frame timed alone as the transform does.`,
          '"before": a noble gcm() per frame, as the transform did; "now": SframeSender/SframeReceiver, WebCrypto AES-GCM with the key imported once per KID (replay window included).',
          'WebCrypto: each frame awaited before the next, as the async transform does (header, nonce and frame assembly included).',
          "\"+ frame signatures\": the transform's source authentication (a certified stream key, one Ed25519 signature and verification per 4 frames over the frames themselves), with WebCrypto's Ed25519, libsodium's, or none (zeros, always valid: the bookkeeping alone).",
        ],
      },
      {
        title: 'SFrame through the real RTCRtpScriptTransform (E2EE Worker of a host and a listener, default suite)',
        columns: ['side', 'µs per frame', '% of 20 ms', 'frames'],
        rows: [
          ['encrypt (host, sending)', transform.encryptUs, (100 * transform.encryptUs) / FRAME_BUDGET_US, transform.frames],
          ['decrypt (listener, receiving)', transform.decryptUs, (100 * transform.decryptUs) / FRAME_BUDGET_US, transform.frames],
        ],
        notes: [`Summed with performance.now() around each frame in the Worker; the pages are ${transform.isolated ? '' : 'NOT '}cross-origin isolated, so timers are ${transform.isolated ? 'fine-grained (5 µs)' : 'coarse (100 µs)'}.`],
      },
    ];
  } finally {
    await listenerBrowser.close();
    await browser.close();
    await relay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runFrameCostBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
