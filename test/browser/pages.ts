// Drives the Teahouse page in Chromium for browser tests: create, join, and listen for a tone on a speaker's track.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';

export interface Diagnostics {
  view(): { me: string | null; roomId: string; e2ee: { state: string; epoch: number | null }; members: { participantId: string; role: string; name: string | null }[] };
}

/** Every request the page makes, to check that nothing leaves for another origin. */
export function recordRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  return urls;
}

/** `before` runs in the page before any of its scripts, e.g. to hide an API the browser has; `context` sets up its context. */
export interface PageOptions {
  before?: () => void;
  context?: (context: BrowserContext) => Promise<void>;
}

/** A Browser gets a fresh context per page; a (persistent) BrowserContext is used as it is. */
export async function openPage(browser: Browser | BrowserContext, url: string, options: PageOptions = {}): Promise<Page> {
  const context = 'newContext' in browser ? await browser.newContext() : browser;
  if (options.before) await context.addInitScript(options.before);
  await options.context?.(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('pageerror:', e.message));
  // What the page itself reports as an error (the session's fail, shell/ending.ts, logs there): a test that times out then says why.
  page.on('console', (m) => m.type() === 'error' && console.error('console error:', m.text()));
  // A balancer whose every server failed a health check for a moment answers 503 (docs/haproxy.cfg: rise 1, checks
  // every second): a person would load the page again, and so does the test, saying so.
  for (let tries = 1; ; tries++) {
    const status = (await page.goto(url))?.status() ?? 200;
    if (status < 500 || tries >= 10) break;
    console.error(`openPage: ${status} from ${new URL(url).host}, loading again`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return page;
}

export async function createRoom(browser: Browser, relayUrl: string, title: string, name: string, options: PageOptions = {}): Promise<{ page: Page; link: string }> {
  const page = await openPage(browser, `${relayUrl}/`, options);
  await page.getByTestId('create-title').fill(title);
  await page.getByTestId('create-name').fill(name);
  await page.getByTestId('create-room').click();
  await untilEncrypted(page, 'createRoom');
  const link = (await page.getByTestId('room-link').textContent())!;
  return { page, link };
}

export async function joinRoom(browser: Browser | BrowserContext, link: string, name: string, options: PageOptions = {}): Promise<Page> {
  const page = await openPage(browser, link, options);
  try {
    await page.getByTestId('join-name').fill(name);
  } catch (error) {
    console.error('joinRoom: no join form', await describePage(page));
    throw error;
  }
  await page.getByTestId('join-room').click();
  await untilEncrypted(page, 'joinRoom');
  return page;
}

/** Waits for the page to show its room encrypted; a page that never does is described, so that a failure says why. */
async function untilEncrypted(page: Page, step: string): Promise<void> {
  try {
    await expect.poll(() => e2eeState(page), { timeout: 20_000 }).toBe('encrypted');
  } catch (error) {
    console.error(`${step}: the room never showed encrypted`, await describePage(page));
    throw error;
  }
}

/** What a page shows of its room, keys and media, for a test's failure message. */
export async function describePage(page: Page): Promise<string> {
  const state = await page
    .evaluate(() => {
      type View = { phase: unknown; me: unknown; e2ee: unknown; notice: unknown; reconnecting: unknown; media: unknown; sent: unknown; speakers: unknown; members: { participantId: string; role: string }[] };
      const v = (window as unknown as { teahouse?: { view(): View } }).teahouse?.view();
      return {
        body: document.body.innerText.slice(0, 300),
        view: v ? { phase: v.phase, me: v.me, e2ee: v.e2ee, notice: v.notice, reconnecting: v.reconnecting, media: v.media, sent: v.sent, speakers: v.speakers, members: v.members.map((m) => `${m.participantId}:${m.role}`) } : null,
      };
    })
    .catch((e: Error) => e.message);
  return JSON.stringify(state);
}

export async function myId(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.view().me!);
}

/** The strongest frequency heard from one participant, from an analyser on the decrypted remote track. */
export async function peakFrom(page: Page, participantId: string): Promise<{ hz: number; db: number } | null> {
  return page.evaluate((id) => (window as unknown as { teahouse: { spectrumPeak(id: string): { hz: number; db: number } | null } }).teahouse.spectrumPeak(id), participantId);
}

/** Waits until the page hears `hz` (within one FFT bin or two) from the participant. */
export async function expectHears(page: Page, participantId: string, hz: number, timeout = 20_000): Promise<void> {
  await expect
    .poll(
      async () => {
        const peak = await peakFrom(page, participantId);
        return peak !== null && peak.db > -70 && Math.abs(peak.hz - hz) < 15;
      },
      { timeout, interval: 250 },
    )
    .toBe(true);
}

/** Frames of one speaker the page decrypted so far (the E2EE Worker's counter). */
export function framesDecrypted(page: Page, speakerId: string): Promise<number> {
  return page.evaluate((id) => (window as unknown as { teahouse: { view(): { speakers: { participantId: string; decrypted: number }[] } } }).teahouse.view().speakers.find((s) => s.participantId === id)?.decrypted ?? 0, speakerId);
}

export async function epochOf(page: Page): Promise<number | null> {
  return page.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.view().e2ee.epoch);
}

/** The epoch code the page shows (null while it shows none): equal on pages that share the room's keys. */
export function epochCode(page: Page): Promise<string | null> {
  return page
    .getByTestId('epoch-code')
    .textContent()
    .catch(() => null);
}

/** `e2ee-status`'s data-state: 'encrypted', 'waiting-for-key' or 'error' (null before the room shows). */
export function e2eeState(page: Page): Promise<string | null> {
  return page
    .getByTestId('e2ee-status')
    .getAttribute('data-state')
    .catch(() => null);
}

/** The role a page shows for a participant: the signed stage's, never the relay's claim. */
export function roleShown(page: Page, participantId: string): Promise<string | null> {
  return page.locator(`[data-testid="participant"][data-participant="${participantId}"]`).getAttribute('data-role');
}

export async function roomIdOf(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as { teahouse: Diagnostics }).teahouse.view().roomId);
}

/** Closes the page's relay connection as a network drop would; with holdMs it stays down that long before coming back. */
export async function dropConnection(page: Page, holdMs = 0): Promise<void> {
  await page.evaluate((ms) => (window as unknown as { teahouse: { dropConnection(holdMs: number): void } }).teahouse.dropConnection(ms), holdMs);
}
