// The home page: a room title and the host's name, then create.
import { useState } from 'preact/hooks';
import { useT } from './i18n-context.ts';

export function Home(props: { onCreate: (title: string, name: string) => void; busy: boolean }) {
  const t = useT();
  const [title, setTitle] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    if (!name.trim()) return setError(t('nameRequired'));
    setError(null);
    props.onCreate(title.trim(), name.trim());
  };
  return (
    <main class="card">
      <p class="tagline">{t('tagline')}</p>
      <h2>{t('createHeading')}</h2>
      <form onSubmit={submit}>
        <label>
          {t('roomTitleLabel')}
          <input data-testid="create-title" maxLength={120} value={title} placeholder={t('roomTitlePlaceholder')}
            onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <label>
          {t('yourNameLabel')}
          <input data-testid="create-name" maxLength={60} value={name} placeholder={t('yourNamePlaceholder')}
            onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button data-testid="create-room" type="submit" disabled={props.busy}>
          {props.busy ? t('creating') : t('createButton')}
        </button>
      </form>
    </main>
  );
}
