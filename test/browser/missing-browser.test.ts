import { afterEach, describe, expect, it, vi } from 'vitest';

// The launchers read their path when loaded: each case loads them afresh under the variable it sets.
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('a browser that is not installed', () => {
  it('Chromium: one line naming the path and the fix', async () => {
    vi.stubEnv('CHROMIUM_PATH', '/nonexistent/chromium');
    const { launchChromium } = await import('./chromium.ts');
    await expect(launchChromium()).rejects.toThrow(/^no Chromium at \/nonexistent\/chromium: run "npm test", which installs Debian's chromium, or set CHROMIUM_PATH$/);
  });

  it('Firefox: one line naming the path and the fix', async () => {
    vi.stubEnv('FIREFOX_PATH', '/nonexistent/firefox');
    const { launchFirefox } = await import('./firefox.ts');
    await expect(launchFirefox()).rejects.toThrow(/^no Firefox at \/nonexistent\/firefox: run "npm test", which installs Debian's firefox-esr, or set FIREFOX_PATH$/);
  });
});
