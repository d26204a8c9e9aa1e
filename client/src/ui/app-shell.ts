// The installable app: the manifest in the page's language, and the service worker that keeps the page for offline opening.
import type { Lang } from '../i18n/i18n.ts';

/** Points the page's manifest link at the one in `lang` (app names: Teahouse, 茶馆, 茶館), read when installing. */
export function useManifestFor(lang: Lang): void {
  const link = document.querySelector<HTMLLinkElement>('link[rel="manifest"]');
  if (link) link.href = `/manifest.${lang}.webmanifest`;
}

/**
 * Registers client/public/sw.js once the page has loaded, so its precaching never competes with the page's own
 * first requests; a browser without service workers (or one refusing it) just needs the network each time.
 */
export function registerAppShell(): void {
  if (!('serviceWorker' in navigator)) return;
  const register = () => void navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => undefined);
  if (document.readyState === 'complete') register();
  else addEventListener('load', register, { once: true });
}
