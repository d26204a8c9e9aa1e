// The audience: its count, and a scrollable list that renders only the rows loaded so far, a page at a time.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { MemberView, RoomView } from '../session/view.ts';
import type { RoomActions } from '../session/actions.ts';
import { useT } from './i18n-context.ts';
import { Participant } from './participant.tsx';

/** Rows per page: what one scroll to the bottom adds. */
export const AUDIENCE_PAGE = 50;

interface Fetched {
  rows: MemberView[];
  next: number | null;
  loading: boolean;
  failed: boolean;
}

const EMPTY: Fetched = { rows: [], next: null, loading: false, failed: false };

/**
 * A member on stage was told of every listener (`view.audienceKnown`): its list is its own live view, open from the
 * start. A listener was told of none: it asks the relay for pages when it opens the list, and shows what came back.
 */
export function Audience(props: { view: RoomView; actions: RoomActions; reactionsOf: (participantId: string) => { id: string; emoji: string }[] }) {
  const t = useT();
  const { view, actions } = props;
  const local = view.audienceKnown;
  const [openChoice, setOpen] = useState<boolean | null>(null);
  const open = openChoice ?? local;
  const [shown, setShown] = useState(AUDIENCE_PAGE);
  const [fetched, setFetched] = useState<Fetched>(EMPTY);
  // Answers to a list since closed or replaced are dropped.
  const generation = useRef(0);

  const fetchPage = (after: number | null, base: Fetched) => {
    const mine = generation.current;
    setFetched({ ...base, loading: true, failed: false });
    actions.audiencePage(after, AUDIENCE_PAGE).then(
      (page) => {
        if (mine !== generation.current) return;
        const seen = new Set(base.rows.map((r) => r.participantId));
        setFetched({ rows: [...base.rows, ...page.members.filter((m) => !seen.has(m.participantId))], next: page.next, loading: false, failed: false });
      },
      () => {
        if (mine === generation.current) setFetched({ ...base, loading: false, failed: true });
      },
    );
  };

  useEffect(() => {
    generation.current++;
    setShown(AUDIENCE_PAGE);
    if (open && !local) fetchPage(null, EMPTY);
    else setFetched(EMPTY);
  }, [open, local]);

  const me = view.members.find((m) => m.isMe && m.role === 'listener');
  const everyone = local ? view.members.filter((m) => m.role === 'listener' && !m.isMe) : fetched.rows.filter((m) => !m.isMe);
  const rows = local ? everyone.slice(0, shown) : everyone;
  const more = local ? everyone.length > shown : fetched.next !== null;

  const loadMore = () => {
    if (local) setShown((n) => n + AUDIENCE_PAGE);
    else if (!fetched.loading && fetched.next !== null) fetchPage(fetched.next, fetched);
  };
  const onScroll = (e: Event) => {
    const el = e.currentTarget as HTMLElement;
    if (more && el.scrollTop + el.clientHeight >= el.scrollHeight - 80) loadMore();
  };

  return (
    <section class="audience" data-testid="audience">
      <h3>
        {t('audience')}{' '}
        <span class="count" data-testid="audience-count" data-count={view.audienceCount}>
          {t('audienceCount', { count: view.audienceCount })}
        </span>
      </h3>
      {me && (
        <ul class="members">
          <Participant member={me} viewerRole={view.myRole} actions={actions} reactions={props.reactionsOf(me.participantId)} />
        </ul>
      )}
      <button data-testid="audience-toggle" type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? t('audienceHide') : t('audienceShow')}
      </button>
      {open && (
        <ul class="members audience-list" data-testid="audience-list" data-rows={rows.length} onScroll={onScroll}>
          {rows.map((m) => (
            <Participant key={m.participantId} member={m} viewerRole={view.myRole} actions={actions} reactions={props.reactionsOf(m.participantId)} />
          ))}
          {fetched.loading && <li class="hint">{t('audienceLoading')}</li>}
          {fetched.failed && <li class="error">{t('audienceFailed')}</li>}
          {!fetched.loading && rows.length === 0 && <li class="hint">{t('audienceEmpty')}</li>}
          {more && (
            <li>
              <button data-testid="audience-more" type="button" disabled={fetched.loading} onClick={loadMore}>
                {t('audienceMore')}
              </button>
            </li>
          )}
        </ul>
      )}
    </section>
  );
}
