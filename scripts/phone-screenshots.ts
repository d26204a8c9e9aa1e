// Writes docs/phone-390x844.png and docs/phone-360x740.png: a room as a speaker on a phone sees it, for the README.
import { writeFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';

const PHONES = [
  { width: 390, height: 844 },
  { width: 360, height: 740 },
];

const myId = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { view(): { me: string } } }).teahouse.view().me);

const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
const hostBrowser = await launchChromium({ toneHz: 440 });
const phoneBrowser = await launchChromium({ toneHz: 660 });
try {
  const host = await (await hostBrowser.newContext()).newPage();
  await host.goto(`${relay.url}/`);
  await host.getByTestId('create-title').fill('Evening tea');
  await host.getByTestId('create-name').fill('Mei');
  await host.getByTestId('create-room').click();
  const link = (await host.getByTestId('room-link').textContent({ timeout: 60_000 }))!;
  for (const phone of PHONES) {
    const context = await phoneBrowser.newContext({ viewport: phone, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await page.goto(link);
    await page.getByTestId('join-name').fill(`Phone ${phone.width}`);
    await page.getByTestId('join-room').tap();
    await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-media') === 'flowing', null, { timeout: 60_000 });
    const id = await myId(page);
    await host.locator(`[data-testid="participant"][data-participant="${id}"] [data-testid="invite-to-speak"]`).click();
    await page.getByTestId('accept-invite').tap({ timeout: 30_000 });
    await page.getByTestId('mic-toggle').waitFor({ timeout: 30_000 });
    await host.getByTestId('chat-input').fill('Welcome! Questions go in the chat.');
    await host.getByTestId('chat-send').click();
    await page.getByTestId('chat-message').first().waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-media') === 'flowing', null, { timeout: 60_000 });
    const path = `docs/phone-${phone.width}x${phone.height}.png`;
    writeFileSync(path, await page.screenshot());
    console.log(`wrote ${path}`);
    await page.getByTestId('leave-room').tap();
    await context.close();
  }
} finally {
  await phoneBrowser.close();
  await hostBrowser.close();
  await relay.close();
}
