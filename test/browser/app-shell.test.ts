// The installable app: Chromium finds no installability error, the manifest speaks the page's language, and a room link opens with the relay gone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium, launchChromiumInProfile } from './chromium.ts';
import { openPage } from './pages.ts';

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

/** Waits until the service worker is active and controls the page (clients.claim()). */
async function controlled(page: Page): Promise<void> {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null), { timeout: 30_000 }).toBe(true);
}

/** What the service worker kept, as paths. */
function keptPaths(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const paths: string[] = [];
    for (const name of await caches.keys()) for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
    return paths;
  });
}

describe('the installable app', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startTestRelay();
  }, 60_000);
  afterAll(() => relay?.close());

  it('has no installability errors in Chromium, with a manifest named in English and in both Chinese scripts', async () => {
    // A profile on disk: Chromium never offers to install from an incognito context, which a new context is.
    const profile = mkdtempSync(join(tmpdir(), 'teahouse-install-'));
    const persistent = await launchChromiumInProfile(profile);
    const page = await openPage(persistent, `${relay.url}/`);
    await controlled(page);
    const cdp = await page.context().newCDPSession(page);
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: unknown[] };
    expect(installabilityErrors).toEqual([]);
    const names: Record<string, string> = {};
    for (const lang of ['en', 'zh-CN', 'zh-TW']) {
      await page.getByTestId('language').selectOption(lang);
      // The link follows the language once the page has re-rendered.
      const read = () => cdp.send('Page.getAppManifest') as Promise<{ url: string; errors: unknown[]; data: string }>;
      await expect.poll(async () => (await read()).url, { timeout: 10_000 }).toContain(`/manifest.${lang}.webmanifest`);
      const manifest = await read();
      expect(manifest.errors).toEqual([]);
      names[lang] = JSON.parse(manifest.data).short_name;
    }
    expect(names).toEqual({ en: 'Teahouse', 'zh-CN': '茶馆', 'zh-TW': '茶館' });
    await persistent.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }, 120_000);
});

describe('offline', () => {
  it('a room link opens with the relay gone (the page from the service worker, under the same CSP), and nothing of a room or the relay API is kept', async () => {
    const relay = await startTestRelay();
    const context = await browser.newContext();
    const page = await openPage(context, `${relay.url}/`);
    await controlled(page);
    const online = await page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
    expect(online).toContain("default-src 'self'");
    // A room link opened once online: its path and fragment must not end up in the cache.
    await page.goto(`${relay.url}/r/${'A'.repeat(22)}#${'B'.repeat(43)}`);
    await page.waitForLoadState('load');
    const kept = await keptPaths(page);
    expect(kept).toContain('/');
    expect(kept.some((p) => p.endsWith('.js'))).toBe(true);
    expect(kept.filter((p) => p !== '/' && !/^\/(assets\/[\w.-]+|icon-[\w-]+\.png|manifest\.[\w-]+\.webmanifest|favicon\.svg)$/.test(p))).toEqual([]);

    await relay.close();
    const offline = await context.newPage();
    await offline.goto(`${relay.url}/r/${'C'.repeat(22)}#${'D'.repeat(43)}`);
    // The app itself runs: its header and the language menu render, though the relay cannot be reached.
    await expect.poll(() => offline.getByTestId('language').isVisible(), { timeout: 30_000 }).toBe(true);
    const csp = await offline.evaluate(async () => (await caches.match('/'))?.headers.get('content-security-policy') ?? null);
    expect(csp).toBe(online);
    await context.close();
  }, 120_000);
});
