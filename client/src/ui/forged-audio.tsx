// A warning per speaker whose frames recently failed their signature: someone else's audio came as theirs, and is muted.
import type { SpeakerStats } from '../session/view.ts';
import { useT } from './i18n-context.ts';

/** The warning stays this long after the last failed batch (the speaker is muted at least about 1 s after it). */
export const FORGED_SHOWN_MS = 10_000;

export function ForgedAudio(props: { speakers: SpeakerStats[] }) {
  const t = useT();
  const now = performance.timeOrigin + performance.now();
  const forged = props.speakers.filter((s) => s.forgedAt != null && now - s.forgedAt < FORGED_SHOWN_MS);
  return (
    <>
      {forged.map((s) => (
        <p data-testid="forged-audio" data-participant={s.participantId} data-muted={String(s.sourceMuted ?? false)} key={s.participantId} class="media media-failed" role="alert">
          {t('forgedAudio', { name: s.name ?? '…' })}
        </p>
      ))}
    </>
  );
}
