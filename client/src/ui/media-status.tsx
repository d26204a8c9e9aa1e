// The media line under the key status: whether audio really flows, why not when known, and a retry.
import type { MediaStatus as Status } from '../session/view.ts';
import type { StringKey } from '../i18n/i18n.ts';
import { useT } from './i18n-context.ts';

const TEXT: Record<Status['state'], StringKey> = {
  idle: 'mediaIdle',
  connecting: 'mediaConnecting',
  flowing: 'mediaFlowing',
  failed: 'mediaTransportFailed',
};

/** `names` resolves a silent speaker's participant id to its display name (or null while unknown). */
export function MediaStatus(props: { status: Status; names: (participantId: string) => string | null; onRetry: () => void }) {
  const t = useT();
  const { state, reason, silent } = props.status;
  const text = reason === 'no-frames' ? t('mediaNoFrames', { names: silent.map((id) => props.names(id) ?? '…').join(', ') }) : reason === 'transport-disconnected' ? t('mediaTransportDisconnected') : t(TEXT[state]);
  return (
    <div data-testid="media-status" data-state={state} data-reason={reason ?? ''} class={`media media-${state}`} role={state === 'failed' ? 'alert' : 'status'}>
      <span>{text}</span>
      {state === 'failed' && (
        <button data-testid="media-retry" type="button" onClick={props.onRetry}>
          {t('mediaRetry')}
        </button>
      )}
    </div>
  );
}
