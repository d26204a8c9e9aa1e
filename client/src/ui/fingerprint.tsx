// The fingerprint panel: emoji with their names in the current language, digits (or "computing"), and "mark verified".
import type { FingerprintView } from '../session/view.ts';
import { useLang, useT } from './i18n-context.ts';

export function Fingerprint(props: { fingerprint: FingerprintView | null; isHost: boolean; verified: boolean; changed: boolean; noHost: boolean; onVerify: () => void }) {
  const t = useT();
  const lang = useLang();
  const fp = props.fingerprint;
  return (
    <section class="fingerprint">
      <h3>{t('fingerprintHeading')}</h3>
      {props.changed && (
        <p class="warning" role="status">
          {t('fingerprintChanged')}
        </p>
      )}
      <p class="hint">{props.isHost ? t('fingerprintHostHint') : t('fingerprintMemberHint')}</p>
      {fp ? (
        <>
          <div data-testid="fingerprint" class="fp-text" aria-label={fp.text}>
            <span class="fp-emoji">{fp.emoji.join(' ')}</span>
            <span class="fp-digits">{fp.digits}</span>
          </div>
          <ol class="fp-names">
            {fp.emoji.map((e, i) => (
              <li key={i}>
                <span aria-hidden="true">{e}</span> {fp.names[lang][i]}
              </li>
            ))}
          </ol>
        </>
      ) : props.noHost ? (
        <p data-testid="fingerprint-no-host" class="warning" role="status">
          {t('fingerprintNoHost')}
        </p>
      ) : (
        <p data-testid="fingerprint-computing" class="hint" role="status">
          {t('fingerprintComputing')}
        </p>
      )}
      <label class="verify">
        <input data-testid="fingerprint-verified" type="checkbox" checked={props.verified} disabled={props.verified || !fp} onChange={() => props.onVerify()} />
        {props.verified ? t('verified') : t('markVerified')}
      </label>
    </section>
  );
}
