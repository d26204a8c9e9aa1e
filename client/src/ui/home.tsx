// The home page: a room title and the host's name, then create; or a room link pasted in, then open.
import { useState } from 'preact/hooks';
import { parseRoomLink } from '../../../crypto/room-secret.ts';
import { useT } from './i18n-context.ts';

export function Home(props: { onCreate: (title: string, name: string) => void; onOpen: (link: string) => void; busy: boolean }) {
  const t = useT();
  const [title, setTitle] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const [linkError, setLinkError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    if (!name.trim()) return setError(t('nameRequired'));
    setError(null);
    props.onCreate(title.trim(), name.trim());
  };
  // A link opened by navigating to it is in the browser's history, secret and all, before any script can hide it
  // (docs/threat-model.md, "The link in the browser"); pasted here, it never becomes the address of a page.
  const open = (event: Event) => {
    event.preventDefault();
    const link = pasted.trim();
    let origin: string;
    try {
      origin = parseRoomLink(link).origin;
    } catch (e) {
      return setLinkError(t('linkInvalid', { reason: (e as Error).message }));
    }
    if (origin !== location.origin) return setLinkError(t('linkOtherServer', { origin }));
    setLinkError(null);
    setPasted('');
    props.onOpen(link);
  };
  return (
    <main class="card">
      <p class="tagline">{t('tagline')}</p>
      <h2>{t('createHeading')}</h2>
      <form onSubmit={submit}>
        <label>
          {t('roomTitleLabel')}
          <input data-testid="create-title" maxLength={120} value={title} placeholder={t('roomTitlePlaceholder')} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <label>
          {t('yourNameLabel')}
          <input data-testid="create-name" maxLength={60} value={name} placeholder={t('yourNamePlaceholder')} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button data-testid="create-room" type="submit" disabled={props.busy}>
          {props.busy ? t('creating') : t('createButton')}
        </button>
      </form>
      <h2>{t('openLinkHeading')}</h2>
      <form onSubmit={open} autocomplete="off">
        <label>
          {t('openLinkLabel')}
          <input data-testid="paste-link" autocomplete="off" spellcheck={false} value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} />
        </label>
        <p class="hint">{t('openLinkHint')}</p>
        {linkError && (
          <p class="error" role="alert" data-testid="paste-link-error">
            {linkError}
          </p>
        )}
        <button data-testid="open-link" type="submit">
          {t('openLinkButton')}
        </button>
      </form>
    </main>
  );
}
