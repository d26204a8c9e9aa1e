// One live page per member: a Web Lock named for the member's key, held while the page is in the room.

/**
 * A reload's old document releases the lock as it unloads, which on a slow or busy device can take seconds after the
 * new one asks: a page nobody answers for (below) waits this long before it gives the member up.
 */
export const MEMBER_LOCK_WAIT_MS = 15_000;
/** A live page holding the lock answers a new one's question within this (a duplicated tab). */
export const MEMBER_ANSWER_MS = 1_000;

export interface MemberLock {
  release(): void;
}

const lockName = (memberKeyId: string) => `teahouse-member-${memberKeyId}`;

/**
 * Takes the lock of `memberKeyId`; null when another live page holds it (a duplicated tab copies sessionStorage, so
 * both would be this member) or the browser has no Web Locks: the caller then must not be this member. Only the lock
 * decides; the question on a BroadcastChannel only tells a live holder (it answers at once) from a reload's old
 * document (it cannot answer, and lets the lock go as it unloads), so that a slow reload is not taken for a duplicate
 * and a duplicate does not wait long.
 */
export async function takeMemberLock(memberKeyId: string, waitMs = MEMBER_LOCK_WAIT_MS): Promise<MemberLock | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return null;
  const now = await request(locks, memberKeyId, { ifAvailable: true });
  if (now || waitMs === 0) return now;
  if (await someoneAnswers(memberKeyId)) return null;
  return request(locks, memberKeyId, { signal: AbortSignal.timeout(waitMs) });
}

function request(locks: LockManager, memberKeyId: string, wait: { ifAvailable: true } | { signal: AbortSignal }): Promise<MemberLock | null> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  return new Promise<MemberLock | null>((resolve) => {
    locks
      .request(lockName(memberKeyId), { mode: 'exclusive', ...wait }, (lock) => {
        if (!lock) return resolve(null);
        const channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(lockName(memberKeyId));
        if (channel) channel.onmessage = (event) => event.data === 'who' && channel.postMessage('here');
        resolve({
          release: () => {
            channel?.close();
            release();
          },
        });
        return held;
      })
      .catch(() => resolve(null));
  });
}

/** Whether a live page holding this member's lock answers within MEMBER_ANSWER_MS. */
function someoneAnswers(memberKeyId: string): Promise<boolean> {
  if (typeof BroadcastChannel === 'undefined') return Promise.resolve(false);
  const channel = new BroadcastChannel(lockName(memberKeyId));
  return new Promise<boolean>((resolve) => {
    const done = (answered: boolean) => {
      clearTimeout(timer);
      channel.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), MEMBER_ANSWER_MS);
    channel.onmessage = (event) => event.data === 'here' && done(true);
    channel.postMessage('who');
  });
}
