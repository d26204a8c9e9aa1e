// Top level: language, the route (home or a room link), and the room session behind the room screens.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { LANGS, pickLang, translate, type Lang } from '../i18n/i18n.ts';
import { hideLinkSecret, memberHere, storedLink } from '../session/link-store.ts';
import { LockScreen, lockScreenPlan } from '../session/lock-screen.ts';
import type { RoomSession } from '../session/room-session.ts';
import { roomsSupported } from '../session/support.ts';
import type { RoomView } from '../session/view.ts';
import { registerAppShell, useManifestFor } from './app-shell.ts';
import { Home } from './home.tsx';
import { LangContext, useT } from './i18n-context.ts';
import { InsecureOrigin } from './insecure-origin.tsx';
import { Join } from './join.tsx';
import { loadedRoomModules, loadRoomModules, preloadRoomModulesWhenIdle, type RoomModules } from './room-modules.ts';

const LANG_KEY = 'teahouse.lang';
const SUPPORTED = roomsSupported();

/** Plain HTTP other than localhost: the browser withholds the microphone and the crypto, so no session starts. */
const SECURE = window.isSecureContext;

/** Opened on a room link: until the room's code and the relay's answer arrive, a join form or a status, never the home page. */
const ROOM_LINK = location.pathname.startsWith('/r/');

/**
 * A room link this tab was not yet a member of: its join form shows at once, so the name can be typed while the
 * room's code loads and the relay is asked; the button waits for the room to be found. A tab that was a member (a
 * reload) comes back as it without a form, so it is shown a status instead.
 */
const EARLY_JOIN = ROOM_LINK && !memberHere(location.pathname);

/**
 * A full link pasted into the address bar of a tab that shows the same /r/<roomId> only changes the fragment: nothing
 * would read it and it would stay in the address bar, so the page loads again and reads (and hides) it.
 */
function reloadOnNewFragment(): void {
  addEventListener('hashchange', () => location.reload());
}

function initialLang(): Lang {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh-CN' || saved === 'zh-TW') return saved;
  return pickLang(navigator.languages ?? [navigator.language]);
}

export function App() {
  const [lang, setLang] = useState<Lang>(initialLang);
  const [opened, setOpened] = useState<{ session: RoomSession; Room: RoomModules['Room'] } | null>(null);
  const session = opened?.session ?? null;
  const [view, setView] = useState<RoomView | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    document.documentElement.lang = lang;
    localStorage.setItem(LANG_KEY, lang);
    useManifestFor(lang);
  }, [lang]);

  /** Opens the room of a link opened whole, reloaded, or pasted into the home page. */
  const open = (link: string) => {
    try {
      // At once, before the session's modules arrive: the secret leaves the address bar, and a mangled link says so.
      hideLinkSecret(link);
    } catch (error) {
      return setFatal(translate(lang, 'linkInvalid', { reason: (error as Error).message }));
    }
    loadRoomModules().then(
      ({ RoomSession, Room }) => {
        const s = RoomSession.fromLink(link);
        setOpened({ session: s, Room });
        void s.peek();
      },
      (error: Error) => setFatal(translate(lang, 'errorGeneric', { reason: error.message })),
    );
  };

  useEffect(() => {
    if (SECURE) registerAppShell();
    if (!SECURE || !SUPPORTED) return;
    if (!location.pathname.startsWith('/r/')) return preloadRoomModulesWhenIdle();
    reloadOnNewFragment();
    // A link opened whole carries the secret after '#'; a reload of this tab finds it in the tab's storage instead.
    const link = location.hash ? location.href : storedLink(location.origin, location.pathname);
    if (!link) return setFatal(translate(lang, 'linkIncomplete'));
    open(link);
  }, []);

  useEffect(() => {
    if (!session) return;
    if (__TEAHOUSE_TEST_BUILD__) (window as unknown as { teahouse: unknown }).teahouse = session.diagnostics();
    return session.subscribe(setView);
  }, [session]);

  const lockScreen = useMemo(() => session && new LockScreen({ toggleMic: () => session.toggleMic(), leave: () => session.leave() }), [session]);
  useEffect(() => () => lockScreen?.close(), [lockScreen]);
  useEffect(() => lockScreen?.apply(lockScreenPlan(view, translate(lang, 'untitledRoom'))), [lockScreen, view, lang]);

  const create = (title: string, name: string) => {
    setCreating(true);
    const start = ({ RoomSession, Room }: RoomModules) => {
      const s = RoomSession.createNew(location.origin);
      hideLinkSecret(s.link);
      setOpened({ session: s, Room });
      void s.create(title, name);
    };
    // Usually loaded by now (fetched when the page went idle), so the session starts inside the click's user gesture.
    const modules = loadedRoomModules();
    if (modules) return start(modules);
    loadRoomModules().then(start, (error: Error) => {
      setCreating(false);
      setFatal(translate(lang, 'errorGeneric', { reason: error.message }));
    });
  };

  const t = useMemo(() => (key: Parameters<typeof translate>[1], vars?: Record<string, string | number>) => translate(lang, key, vars), [lang]);

  let body;
  if (!SECURE) body = <InsecureOrigin />;
  else if (!SUPPORTED) {
    body = (
      <main class="card" data-testid="unsupported-browser">
        <h2>{t('unsupportedHeading')}</h2>
        <p class="error" role="alert">
          {t('unsupportedBody')}
        </p>
        <p>{t('unsupportedBrowsers')}</p>
      </main>
    );
  } else if (fatal)
    body = (
      <main class="card">
        <p class="error" role="alert" data-testid="link-error">
          {fatal}
        </p>
        <p>
          <a href="/">{t('createHeading')}</a>
        </p>
      </main>
    );
  else if ((!opened || !view) && ROOM_LINK) body = EARLY_JOIN ? <Join title={null} ready={false} otherTab={false} onJoin={() => undefined} /> : <Busy message="checkingRoom" />;
  else if (!opened || !view)
    body = (
      <Home
        onCreate={create}
        onOpen={(link) => {
          reloadOnNewFragment();
          open(link);
        }}
        busy={creating}
      />
    );
  else {
    const phase = view.phase;
    switch (phase.kind) {
      case 'join':
        body = <Join title={phase.title} ready otherTab={phase.otherTab} onJoin={(name) => opened.session.join(name)} />;
        break;
      case 'busy':
        // The same form as before the session started, so what was typed in it stays.
        body = phase.message === 'checkingRoom' && EARLY_JOIN ? <Join title={null} ready={false} otherTab={false} onJoin={() => undefined} /> : <Busy message={phase.message} />;
        break;
      case 'lobby':
        body = (
          <main class="card">
            <h2 data-testid="room-title">{view.title || t('untitledRoom')}</h2>
            <p role="status" data-testid="lobby-waiting">
              {t('lobbyWaiting')}
            </p>
          </main>
        );
        break;
      case 'room':
        body = <opened.Room view={view} actions={opened.session} />;
        break;
      case 'ended':
        body = (
          <main class="card">
            <p role="alert" data-testid="room-ended" data-reason={phase.reason}>
              {t(phase.reason)}
            </p>
            <p>
              <a href="/">{t('createHeading')}</a>
            </p>
          </main>
        );
        break;
      case 'error':
        body = (
          <main class="card">
            <p class="error" role="alert" data-testid="room-error">
              {t('errorGeneric', { reason: phase.message })}
            </p>
          </main>
        );
        break;
    }
  }

  return (
    <LangContext.Provider value={lang}>
      <header class="top">
        <h1>
          <a href="/">🍵 {t('appName')}</a>
        </h1>
        <label class="lang">
          <span class="visually-hidden">{t('language')} </span>
          <select data-testid="language" value={lang} onChange={(e) => setLang(e.currentTarget.value as Lang)}>
            {LANGS.map((l) => (
              <option key={l.id} value={l.id}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
      </header>
      {body}
      {/* AGPL §13: every user of the page is offered the source of what this relay runs (/source on the relay). */}
      <footer class="source">
        <a href="/source" data-testid="source-link">
          {t('sourceLink')}
        </a>
      </footer>
    </LangContext.Provider>
  );
}

function Busy(props: { message: Extract<RoomView['phase'], { kind: 'busy' }>['message'] }) {
  const t = useT();
  return (
    <main class="card">
      <p role="status">{t(props.message)}</p>
    </main>
  );
}
