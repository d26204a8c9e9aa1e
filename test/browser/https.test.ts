import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { translate } from '../../client/src/i18n/i18n.ts';
import type { Relay } from '../../server/index.ts';
import { startTestRelay, TEST_CLIENT_DIR } from '../helpers/relay.ts';
import { makeCertificate, presentedCertificate, secureOriginArgs, tempDir, type TestCertificate } from '../helpers/tls.ts';
import { launchChromium } from './chromium.ts';
import { expectHears, joinRoom, openPage } from './pages.ts';
import { hearEachOther, TEST_HOST } from './secure-origin.ts';

let dir: string;
let first: TestCertificate;
let second: TestCertificate;
let secure: Relay;
let plain: Relay;
let hostBrowser: Browser;
let guestBrowser: Browser;
const plainConnections: string[] = [];
const plainMessages: string[] = [];

beforeAll(async () => {
  dir = tempDir('https');
  first = makeCertificate(dir, TEST_HOST, 'first');
  second = makeCertificate(dir, TEST_HOST, 'second');
  secure = await startTestRelay({ tlsCert: first.certPath, tlsKey: first.keyPath });
  plain = await startTestRelay({ onClientMessage: (event) => plainMessages.push(event) });
  plain.io.on('connection', (socket) => plainConnections.push(socket.id));
  const args = secureOriginArgs([first, second]);
  hostBrowser = await launchChromium({ toneHz: 440, args });
  guestBrowser = await launchChromium({ toneHz: 660, args });
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await secure?.close();
  await plain?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('HTTPS built into the relay', () => {
  it("on https://teahouse.test (not localhost) with the relay's own certificate, host and listener hear each other", async () => {
    const origin = `https://${TEST_HOST}:${secure.port}`;
    const room = await hearEachOther(hostBrowser, guestBrowser, origin);
    await room.host.context().close();
    await room.guest.context().close();
  }, 120_000);
});

describe('an insecure origin', () => {
  it('over plain HTTP under a real host name the page explains, in every language, and never connects or sends audio', async () => {
    const requests: string[] = [];
    const insecureOrigin = `http://plain.${TEST_HOST}:${plain.port}`;
    // A room link as a guest would get it (the secret after '#'), but on plain HTTP.
    const roomLink = `${insecureOrigin}/r/f3Jq9ZpV0bXw2KcA#c2VjcmV0LW5ldmVyLXNlbnQ`;
    for (const url of [`${insecureOrigin}/`, roomLink]) {
      const page = await openPage(hostBrowser, url, { context: async (context) => void context.on('request', (r) => requests.push(r.url())) });
      const notice = page.getByTestId('insecure-origin');
      await expect.poll(() => notice.isVisible()).toBe(true);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      expect(await notice.textContent()).toContain(translate('en', 'insecureExplain', { origin: insecureOrigin }));
      expect(await page.getByTestId('insecure-try-https').getAttribute('href')).toBe(url.replace('http://', 'https://'));
      for (const lang of ['zh-CN', 'zh-TW', 'en'] as const) {
        await page.getByTestId('language').selectOption(lang);
        await expect.poll(() => notice.locator('h2').textContent()).toBe(translate(lang, 'insecureHeading'));
        expect(await notice.textContent()).toContain(translate(lang, 'insecureHost'));
      }
      expect(await page.getByTestId('create-room').count()).toBe(0);
      expect(await page.getByTestId('join-room').count()).toBe(0);
      await page.waitForLoadState('networkidle');
      await page.context().close();
    }
    expect(requests.filter((u) => u.includes('/socket.io'))).toEqual([]);
    expect(requests.every((u) => u.startsWith(insecureOrigin) || u.startsWith('data:') || u.startsWith('blob:'))).toBe(true);
    expect(plainConnections).toEqual([]);
    expect(plainMessages).toEqual([]);
    expect(plain.rooms.size).toBe(0);
  }, 60_000);
});

describe('certificate renewal under `npm start`', () => {
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('SIGHUP re-reads TLS_CERT and TLS_KEY: a new visitor gets the new certificate and joins; the room in progress goes on', async () => {
    const live = join(dir, 'live');
    copyFileSync(first.certPath, `${live}.crt`);
    copyFileSync(first.keyPath, `${live}.key`);
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    child = spawn(process.execPath, [main], {
      env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', LOG_LEVEL: 'info', CLIENT_DIR: TEST_CLIENT_DIR, DISCONNECT_GRACE_MS: '0', TLS_CERT: `${live}.crt`, TLS_KEY: `${live}.key` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await expect.poll(() => out, { timeout: 20_000 }).toMatch(/open https:\/\/127\.0\.0\.1:\d+\/ in a browser/);
    const port = Number(/open https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
    expect(await presentedCertificate(port, TEST_HOST)).toBe(first.fingerprint256);

    const { host, guest, hostId, guestId, link: roomLink } = await hearEachOther(hostBrowser, guestBrowser, `https://${TEST_HOST}:${port}`);
    copyFileSync(second.certPath, `${live}.crt`);
    copyFileSync(second.keyPath, `${live}.key`);
    child.kill('SIGHUP');
    await expect.poll(() => out).toContain('"msg":"TLS certificate reloaded"');
    expect(await presentedCertificate(port, TEST_HOST)).toBe(second.fingerprint256);

    const late = await joinRoom(hostBrowser, roomLink, 'Late');
    await expectHears(late, hostId, 440);
    await expectHears(late, guestId, 660);
    await expectHears(guest, hostId, 440);
    await expectHears(host, guestId, 660);
    expect(child.exitCode).toBeNull();
  }, 150_000);
});
