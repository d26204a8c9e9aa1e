// Room life on screen: recording indicator, pinned message, reactions, chat and questions, push-to-talk and sound controls.
import { useEffect, useState } from 'preact/hooks';
import { REACTIONS, ROOM_LIFE_LIMITS } from '../session/room-life.ts';
import type { RoomView } from '../session/view.ts';
import type { StringKey } from '../i18n/i18n.ts';
import type { RoomActions } from '../session/actions.ts';
import { useT } from './i18n-context.ts';

const ERROR_KEY: Record<string, StringKey> = {
  EMPTY: 'chatErrorEmpty',
  TOO_LONG: 'chatErrorTooLong',
  RATE_LIMITED: 'chatErrorRate',
  NO_EPOCH: 'chatErrorNoKey',
  WAITING_FOR_KEY: 'chatErrorWaitingForKey',
  FORBIDDEN: 'chatErrorForbidden',
  NOT_A_LINK: 'chatErrorNotLink',
  MESSAGE_TOO_LARGE: 'chatErrorTooLong',
};

/** Shown to every member while the host records: announced by the host's signed notice. */
export function RecordingIndicator(props: { view: RoomView }) {
  const t = useT();
  const recording = props.view.life.recording;
  if (!recording) return null;
  return (
    <p class="warning recording" data-testid="recording-indicator" role="status" aria-live="polite">
      <span aria-hidden="true">⏺</span> {t('recordingBy', { name: recording.by ?? '…' })}
    </p>
  );
}

/** The speaker's own sound: push-to-talk (space or the button), noise suppression, and the host's recorder. */
export function SoundControls(props: { view: RoomView; actions: RoomActions; onStage: boolean }) {
  const t = useT();
  const { view, actions, onStage } = props;
  const life = view.life;
  useEffect(() => {
    if (!life.pushToTalk) return;
    const typing = (e: KeyboardEvent) => e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLButtonElement;
    const down = (e: KeyboardEvent) => {
      if (e.code === 'Space' && !e.repeat && !typing(e)) {
        e.preventDefault();
        actions.setTalking(true);
      }
    };
    const up = (e: KeyboardEvent) => {
      if (e.code === 'Space' && !typing(e)) actions.setTalking(false);
    };
    addEventListener('keydown', down);
    addEventListener('keyup', up);
    return () => {
      removeEventListener('keydown', down);
      removeEventListener('keyup', up);
    };
  }, [life.pushToTalk, actions]);
  if (!onStage) return null;
  return (
    <div class="toolbar sound">
      <label>
        <input data-testid="push-to-talk-mode" type="checkbox" checked={life.pushToTalk} onChange={(e) => actions.setPushToTalk((e.target as HTMLInputElement).checked)} />
        {t('pushToTalkMode')}
      </label>
      {life.pushToTalk && (
        <button
          data-testid="push-to-talk"
          type="button"
          aria-pressed={life.talking}
          onPointerDown={() => actions.setTalking(true)}
          onPointerUp={() => actions.setTalking(false)}
          onPointerLeave={() => life.talking && actions.setTalking(false)}
          onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && !e.repeat && actions.setTalking(true)}
          onKeyUp={(e) => (e.key === 'Enter' || e.key === ' ') && actions.setTalking(false)}
        >
          {life.talking ? t('talking') : t('holdToTalk')}
        </button>
      )}
      <label>
        <input data-testid="noise-suppression" type="checkbox" checked={life.processing} onChange={(e) => actions.setProcessing((e.target as HTMLInputElement).checked)} />
        {t('noiseSuppression')}
      </label>
      {view.myRole === 'host' && !life.recordingHere && (
        <button data-testid="record-start" type="button" onClick={() => actions.startRecording()}>
          {t('recordStart')}
        </button>
      )}
      {view.myRole === 'host' && life.recordingHere && (
        <button data-testid="record-stop" type="button" class="danger" onClick={() => actions.stopRecording()}>
          {t('recordStop')}
        </button>
      )}
      {view.recordingFile && (
        <a data-testid="recording-file" href={view.recordingFile} download="teahouse-recording.webm">
          {t('recordingDownload')}
        </a>
      )}
    </div>
  );
}

/** The room's text: the pin, reactions to send, the chat with questions, and the host's or a moderator's pin buttons. */
export function ChatPanel(props: { view: RoomView; actions: RoomActions }) {
  const t = useT();
  const { view, actions } = props;
  const life = view.life;
  const [text, setText] = useState('');
  const [question, setQuestion] = useState(false);
  const [pinLink, setPinLink] = useState('');
  const moderates = view.myRole === 'host' || view.myRole === 'moderator';
  const send = (e: Event) => {
    e.preventDefault();
    if (actions.sendChat(text, question)) {
      setText('');
      setQuestion(false);
    }
  };
  return (
    <section class="chat" aria-labelledby="chat-heading">
      <h3 id="chat-heading">{t('chatHeading')}</h3>
      {life.pinned && (
        <p class="pinned" data-testid="pinned-message" data-kind={life.pinned.kind} role="status" aria-live="polite">
          <span aria-hidden="true">📌</span>{' '}
          {life.pinned.kind === 'link' ? (
            <a href={life.pinned.text} rel="noopener noreferrer" target="_blank">
              {life.pinned.text}
            </a>
          ) : (
            life.pinned.text
          )}
          <small> — {t('pinnedBy', { name: life.pinned.by ?? '…' })}</small>
          {moderates && (
            <button data-testid="unpin-message" type="button" onClick={() => actions.pin(null)}>
              {t('unpin')}
            </button>
          )}
        </p>
      )}
      <div class="reactions" role="group" aria-label={t('reactionsLabel')}>
        {REACTIONS.map((emoji) => (
          <button data-testid="reaction-button" data-emoji={emoji} type="button" key={emoji} aria-label={t('reactWith', { emoji })} onClick={() => actions.react(emoji)}>
            {emoji}
          </button>
        ))}
      </div>
      <ol class="chat-log" aria-live="polite" aria-label={t('chatHeading')}>
        {life.messages.map((m) => (
          <li data-testid="chat-message" data-question={m.question ? 'true' : undefined} data-participant={m.participantId ?? ''} key={m.id} class={m.question ? 'question' : ''}>
            <strong class="chat-name">{m.name ?? '…'}</strong>
            {m.question && <span class="badge">{t('questionBadge')}</span>} <span class="chat-text">{m.text}</span>
            {moderates && m.question && (
              <button data-testid="pin-message" type="button" onClick={() => actions.pin({ kind: 'question', text: m.text })}>
                {t('pin')}
              </button>
            )}
          </li>
        ))}
      </ol>
      <form onSubmit={send}>
        <label class="visually-hidden" for="chat-input">
          {t('chatInputLabel')}
        </label>
        <input id="chat-input" data-testid="chat-input" value={text} maxLength={ROOM_LIFE_LIMITS.textChars * 2} placeholder={t('chatPlaceholder')} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <label>
          <input data-testid="chat-question" type="checkbox" checked={question} onChange={(e) => setQuestion((e.target as HTMLInputElement).checked)} />
          {t('askAsQuestion')}
        </label>
        <button data-testid="chat-send" type="submit">
          {t('chatSend')}
        </button>
      </form>
      {moderates && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            actions.pin({ kind: 'link', text: pinLink });
            setPinLink('');
          }}
        >
          <label class="visually-hidden" for="pin-link">
            {t('pinLinkLabel')}
          </label>
          <input id="pin-link" data-testid="pin-link-input" value={pinLink} placeholder="https://" onInput={(e) => setPinLink((e.target as HTMLInputElement).value)} />
          <button data-testid="pin-link" type="submit">
            {t('pinLink')}
          </button>
        </form>
      )}
      {life.error && (
        <p class="error" role="alert" data-testid="chat-error" data-code={life.error}>
          {t(ERROR_KEY[life.error] ?? 'chatErrorFailed')}
        </p>
      )}
    </section>
  );
}
