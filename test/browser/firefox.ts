// Launches Debian's Firefox ESR for browser tests through puppeteer-core over WebDriver BiDi: a fake microphone tone.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export interface FirefoxOptions {
  /** The fake microphone's sine (Firefox's own generator; 1000 Hz if unset). One tone per browser process. */
  toneHz?: number;
  /**
   * Firefox gathers no loopback candidates and, without microphone permission, only its default-route address: a
   * relay on 127.0.0.1 is then unreachable and ICE fails. True (the default) lifts both; false keeps a stock profile's
   * behaviour, which the media-status test uses as a natural ICE failure.
   */
  loopback?: boolean;
}

export async function launchFirefox(options: FirefoxOptions = {}): Promise<Browser> {
  const prefs: Record<string, unknown> = {
    // A fake microphone with no permission prompt.
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'media.autoplay.default': 0,
    // No sound card here: without a mock audio backend an AudioContext never resumes and the analyser hears nothing.
    'media.cubeb.force_mock_context': true,
    // The closed network: no update, telemetry or safe-browsing connections.
    'app.update.enabled': false,
    'browser.safebrowsing.malware.enabled': false,
    'browser.safebrowsing.phishing.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
  };
  if (options.toneHz !== undefined) prefs['media.navigator.audio.fake_frequency'] = options.toneHz;
  if (options.loopback ?? true) {
    prefs['media.peerconnection.ice.loopback'] = true;
    prefs['permissions.default.microphone'] = 1;
  }
  // A missing browser is one line naming the fix, instead of puppeteer's launch error.
  if (!existsSync(FIREFOX_PATH)) throw new Error(`no Firefox at ${FIREFOX_PATH}: run "npm test", which installs Debian's firefox-esr, or set FIREFOX_PATH`);
  // Firefox builds a fresh profile at every launch; with the full suite's browsers on two cores that once took longer
  // than puppeteer's default 30 s. The tests' hook allows 90 s.
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX_PATH, headless: true, extraPrefsFirefox: prefs, timeout: 75_000 });
}
