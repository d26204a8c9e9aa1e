// The room on a phone's lock screen: Media Session metadata and actions (microphone for speakers, leave), and a screen wake lock while on stage.
import type { RoomView } from './view.ts';

/** What the lock screen and the screen should show and do for a view; pure, so every case is unit-tested. */
export interface LockScreenPlan {
  /** The room's title as this member decrypted it (shown by the phone only; never sent anywhere); null: none. */
  title: string | null;
  /** The lock screen's microphone button: only a member on stage has one, and it is the person's own action. */
  microphone: { active: boolean } | null;
  leave: boolean;
  /** The screen stays on while this member is on stage (a speaker glancing at the room mid-sentence). */
  wakeLock: boolean;
}

export function lockScreenPlan(view: Pick<RoomView, 'phase' | 'title' | 'myRole' | 'micOn'> | null, untitled: string): LockScreenPlan {
  if (!view || view.phase.kind !== 'room') return { title: null, microphone: null, leave: false, wakeLock: false };
  const onStage = view.myRole !== null && view.myRole !== 'listener';
  return { title: view.title || untitled, microphone: onStage ? { active: view.micOn } : null, leave: true, wakeLock: onStage };
}

interface Handlers {
  toggleMic(): void;
  leave(): void;
}

/** Applies plans to navigator.mediaSession and navigator.wakeLock, where the browser has them. */
export class LockScreen {
  private wakeLock: Promise<WakeLockSentinel | null> | null = null;
  private wanted = false;
  private readonly handlers: Handlers;

  constructor(handlers: Handlers) {
    this.handlers = handlers;
    // The browser drops a wake lock when the page is hidden: it is taken again on coming back.
    document.addEventListener('visibilitychange', this.onVisible);
  }

  apply(plan: LockScreenPlan): void {
    this.applyMediaSession(plan);
    this.wanted = plan.wakeLock;
    if (plan.wakeLock) this.acquire();
    else this.release();
  }

  close(): void {
    this.apply({ title: null, microphone: null, leave: false, wakeLock: false });
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  private readonly onVisible = () => {
    if (document.visibilityState !== 'visible' || !this.wanted) return;
    this.wakeLock = null;
    this.acquire();
  };

  private applyMediaSession(plan: LockScreenPlan): void {
    if (!('mediaSession' in navigator)) return;
    const session = navigator.mediaSession;
    session.metadata = plan.title === null ? null : new MediaMetadata({ title: plan.title, artist: 'Teahouse', artwork: [{ src: '/icon-512.png', sizes: '512x512', type: 'image/png' }] });
    const set = (action: string, handler: (() => void) | null) => {
      try {
        session.setActionHandler(action as MediaSessionAction, handler);
      } catch {
        // An action this browser does not know (the conferencing ones are recent): nothing to show for it.
      }
    };
    set('togglemicrophone', plan.microphone ? () => this.handlers.toggleMic() : null);
    set('hangup', plan.leave ? () => this.handlers.leave() : null);
    if (plan.microphone) void (session as MediaSession & { setMicrophoneActive?: (active: boolean) => Promise<void> }).setMicrophoneActive?.(plan.microphone.active)?.catch(() => undefined);
  }

  private acquire(): void {
    if (this.wakeLock || !('wakeLock' in navigator) || document.visibilityState !== 'visible') return;
    this.wakeLock = navigator.wakeLock.request('screen').catch(() => null);
  }

  private release(): void {
    const held = this.wakeLock;
    this.wakeLock = null;
    void held?.then((sentinel) => sentinel?.release()).catch(() => undefined);
  }
}
