// Shown instead of the app on an insecure origin (plain HTTP, not localhost): why nothing works there, and the fix.
import { useT } from './i18n-context.ts';

/**
 * The browser withholds getUserMedia, crypto.subtle and encoded transforms here, so the app never starts: no
 * connection to the relay, no room, no audio. The https:// twin keeps the link's fragment; it stays in this tab.
 */
export function InsecureOrigin() {
  const t = useT();
  const secure = `https://${location.host}${location.pathname}${location.hash}`;
  return (
    <main class="card" data-testid="insecure-origin">
      <h2>{t('insecureHeading')}</h2>
      <p role="alert">{t('insecureExplain', { origin: location.origin })}</p>
      <p>{t('insecureGuest')}</p>
      <p>{t('insecureHost')}</p>
      <p>
        <a data-testid="insecure-try-https" href={secure}>
          {t('insecureTryHttps', { address: `https://${location.host}` })}
        </a>
      </p>
    </main>
  );
}
