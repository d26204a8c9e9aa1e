// Launches Debian's Chromium for browser tests: fake microphones playing generated tones, WebRTC on loopback.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A 48 kHz mono 16-bit sine WAV, cached in the temp dir; Chromium loops it as the fake microphone. */
export function toneWav(frequencyHz: number, seconds = 20): string {
  const dir = join(tmpdir(), 'teahouse-tones');
  const path = join(dir, `tone-${frequencyHz}hz-${seconds}s.wav`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const rate = 48_000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    buf.writeInt16LE(Math.round(12_000 * Math.sin((2 * Math.PI * frequencyHz * i) / rate)), 44 + i * 2);
  }
  writeFileSync(path, buf);
  return path;
}

/** One browser per distinct microphone: Chromium takes the fake capture file per process. */
export async function launchChromium(options: { toneHz?: number } = {}): Promise<Browser> {
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
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
  if (options.toneHz !== undefined) args.push(`--use-file-for-fake-audio-capture=${toneWav(options.toneHz)}`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args });
}
