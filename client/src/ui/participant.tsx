// One member's entry: name, role, speaking and mute state, and the controls the viewer's role allows.
import type { MemberView, Role } from '../session/view.ts';
import type { RoomActions } from '../session/actions.ts';
import { useT } from './i18n-context.ts';

const ROLE_KEY = { host: 'roleHost', moderator: 'roleModerator', speaker: 'roleSpeaker', listener: 'roleListener' } as const;

export function Participant(props: { member: MemberView; viewerRole: Role | null; actions: RoomActions; reactions?: { id: string; emoji: string }[]; volume?: number }) {
  const t = useT();
  const { member: m, viewerRole, actions } = props;
  const viewerModerates = viewerRole === 'host' || viewerRole === 'moderator';
  const canAct = viewerModerates && !m.isMe && m.role !== 'host';
  const onStage = m.role !== 'listener';
  return (
    <li data-testid="participant" data-participant={m.participantId} data-role={m.role} data-speaking={String(m.speaking)} class={`member ${m.speaking ? 'is-speaking' : ''}`}>
      <span class="avatar" aria-hidden="true">
        {(m.name ?? '?').slice(0, 1).toUpperCase()}
      </span>
      <span class="name">
        {m.name ?? '…'}
        {m.isMe && <small> ({t('you')})</small>}
      </span>
      <span class="role">{t(ROLE_KEY[m.role])}</span>
      {m.handRaisedSeq !== null && (
        <span class="hand" aria-label={t('raiseHand')}>
          ✋
        </span>
      )}
      {onStage && m.muted && <span class="muted">{t('muted')}</span>}
      {m.speaking && (
        <span class="speaking" role="status" aria-live="polite">
          {t('speaking')}
        </span>
      )}
      {props.reactions?.map((r) => (
        <span data-testid="reaction" data-emoji={r.emoji} key={r.id} class="reaction" role="img" aria-label={t('reactWith', { emoji: r.emoji })}>
          {r.emoji}
        </span>
      ))}
      {onStage && !m.isMe && (
        <input
          data-testid="speaker-volume"
          type="range"
          min="0"
          max="1"
          step="0.05"
          value={props.volume ?? 1}
          aria-label={t('speakerVolume', { name: m.name ?? '…' })}
          onInput={(e) => actions.setVolume(m.participantId, Number((e.target as HTMLInputElement).value))}
        />
      )}
      {canAct && (
        <span class="controls">
          {m.role === 'listener' && (
            <button data-testid="invite-to-speak" type="button" onClick={() => actions.invite(m.participantId)}>
              {t('inviteToSpeak')}
            </button>
          )}
          {onStage && (
            <button data-testid="move-to-audience" type="button" onClick={() => actions.moveToAudience(m.participantId)}>
              {t('moveToAudience')}
            </button>
          )}
          {onStage && !m.muted && (
            <button data-testid="mute-participant" type="button" onClick={() => actions.mute(m.participantId)}>
              {t('muteParticipant')}
            </button>
          )}
          {viewerRole === 'host' && (
            <button data-testid="make-moderator" type="button" onClick={() => actions.setModerator(m.participantId, m.role !== 'moderator')}>
              {m.role === 'moderator' ? t('removeModerator') : t('makeModerator')}
            </button>
          )}
          {(viewerRole === 'host' || m.role !== 'moderator') && (
            <button data-testid="kick-participant" type="button" class="danger" onClick={() => actions.kick(m.participantId)}>
              {t('kickParticipant')}
            </button>
          )}
        </span>
      )}
    </li>
  );
}
