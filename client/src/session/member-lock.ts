// One live page per member: a Web Lock named for the member's key, held while the page is in the room.

/**
 * A reload's old document releases the lock only as it is destroyed, which on a slow or busy device can take seconds
 * after the new one asks (2.5 s was seen to be too short under load): a duplicated tab waits this long before it
 * joins as a new member, which is the price of never taking a slow reload for a duplicate.
 */
export const MEMBER_LOCK_WAIT_MS = 15_000;

export interface MemberLock {
  release(): void;
}

/**
 * Takes the lock of `memberKeyId`, waiting at most `waitMs` for another page to let it go; null when another live
 * page holds it (a duplicated tab copies sessionStorage, so both would be this member) or the browser has no Web
 * Locks: the caller then must not be this member.
 */
export async function takeMemberLock(memberKeyId: string, waitMs = MEMBER_LOCK_WAIT_MS): Promise<MemberLock | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return null;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const granted = new Promise<boolean>((resolve) => {
    // Waiting 0 ms: taken only if free now (a new identity's lock is).
    const wait = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
    locks
      .request(`teahouse-member-${memberKeyId}`, { mode: 'exclusive', ...wait }, (lock) => {
        resolve(lock !== null);
        return lock ? held : undefined;
      })
      .catch(() => resolve(false));
  });
  return (await granted) ? { release } : null;
}
