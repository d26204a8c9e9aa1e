// Frames encrypted, decrypted and dropped per speaker (the E2EE worker's counters), and relay events dropped as malformed.
import type { RoomView } from '../session/view.ts';
import { useT } from './i18n-context.ts';

export function Stats(props: { view: RoomView }) {
  const t = useT();
  const { sent, speakers } = props.view;
  return (
    <details class="stats" data-testid="e2ee-stats">
      <summary>{t('statsHeading')}</summary>
      <table>
        <thead>
          <tr>
            <th>{t('statsSpeaker')}</th>
            <th>{t('statsEncrypted')}</th>
            <th>{t('statsDecrypted')}</th>
            <th>{t('statsDropped')}</th>
          </tr>
        </thead>
        <tbody>
          <tr data-testid="stats-self">
            <td>{t('you')}</td>
            <td>{sent.encrypted}</td>
            <td>–</td>
            <td>{sent.droppedNoKey + sent.droppedStale}</td>
          </tr>
          {speakers.map((s) => (
            <tr key={s.participantId} data-testid="stats-speaker" data-participant={s.participantId}>
              <td>{s.name ?? '…'}</td>
              <td>–</td>
              <td>{s.decrypted}</td>
              <td title={s.lastError ?? ''}>{s.dropped}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p data-testid="dropped-events" data-count={props.view.droppedEvents}>
        {t('statsDroppedEvents', { count: props.view.droppedEvents })}
      </p>
    </details>
  );
}
