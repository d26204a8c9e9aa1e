import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { buildProductionClient, firstScripts } from '../helpers/client-build.ts';
import { startTestRelay, TEST_CLIENT_DIR } from '../helpers/relay.ts';
import { launchChromium, launchChromiumInProfile } from './chromium.ts';
import { createRoom, e2eeState, expectHears, joinRoom, myId, openPage, roomIdOf } from './pages.ts';

/** Strings only the test build may contain: the diagnostics that expose epoch keys and plaintext frames. */
const TEST_ONLY = ['currentEpochKey', 'capturePlaintext', 'capture-plaintext'];

/**
 * What the home page may fetch before it runs, gzip-compressed: about 23 KB today, 280 KB when the room came with it
 * (docs/performance.md, "First script"). Generous, so that it fails when the room's code creeps back, not on a new string.
 */
const FIRST_SCRIPT_BUDGET_GZIP = 64 * 1024;
/** The start of every WebAssembly module ("\0asm"), as libsodium carries its own inlined in base64. */
const WASM_BASE64 = 'AGFzbQ';

let browser: Browser;
let prodDir: string;

/** Every script of a built client, concatenated. */
function bundle(dir: string): string {
  return readdirSync(join(dir, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(dir, 'assets', f), 'utf8'))
    .join('\n');
}

beforeAll(async () => {
  // Built exactly as `npm run build:client` builds it (no --mode), only into a directory of its own.
  prodDir = mkdtempSync(join(tmpdir(), 'teahouse-prod-client-'));
  buildProductionClient(prodDir);
  browser = await launchChromium({ toneHz: 440 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(prodDir, { recursive: true, force: true });
});

describe('production build', () => {
  it('carries none of the diagnostics that expose keys or plaintext; the test build does', () => {
    const prod = bundle(prodDir);
    const test = bundle(TEST_CLIENT_DIR);
    for (const s of TEST_ONLY) {
      expect(prod, s).not.toContain(s);
      expect(test, s).toContain(s);
    }
  });

  it('loads first a script within its budget that carries neither libsodium, mediasoup-client nor the room screens', () => {
    const first = firstScripts(prodDir);
    expect(first.length).toBeGreaterThan(0);
    const code = Buffer.concat(first.map((f) => readFileSync(join(prodDir, f))));
    expect(gzipSync(code, { level: 9 }).length).toBeLessThan(FIRST_SCRIPT_BUDGET_GZIP);
    const text = code.toString('utf8');
    for (const s of [WASM_BASE64, 'mediasoup-client', 'e2ee-status']) expect(text, s).not.toContain(s);
    // They are in the build, loaded when a room needs them.
    const all = bundle(prodDir);
    for (const s of [WASM_BASE64, 'mediasoup-client', 'e2ee-status']) expect(all, s).toContain(s);
  });

  it('keeps libsodium out of the E2EE Worker, which needs only SFrame, and out of the chunks it imports', () => {
    const worker = readdirSync(join(prodDir, 'assets')).filter((f) => /^e2ee-worker-.*\.js$/.test(f));
    expect(worker).toHaveLength(1);
    // What the Worker's module graph loads before it runs: itself and its static imports (a dynamic import, libsodium
    // where WebCrypto lacks Ed25519, loads only when called).
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      const code = readFileSync(join(prodDir, 'assets', file), 'utf8');
      for (const m of code.matchAll(/(?:^|[;\s}])(?:import|export)\s*(?:[^"'`()]*?from\s*)?["']\.\/([^"']+)["']/g)) visit(m[1]!);
    };
    visit(worker[0]!);
    for (const file of loaded) expect(readFileSync(join(prodDir, 'assets', file), 'utf8'), file).not.toContain(WASM_BASE64);
  });

  it("serves a room link the page that preloads the room's code, and the home page the one that does not", async () => {
    const relay = await startTestRelay({ clientDir: prodDir });
    try {
      const home = await (await fetch(`${relay.url}/`)).text();
      const room = await (await fetch(`${relay.url}/r/${'C'.repeat(22)}`)).text();
      expect(home).not.toContain('modulepreload');
      const preloaded = [...room.matchAll(/<link rel="modulepreload"[^>]*\shref="\/([^"]+)"/g)].map((m) => m[1]!);
      const code = preloaded.map((f) => readFileSync(join(prodDir, f), 'utf8')).join('\n');
      // The session (mediasoup-client, libsodium) and the room screens: everything the join screen waits for.
      for (const s of [WASM_BASE64, 'mediasoup-client', 'e2ee-status']) expect(code, s).toContain(s);
      for (const f of firstScripts(prodDir)) expect(room).toContain(`/${f}`);
    } finally {
      await relay.close();
    }
  });

  it('works, leaves window.teahouse undefined, and breaks no rule of its CSP', async () => {
    const relay = await startTestRelay({ clientDir: prodDir });
    // A violation is reported even when the page catches the refusal (zod probes for eval that way): the page must not try.
    const before = () => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
    };
    const violations = (page: Page) => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    try {
      const { page, link } = await createRoom(browser, relay.url, 'Production', 'Host', { before });
      const listener = await joinRoom(browser, link, 'Listener', { before });
      expect(await page.evaluate(() => typeof (window as unknown as { teahouse?: unknown }).teahouse)).toBe('undefined');
      expect(await violations(page)).toEqual([]);
      expect(await violations(listener)).toEqual([]);
      await listener.close();
      await page.close();
    } finally {
      await relay.close();
    }
  }, 60_000);
});

describe('room secret and relay events in the page', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startTestRelay();
  });
  afterAll(async () => {
    await relay?.close();
  });

  const secretOf = (link: string) => link.slice(link.indexOf('#') + 1);
  /** Every entry of the tab's session history, as the browser keeps it (the page itself can read only the current one). */
  const historyUrls = async (page: Page) => {
    const cdp = await page.context().newCDPSession(page);
    const { entries } = (await cdp.send('Page.getNavigationHistory')) as { entries: { url: string }[] };
    await cdp.detach();
    return entries.map((e) => e.url);
  };
  const dropped = (page: Page) => page.getByTestId('dropped-events').getAttribute('data-count').then(Number);

  it('keeps the secret out of the address bar and history, and a reload of the tab still finds the room', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Hidden', 'Host');
    const roomId = await roomIdOf(host);
    const hostId = await myId(host);
    expect(link).toBe(`${relay.url}/r/${roomId}#${secretOf(link)}`);
    const guest = await joinRoom(browser, link, 'Guest');
    for (const page of [host, guest]) {
      expect(await page.evaluate(() => location.href)).toBe(`${relay.url}/r/${roomId}`);
      // The link was replaced in place: no entry of the tab's history holds the secret.
      const entries = await historyUrls(page);
      expect(entries.at(-1)).toBe(`${relay.url}/r/${roomId}`);
      for (const url of entries) expect(url).not.toContain(secretOf(link));
      // The share panel still has the whole link, from memory.
      expect(await page.getByTestId('room-link').textContent()).toBe(link);
    }

    await guest.reload();
    for (const url of await historyUrls(guest)) expect(url).not.toContain(secretOf(link));
    // The tab comes back into the room by itself (the member it was is kept in the tab: protocol §5). On a busy machine
    // the old document lets the member's lock go only seconds later (member-lock.ts waits up to 15 s for it).
    await expect.poll(() => e2eeState(guest), { timeout: 40_000 }).toBe('encrypted');
    await expect.poll(() => guest.getByTestId('room-title').textContent()).toBe('Hidden');
    await expectHears(guest, hostId, 440);

    // Leaving clears the tab's copy: a reload then asks for the full link.
    await guest.getByTestId('leave-room').click();
    await expect
      .poll(() =>
        guest
          .getByTestId('room-ended')
          .getAttribute('data-reason')
          .catch(() => null),
      )
      .toBe('leftRoom');
    expect(await guest.evaluate(() => sessionStorage.length)).toBe(0);
    await guest.reload();
    await expect
      .poll(() =>
        guest
          .getByTestId('link-error')
          .textContent()
          .catch(() => null),
      )
      .toMatch(/incomplete/);
    for (const page of [host, guest]) await page.close();
  }, 120_000);

  it('a room path without the secret, in a tab that never had it, asks for the full link; the full link then works', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Half', 'Host');
    const path = `${relay.url}/r/${await roomIdOf(host)}`;
    const stranger = await openPage(browser, path);
    await expect
      .poll(() =>
        stranger
          .getByTestId('link-error')
          .textContent()
          .catch(() => null),
      )
      .toMatch(/link is incomplete/);
    // Pasting the full link into the same tab changes only the fragment; the page still reads it and hides it.
    await stranger.goto(link);
    await expect
      .poll(() =>
        stranger
          .getByTestId('room-title')
          .textContent()
          .catch(() => null),
      )
      .toBe('Half');
    expect(await stranger.evaluate(() => location.href)).toBe(path);
    for (const url of await historyUrls(stranger)) expect(url).not.toContain(secretOf(link));
    for (const page of [host, stranger]) await page.close();
  }, 60_000);

  /** Every file a browser profile left behind, by path, read after the browser closed (SQLite, WAL and journal files too). */
  const profileFiles = (profile: string) =>
    readdirSync(profile, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => ({ path: join(e.parentPath, e.name).slice(profile.length + 1), bytes: readFileSync(join(e.parentPath, e.name)) }));
  const holding = (files: { path: string; bytes: Buffer }[], text: string) => files.filter((f) => f.bytes.includes(text)).map((f) => f.path);

  it("a link pasted into the home page never reaches the profile's history; a link opened by navigating to it does", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Profile', 'Host');
    const roomId = await roomIdOf(host);
    const secret = secretOf(link);
    const profiles = [mkdtempSync(join(tmpdir(), 'teahouse-history-pasted-')), mkdtempSync(join(tmpdir(), 'teahouse-history-opened-'))] as const;
    try {
      // Pasted: the page at / reads the link from the field, and its address only ever becomes /r/<roomId>.
      const pasting = await launchChromiumInProfile(profiles[0], { toneHz: 660 });
      const page = await openPage(pasting, relay.url);
      await page.getByTestId('paste-link').fill(link);
      await page.getByTestId('open-link').click();
      await page.getByTestId('join-name').fill('Pasted');
      await page.getByTestId('join-room').click();
      await expect.poll(() => e2eeState(page)).toBe('encrypted');
      expect(await page.evaluate(() => location.href)).toBe(`${relay.url}/r/${roomId}`);
      // A reload finds the room from the tab's storage, still without the secret in any address.
      await page.reload();
      await expect.poll(() => e2eeState(page), { timeout: 40_000 }).toBe('encrypted');
      await pasting.close();

      const opening = await launchChromiumInProfile(profiles[1], { toneHz: 660 });
      await (await joinRoom(opening, link, 'Opened')).close();
      await opening.close();

      const [pasted, opened] = profiles.map(profileFiles) as [ReturnType<typeof profileFiles>, ReturnType<typeof profileFiles>];
      // Both browsers kept a history, and the room's path is in it: a search that finds no secret searched something.
      for (const files of [pasted, opened]) expect(holding(files, `${relay.url}/r/${roomId}`)).toContain(join('Default', 'History'));
      expect(holding(pasted, secret)).toEqual([]);
      // Navigating to the link wrote it, secret and all, to the history database (and to the session the browser would
      // restore) before any script could run: the limit docs/threat-model.md states.
      expect(holding(opened, secret)).toContain(join('Default', 'History'));
    } finally {
      for (const profile of profiles) rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      await host.close();
    }
  }, 120_000);

  it('a pasted link of another server or a damaged one is refused on the home page, and nothing is opened', async () => {
    const page = await openPage(browser, relay.url);
    await page.getByTestId('paste-link').fill(`https://elsewhere.example/r/AAAAAAAAAAAAAAAAAAAAAA#${'A'.repeat(43)}`);
    await page.getByTestId('open-link').click();
    await expect
      .poll(() =>
        page
          .getByTestId('paste-link-error')
          .textContent()
          .catch(() => null),
      )
      .toMatch(/damaged|another server/);
    const { page: host, link } = await createRoom(browser, relay.url, 'Elsewhere', 'Host');
    await page.getByTestId('paste-link').fill(link.replace(relay.url, 'https://elsewhere.example'));
    await page.getByTestId('open-link').click();
    await expect
      .poll(() =>
        page
          .getByTestId('paste-link-error')
          .textContent()
          .catch(() => null),
      )
      .toMatch(/another server \(https:\/\/elsewhere\.example\)/);
    expect(await page.evaluate(() => location.pathname)).toBe('/');
    for (const p of [host, page]) await p.close();
  }, 60_000);

  it('malformed relay events are dropped and counted; the room carries on', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Hostile', 'Host');
    const hostId = await myId(host);
    expect(await dropped(host)).toBe(0);
    // What a hostile relay might send: wrong types, a missing field, a huge non-base64url commit, a member who is a number.
    relay.io.emit('key.commit', { from: hostId, commit: '<script>'.repeat(200_000), epoch: 99 });
    relay.io.emit('key.commit', { from: hostId, epoch: 'one' });
    relay.io.emit('peer.joined', { participant: 42 });
    relay.io.emit('room.updated', { locked: 'yes' });
    await expect.poll(() => dropped(host)).toBe(4);
    expect(await host.getByTestId('lock-room').getAttribute('aria-pressed')).toBe('false');
    const guest = await joinRoom(browser, link, 'Guest');
    await expectHears(guest, hostId, 440);
    await expect.poll(() => host.locator('[data-testid="participant"]').count()).toBe(2);
    expect(await dropped(guest)).toBe(0);
    for (const page of [host, guest]) await page.close();
  }, 120_000);
});
