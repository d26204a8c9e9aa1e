// One participant's page, whichever browser runs it: Chromium (playwright-core) and Firefox (puppeteer-core) alike.
import type { Browser as ChromiumBrowser, Page as ChromiumPage } from 'playwright-core';
import type { Browser as FirefoxBrowser, Page as FirefoxPage } from 'puppeteer-core';
import { expect } from 'vitest';

export interface Tab {
  readonly browser: 'chromium' | 'firefox';
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  close(): Promise<void>;
}

export function chromiumTab(page: ChromiumPage): Tab {
  return {
    browser: 'chromium',
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    fill: (selector, value) => page.locator(selector).fill(value),
    click: (selector) => page.locator(selector).click(),
    close: () => page.context().close(),
  };
}

export function firefoxTab(page: FirefoxPage): Tab {
  return {
    browser: 'firefox',
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    fill: (selector, value) => page.locator(selector).fill(value),
    click: (selector) => page.locator(selector).click(),
    close: () => page.browserContext().close(),
  };
}

/** Each tab has its own context: its own storage, so its own identity in the room. */
export async function openTab(browser: { chromium: ChromiumBrowser } | { firefox: FirefoxBrowser }, url: string): Promise<Tab> {
  if ('chromium' in browser) {
    const context = await browser.chromium.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('pageerror (chromium):', e.message));
    await page.goto(url);
    return chromiumTab(page);
  }
  const context = await browser.firefox.createBrowserContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('pageerror (firefox):', e instanceof Error ? e.message : String(e)));
  await page.goto(url);
  return firefoxTab(page);
}

const byTestId = (id: string) => `[data-testid="${id}"]`;

/** An attribute of the first element matching `selector`, or null while there is none. */
export function attr(tab: Tab, selector: string, name: string): Promise<string | null> {
  return tab.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name] as const);
}

export function text(tab: Tab, selector: string): Promise<string | null> {
  return tab.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
}

/** Creates a room from the home page this tab shows; returns its link once the keys are in place. */
export async function hostRoom(tab: Tab, title: string, name: string): Promise<string> {
  await tab.fill(byTestId('create-title'), title);
  await tab.fill(byTestId('create-name'), name);
  await tab.click(byTestId('create-room'));
  await expect.poll(() => attr(tab, byTestId('e2ee-status'), 'data-state'), { timeout: 30_000 }).toBe('encrypted');
  return (await text(tab, byTestId('room-link')))!;
}

/** Joins from the room link this tab shows; returns once the keys are in place (media may not flow yet). */
export async function joinAs(tab: Tab, name: string): Promise<void> {
  await tab.fill(byTestId('join-name'), name);
  await tab.click(byTestId('join-room'));
  await expect.poll(() => attr(tab, byTestId('e2ee-status'), 'data-state'), { timeout: 30_000 }).toBe('encrypted');
}

type Diagnostics = {
  view(): { me: string | null; e2ee: { epoch: number | null }; speakers: { participantId: string; decrypted: number }[] };
  spectrumPeak(id: string): { hz: number; db: number } | null;
  currentEpochKey(): { epoch: number; secret: string } | null;
  capturePlaintext(frames: number): Promise<string[]>;
};

export function idOf(tab: Tab): Promise<string> {
  return tab.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.view().me!, null);
}

export function epochIn(tab: Tab): Promise<number | null> {
  return tab.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.view().e2ee.epoch, null);
}

export function epochKeyIn(tab: Tab): Promise<{ epoch: number; secret: string }> {
  return tab.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.currentEpochKey()!, null);
}

/** Frames decrypted from one speaker so far (the E2EE worker's counter). */
export function decryptedFrom(tab: Tab, participantId: string): Promise<number> {
  return tab.evaluate((id) => (window as unknown as { teahouse: Diagnostics }).teahouse.view().speakers.find((s) => s.participantId === id)?.decrypted ?? 0, participantId);
}

/** The next `frames` frames this tab's sender sees before encryption, hex. */
export function capturePlaintextIn(tab: Tab, frames: number): Promise<string[]> {
  return tab.evaluate((n) => (window as unknown as { teahouse: Diagnostics }).teahouse.capturePlaintext(n), frames);
}

/** Waits until the tab hears `hz` from the participant, from an analyser on the decrypted remote track. */
export async function hears(tab: Tab, participantId: string, hz: number, timeout = 30_000): Promise<void> {
  await expect
    .poll(
      async () => {
        const peak = await tab.evaluate((id) => (window as unknown as { teahouse: Diagnostics }).teahouse.spectrumPeak(id), participantId);
        return peak !== null && peak.db > -70 && Math.abs(peak.hz - hz) < 15;
      },
      { timeout, interval: 250 },
    )
    .toBe(true);
}

/** The page's media status: `data-media` on e2ee-status, which media-status repeats with its reason. */
export async function mediaOf(tab: Tab): Promise<{ media: string | null; state: string | null; reason: string | null }> {
  return {
    media: await attr(tab, byTestId('e2ee-status'), 'data-media'),
    state: await attr(tab, byTestId('media-status'), 'data-state'),
    reason: await attr(tab, byTestId('media-status'), 'data-reason'),
  };
}

export async function expectMedia(tab: Tab, state: 'flowing' | 'failed', timeout = 30_000): Promise<void> {
  await expect.poll(async () => (await mediaOf(tab)).media, { timeout, interval: 250 }).toBe(state);
  expect((await mediaOf(tab)).state).toBe(state);
}

/** The room fingerprint once the page has derived it (Argon2id: it takes a moment after joining). */
export async function fingerprintIn(tab: Tab): Promise<string> {
  await expect.poll(() => text(tab, byTestId('fingerprint')), { timeout: 60_000 }).toMatch(/\d{5} \d{5} \d{5} \d{5}/);
  return (await text(tab, byTestId('fingerprint')))!;
}
