// One live page per member: a Web Lock named for the member's key, held while the page is in the room.

/**
 * A reload's old document releases the lock only as it is destroyed, which on a slow or busy device can take seconds
 * after the new one asks (2.5 s was seen to be too short under load): without an answer from a live holder (below),
 * a page waits this long before it joins as a new member, which is the price of never taking a slow reload for a
 * duplicate.
 */
export const MEMBER_LOCK_WAIT_MS = 15_000;

/**
 * Where a page holding a member's lock answers "alive" to a page asking for it. A duplicated tab's original answers
 * at once, so the copy learns without waiting out the lock that it must be a new member; a reload's old document,
 * whose scripts no longer run, never answers, so a reload still waits for its lock. Same-origin pages only: a page
 * that answered falsely could only make another join as a new member, never as this one.
 */
const CHANNEL = 'teahouse-member-locks';
const ASK_AGAIN_MS = 1_000;

export interface MemberLock {
  release(): void;
}

interface Ask {
  ask: string;
  nonce: string;
}

interface Alive {
  alive: string;
  nonce: string;
}

/**
 * What asking for a member's lock gave: the lock, or none when another live page holds it (a duplicated tab copies
 * sessionStorage, so both would be this member) or the browser has no Web Locks, and the caller then must not be this
 * member. `elsewhere`: a page holding it answered, so the member is surely live in another tab.
 */
export type LockResult = { lock: MemberLock; elsewhere: false } | { lock: null; elsewhere: boolean };

/** Takes the lock of `memberKeyId`, waiting at most `waitMs` for another page to let it go, or until its holder answers. */
export async function takeMemberLock(memberKeyId: string, waitMs = MEMBER_LOCK_WAIT_MS): Promise<LockResult> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return { lock: null, elsewhere: false };
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  // Stops waiting at the bound, or as soon as a live holder answers.
  const stop = new AbortController();
  const timer = waitMs > 0 ? setTimeout(() => stop.abort(), waitMs) : undefined;
  const granted = new Promise<boolean>((resolve) => {
    // Waiting 0 ms: taken only if free now (a new identity's lock is).
    const wait = waitMs > 0 ? { signal: stop.signal } : { ifAvailable: true };
    locks
      .request(`teahouse-member-${memberKeyId}`, { mode: 'exclusive', ...wait }, (lock) => {
        resolve(lock !== null);
        return lock ? held : undefined;
      })
      .catch(() => resolve(false));
  });
  let elsewhere = false;
  const asking =
    waitMs > 0
      ? askWhetherHeld(memberKeyId, () => {
          elsewhere = true;
          stop.abort();
        })
      : null;
  const ok = await granted;
  clearTimeout(timer);
  asking?.close();
  if (!ok) return { lock: null, elsewhere };
  const answering = answerWhileHeld(memberKeyId);
  const lock = {
    release: () => {
      answering?.close();
      release();
    },
  };
  return { lock, elsewhere: false };
}

/** Asks the pages of this origin whether one holds the lock, again each second; `onAlive` when one answers. */
function askWhetherHeld(memberKeyId: string, onAlive: () => void): { close(): void } | null {
  if (typeof BroadcastChannel === 'undefined') return null;
  const channel = new BroadcastChannel(CHANNEL);
  const nonce = crypto.randomUUID();
  channel.onmessage = (event: MessageEvent<Partial<Alive>>) => {
    if (event.data?.alive === memberKeyId && event.data.nonce === nonce) onAlive();
  };
  const ask = () => channel.postMessage({ ask: memberKeyId, nonce } satisfies Ask);
  ask();
  // A holder that had only just taken the lock, or was frozen in the background, may answer a later ask.
  const again = setInterval(ask, ASK_AGAIN_MS);
  return {
    close: () => {
      clearInterval(again);
      channel.close();
    },
  };
}

/** While this page holds the lock, it answers those asking for it. */
function answerWhileHeld(memberKeyId: string): BroadcastChannel | null {
  if (typeof BroadcastChannel === 'undefined') return null;
  const channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (event: MessageEvent<Partial<Ask>>) => {
    if (event.data?.ask === memberKeyId && typeof event.data.nonce === 'string') channel.postMessage({ alive: memberKeyId, nonce: event.data.nonce } satisfies Alive);
  };
  return channel;
}
