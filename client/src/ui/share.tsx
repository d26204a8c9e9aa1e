// The share link with a copy button and a QR code, all generated locally.
import { useEffect, useState } from 'preact/hooks';
import QRCode from 'qrcode';
import { useT } from './i18n-context.ts';

/** How long after the room shows its link's QR code is drawn (see the effect below). */
const QR_AFTER_MS = 1_000;

export function Share(props: { link: string }) {
  const t = useT();
  const [qr, setQr] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    let live = true;
    // A second after the room shows, when the page is idle: drawing the code takes 30-50 ms of the main thread in one
    // task, and in the first second the member's media, keys and first sound are still coming up (an idle moment
    // then is only a wait for the network, which that task would hold up).
    const draw = () =>
      QRCode.toDataURL(props.link, { margin: 1, width: 176, errorCorrectionLevel: 'M' })
        .then((url) => live && setQr(url))
        .catch(() => live && setQr(null));
    let idle: number | null = null;
    const later = setTimeout(() => {
      if (typeof requestIdleCallback === 'function') idle = requestIdleCallback(() => void draw(), { timeout: 2_000 });
      else void draw();
    }, QR_AFTER_MS);
    return () => {
      live = false;
      clearTimeout(later);
      if (idle !== null) cancelIdleCallback(idle);
    };
  }, [props.link]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.link);
    } catch {
      const range = document.createRange();
      const node = document.querySelector('[data-testid="room-link"]');
      if (node) {
        range.selectNodeContents(node);
        getSelection()?.removeAllRanges();
        getSelection()?.addRange(range);
      }
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <section class="share">
      <h3>{t('shareLink')}</h3>
      <p class="hint">{t('shareHint')}</p>
      <div class="link-row">
        <code data-testid="room-link" class="link">
          {props.link}
        </code>
        <button data-testid="copy-link" type="button" onClick={copy}>
          {copied ? t('copied') : t('copyLink')}
        </button>
      </div>
      {qr && <img class="qr" src={qr} alt={t('qrAlt')} width={176} height={176} />}
    </section>
  );
}
