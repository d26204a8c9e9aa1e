// The join screen a link opens: the decrypted room title, a name, join as listener; shown before the room is found, waiting.
import { useState } from 'preact/hooks';
import { useT } from './i18n-context.ts';

/** `ready`: the room was found; before, the name can be typed, and the button waits. */
export function Join(props: { title: string | null; ready: boolean; otherTab: boolean; onJoin: (name: string) => void }) {
  const t = useT();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    if (!props.ready) return;
    if (!name.trim()) return setError(t('nameRequired'));
    props.onJoin(name.trim());
  };
  return (
    <main class="card">
      <h2 data-testid="room-title">{props.ready ? props.title || t('untitledRoom') : '…'}</h2>
      <h3>{t('joinHeading')}</h3>
      {props.otherTab && (
        <p data-testid="other-tab" class="hint" role="status">
          {t('otherTab')}
        </p>
      )}
      <form onSubmit={submit}>
        <label>
          {t('yourNameLabel')}
          <input data-testid="join-name" maxLength={60} value={name} placeholder={t('yourNamePlaceholder')} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {!props.ready && (
          <p class="hint" role="status" data-testid="join-waiting">
            {t('checkingRoom')}
          </p>
        )}
        <button data-testid="join-room" type="submit" disabled={!props.ready}>
          {t('joinButton')}
        </button>
      </form>
    </main>
  );
}
