// The room screen: status, share link, fingerprint, stage and audience, the viewer's own controls.
import type { RoomView } from '../session/view.ts';
import type { RoomActions } from '../session/actions.ts';
import { Audience } from './audience.tsx';
import { Fingerprint } from './fingerprint.tsx';
import { useT } from './i18n-context.ts';
import { MediaStatus } from './media-status.tsx';
import { ForgedAudio } from './forged-audio.tsx';
import { Participant } from './participant.tsx';
import { ChatPanel, RecordingIndicator, SoundControls } from './room-life.tsx';
import { Share } from './share.tsx';
import { Stats } from './stats.tsx';

export function Room(props: { view: RoomView; actions: RoomActions }) {
  const t = useT();
  const { view, actions } = props;
  const role = view.myRole;
  const moderates = role === 'host' || role === 'moderator';
  const onStage = role !== null && role !== 'listener';
  const stage = view.members.filter((m) => m.role !== 'listener');
  const hands = view.members.filter((m) => m.role === 'listener' && m.handRaisedSeq !== null).sort((a, b) => a.handRaisedSeq! - b.handRaisedSeq!);
  const reactionsOf = (participantId: string) => view.life.reactions.filter((r) => r.participantId === participantId);
  const e2eeText = view.e2ee.state === 'encrypted' ? t('e2eeEncrypted', { epoch: view.e2ee.epoch ?? 0 }) : view.e2ee.state === 'error' ? t('e2eeError', { reason: view.e2ee.reason ?? '' }) : t('e2eeWaiting');
  return (
    <main class="room">
      <header class="room-head">
        <h2 data-testid="room-title">{view.title || t('untitledRoom')}</h2>
        <p data-testid="e2ee-status" data-state={view.e2ee.state} data-media={view.media.state} data-epoch={view.e2ee.epoch ?? ''} class={`e2ee e2ee-${view.e2ee.state}`} role="status">
          <span aria-hidden="true">{view.e2ee.state === 'encrypted' ? '🔒' : view.e2ee.state === 'error' ? '⚠️' : '⏳'}</span> {e2eeText}
        </p>
        <MediaStatus status={view.media} names={(id) => view.members.find((m) => m.participantId === id)?.name ?? null} onRetry={() => actions.retryMedia()} />
        <ForgedAudio speakers={view.speakers} />
        {view.reconnecting && (
          <p class="warning" data-testid="reconnecting" role="status">
            {t('reconnecting')}
          </p>
        )}
        <RecordingIndicator view={view} />
      </header>

      {view.invitedBy !== null && (
        <div class="invite" role="alertdialog">
          <p>{t('invitedToSpeak', { name: view.invitedBy })}</p>
          <button data-testid="accept-invite" type="button" onClick={() => actions.respondInvite(true)}>
            {t('acceptInvite')}
          </button>
          <button data-testid="decline-invite" type="button" onClick={() => actions.respondInvite(false)}>
            {t('declineInvite')}
          </button>
        </div>
      )}

      <div class="toolbar">
        {onStage && (
          <button data-testid="mic-toggle" type="button" aria-pressed={view.micOn} onClick={() => actions.toggleMic()}>
            {view.micOn ? t('micOn') : t('micOff')}
          </button>
        )}
        {onStage && role !== 'host' && (
          <button data-testid="leave-stage" type="button" onClick={() => actions.leaveStage()}>
            {t('leaveStage')}
          </button>
        )}
        {role === 'listener' && (
          <button data-testid="raise-hand" type="button" aria-pressed={view.handRaised} onClick={() => (view.handRaised ? actions.lowerHand() : actions.raiseHand())}>
            {view.handRaised ? t('lowerHand') : t('raiseHand')}
          </button>
        )}
        {moderates && (
          <button data-testid="lock-room" type="button" aria-pressed={view.locked} onClick={() => actions.lock(!view.locked)}>
            {view.locked ? t('unlockRoom') : t('lockRoom')}
          </button>
        )}
        {role === 'host' && (
          <button data-testid="rotate-link" type="button" onClick={() => confirm(t('rotateConfirm')) && actions.rotateLink()}>
            {t('rotateLink')}
          </button>
        )}
        {role === 'host' && (
          <button data-testid="end-room" type="button" class="danger" onClick={() => confirm(t('endConfirm')) && actions.endRoom()}>
            {t('endRoom')}
          </button>
        )}
        <button data-testid="leave-room" type="button" onClick={() => actions.leave()}>
          {t('leave')}
        </button>
      </div>
      <SoundControls view={view} actions={actions} onStage={onStage} />
      {view.micError && (
        <p class="error" role="alert">
          {t('micDenied')}
        </p>
      )}
      {view.networkBlocked && (
        <p class="error" role="alert" data-testid="network-blocked">
          {t('networkBlocked')}
        </p>
      )}
      {view.notice && (
        <p class="error" role="alert" data-testid="room-notice">
          {t('errorGeneric', { reason: view.notice })}
        </p>
      )}

      <div class="columns">
        <section class="people">
          <h3>{t('stage')}</h3>
          <ul class="members">
            {stage.map((m) => (
              <Participant key={m.participantId} member={m} viewerRole={role} actions={actions} reactions={reactionsOf(m.participantId)} volume={view.life.volumes[m.participantId]} />
            ))}
          </ul>
          {/* Listeners are not shown other listeners' rows: their reactions float here instead. */}
          <p class="audience-reactions" data-testid="audience-reactions">
            {view.life.reactions
              .filter((r) => !view.members.some((m) => m.participantId === r.participantId))
              .map((r) => (
                <span data-testid="reaction" data-emoji={r.emoji} data-participant={r.participantId} key={r.id} class="reaction" role="img" aria-label={t('reactWith', { emoji: r.emoji })}>
                  {r.emoji}
                </span>
              ))}
          </p>
          <Audience view={view} actions={actions} reactionsOf={reactionsOf} />
          {moderates && (
            <section data-testid="hand-queue" class="hands">
              <h3>{t('handQueue')}</h3>
              {hands.length === 0 ? (
                <p class="hint">{t('noHands')}</p>
              ) : (
                <ol>
                  {hands.map((m) => (
                    <li key={m.participantId} data-participant={m.participantId}>
                      {m.name ?? '…'}
                    </li>
                  ))}
                </ol>
              )}
            </section>
          )}
          {moderates && view.lobby.length > 0 && (
            <section class="lobby">
              <h3>{t('lobby')}</h3>
              <ul>
                {view.lobby.map((entry) => (
                  <li data-testid="lobby-entry" data-participant={entry.participantId} key={entry.participantId}>
                    {entry.name ?? '…'}
                    <button data-testid="lobby-admit" type="button" onClick={() => actions.admit(entry.participantId)}>
                      {t('lobbyAdmit')}
                    </button>
                    <button data-testid="lobby-decline" type="button" onClick={() => actions.decline(entry.participantId)}>
                      {t('lobbyDecline')}
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          )}
        </section>
        <ChatPanel view={view} actions={actions} />
        <aside class="side">
          <Share link={view.link} />
          <Fingerprint fingerprint={view.fingerprint} isHost={role === 'host'} verified={view.fingerprintVerified} changed={view.fingerprintChanged} noHost={view.fingerprintNoHost} onVerify={() => actions.markVerified()} />
          {view.epochCode && (
            <section class="epoch-code">
              <h3>{t('epochCodeHeading')}</h3>
              <p class="hint">{t('epochCodeHint')}</p>
              <p data-testid="epoch-code" class="fp-digits" data-epoch={view.e2ee.epoch ?? ''}>
                {view.epochCode}
              </p>
              {view.distributorChanged && (
                <p class="warning" role="status" data-testid="distributor-changed">
                  {view.distributorChanged.me ? t('distributorChangedToMe') : t('distributorChanged', { name: view.distributorChanged.name ?? '…' })}
                </p>
              )}
            </section>
          )}
          {view.lineageCode && (
            <section class="lineage-code">
              <h3>{t('lineageCodeHeading')}</h3>
              <p class="hint">{t('lineageCodeHint')}</p>
              {view.compareLineage && (
                <p data-testid="compare-lineage" class="warning" role="status">
                  {t('compareLineage')}{' '}
                  <button data-testid="compare-lineage-dismiss" type="button" onClick={() => actions.dismissCompareLineage()}>
                    {t('compareLineageDismiss')}
                  </button>
                </p>
              )}
              <p data-testid="lineage-code" class="fp-digits">
                {view.lineageCode}
              </p>
            </section>
          )}
          <Stats view={view} />
        </aside>
      </div>
    </main>
  );
}
