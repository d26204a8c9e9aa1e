// Launches Debian's Chromium for browser tests: fake microphones playing generated tones, WebRTC on loopback.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A missing browser is one line naming the fix, instead of playwright's launch log for every test. */
function installedChromium(): string {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH}: run "npm test", which installs Debian's chromium, or set CHROMIUM_PATH`);
  return CHROMIUM_PATH;
}

const RATE = 48_000;

/** A 48 kHz mono 16-bit WAV of `seconds`, cached in the temp dir under `name`; Chromium loops it as the fake microphone. */
function cachedWav(name: string, seconds: number, sample: (i: number) => number): string {
  const dir = join(tmpdir(), 'teahouse-tones');
  const path = join(dir, `${name}.wav`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const n = RATE * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(RATE, 24);
  buf.writeUInt32LE(RATE * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(sample(i), 44 + i * 2);
  writeFileSync(path, buf);
  return path;
}

function sine(frequencyHz: number, i: number): number {
  return Math.round(12_000 * Math.sin((2 * Math.PI * frequencyHz * i) / RATE));
}

/** A steady sine. */
export function toneWav(frequencyHz: number, seconds = 20): string {
  return cachedWav(`tone-${frequencyHz}hz-${seconds}s`, seconds, (i) => sine(frequencyHz, i));
}

/** A sine for `onMs`, then digital silence (all zero samples) for `offMs`, and again: talk and pauses. */
export function burstWav(frequencyHz: number, onMs: number, offMs: number, seconds = 20): string {
  const on = (RATE * onMs) / 1000;
  const period = on + (RATE * offMs) / 1000;
  return cachedWav(`burst-${frequencyHz}hz-${onMs}-${offMs}ms-${seconds}s`, seconds, (i) => (i % period < on ? sine(frequencyHz, i) : 0));
}

export interface ChromiumOptions {
  toneHz?: number;
  wav?: string;
  /** Extra flags, e.g. host mapping and trusted certificate keys for tests on a secure origin. */
  args?: string[];
  /** A HOME of its own, e.g. with an NSS database that trusts a test CA (test/helpers/coturn.ts). */
  home?: string;
  /** Hidden pages throttled as in a person's browser (a phone's tab in the background), not kept at full speed. */
  throttleHidden?: boolean;
  /** What starts Chromium instead of Chromium itself, e.g. a wrapper running it in a network the test cuts (test/helpers/netfilter.ts). */
  launcher?: string;
}

function chromiumArgs(options: ChromiumOptions): string[] {
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    // Many pages in one headless browser count as hidden windows: without these, their timers and renderers are
    // throttled to a crawl and a crowd of listeners measures Chromium's backgrounding instead of Teahouse.
    ...(options.throttleHidden ? [] : ['--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows']),
  ];
  const wav = options.wav ?? (options.toneHz !== undefined ? toneWav(options.toneHz) : undefined);
  if (wav !== undefined) args.push(`--use-file-for-fake-audio-capture=${wav}`);
  args.push(...(options.args ?? []));
  return args;
}

function chromiumEnv(options: ChromiumOptions): Record<string, string> | undefined {
  if (!options.home) return undefined;
  return { ...(process.env as Record<string, string>), HOME: options.home };
}

/** One browser per distinct microphone: Chromium takes the fake capture file per process. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  return chromium.launch({ executablePath: options.launcher ?? installedChromium(), args: chromiumArgs(options), env: chromiumEnv(options) });
}

/** A browser on a profile directory the caller owns: what it leaves there (history, sessions) can be read after close. */
export async function launchChromiumInProfile(profile: string, options: ChromiumOptions = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, args: chromiumArgs(options), env: chromiumEnv(options) });
}

/**
 * A browser whose profile sets preferences (Chromium takes some only from the profile, e.g. webrtc.udp_port_range):
 * a persistent context in a fresh profile directory, removed on close.
 */
export async function launchChromiumWithPrefs(prefs: Record<string, unknown>, options: ChromiumOptions = {}): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'teahouse-profile-'));
  mkdirSync(join(profile, 'Default'));
  writeFileSync(join(profile, 'Default', 'Preferences'), JSON.stringify(prefs));
  const context = await chromium.launchPersistentContext(profile, { executablePath: installedChromium(), args: chromiumArgs(options), env: chromiumEnv(options) });
  // Chromium may still be writing into the profile as the context closes: retried, and never thrown from the handler
  // (an exception there is an unhandled error that fails the whole run).
  context.on('close', () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch {
      // A temporary directory left behind.
    }
  });
  return context;
}
