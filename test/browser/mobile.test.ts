// The room page on a phone: 390x844 portrait in a Chromium mobile viewport, no sideways scrolling, 44 px touch targets.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, myId } from './pages.ts';

const PHONES = [
  { width: 390, height: 844 },
  { width: 360, height: 740 },
];
const SCALE = 2;

let relay: Relay;
let browser: Browser;

beforeAll(async () => {
  relay = await startTestRelay();
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

/**
 * Every visible control a finger must hit, with its box: buttons, the language menu, inputs, the stats toggle, links.
 * A checkbox is hit through its label, so the label is measured.
 */
async function targets(page: Page): Promise<{ id: string; width: number; height: number }[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('button, select, input, summary, a[href]')]
      .map((el) => ({ el, box: ((el as HTMLInputElement).type === 'checkbox' ? (el.closest('label') ?? el) : el).getBoundingClientRect() }))
      .filter(({ box }) => box.width > 0 && box.height > 0)
      .map(({ el, box }) => ({ id: el.getAttribute('data-testid') ?? `${el.tagName.toLowerCase()}:${el.textContent?.trim().slice(0, 20)}`, width: box.width, height: box.height })),
  );
}

/** The PNG's pixel size from its IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.each(PHONES)('a phone-sized screen, $width × $height', (PHONE) => {
  it("the room page fits the phone in portrait, every touch target is at least 44 px, the room's own buttons are within the screen, and the full-page screenshot is no wider than the phone", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Tea on the go, with a rather long title that has to wrap', 'Host with a long name');
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: SCALE, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('pageerror:', e.message));
    await page.goto(link);
    expect((await targets(page)).filter((t) => Math.min(t.width, t.height) < 44)).toEqual([]);
    await page.getByTestId('join-name').fill('Phone listener');
    await page.getByTestId('join-room').tap();
    await expect.poll(() => page.getByTestId('e2ee-status').getAttribute('data-media'), { timeout: 30_000 }).toBe('flowing');
    await expectHears(page, await myId(host), 440);

    // Invited on stage, the phone shows its speaker controls too.
    const phoneId = await myId(page);
    await host.locator(`[data-testid="participant"][data-participant="${phoneId}"] [data-testid="invite-to-speak"]`).click();
    await page.getByTestId('accept-invite').tap();
    await expect.poll(() => page.getByTestId('mic-toggle').isVisible(), { timeout: 20_000 }).toBe(true);
    await page.getByTestId('e2ee-stats').locator('summary').tap();

    // Microphone and leave stay within reach whatever is scrolled: inside the viewport, at its lower half (the thumb's).
    for (const id of ['mic-toggle', 'leave-room']) {
      const box = (await page.getByTestId(id).boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
      expect(box.y).toBeGreaterThan(PHONE.height / 2);
      expect(box.y + box.height).toBeLessThanOrEqual(PHONE.height);
    }
    const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(overflow.scroll).toBeLessThanOrEqual(overflow.client);
    // A page wider than the screen makes a phone browser widen its layout viewport (innerWidth) to fit, not scroll.
    expect(await page.evaluate(() => innerWidth)).toBe(PHONE.width);
    const small = (await targets(page)).filter((t) => Math.min(t.width, t.height) < 44);
    expect(small).toEqual([]);

    const shot = await page.screenshot({ fullPage: true });
    const dir = join(tmpdir(), 'teahouse-screens');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `room-${PHONE.width}x${PHONE.height}.png`), shot);
    const size = pngSize(shot);
    expect(size.width).toBe(PHONE.width * SCALE);
    expect(size.height).toBeGreaterThanOrEqual(PHONE.height * SCALE);
    await context.close();
    await host.close();
  }, 120_000);
});
