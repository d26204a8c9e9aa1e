// Named moments of opening a link and joining a room, as User Timing marks the join benchmark reads back.

/**
 * In order of a typical join. The marks hold times only (no ids, names or keys), so they stay in production builds:
 * anyone can read them in the browser's own performance panel, and they cost a few microseconds each. room-code: the
 * room's code (session and screens) arrived and ran, and the session starts.
 */
export type JoinStep =
  | 'room-code'
  | 'crypto-ready'
  | 'worker-ready'
  | 'socket-connected'
  | 'peek-answered'
  | 'join-click'
  | 'join-answered'
  | 'device-loaded'
  | 'recv-transport-created'
  | 'consumer-created'
  | 'recv-connected'
  | 'epoch-key'
  | 'first-decrypt';

export const JOIN_MARK_PREFIX = 'teahouse:';

/** The first time of each step only: a reconnect or a second consumer is not the join. `at`: page time, if past. */
export function markJoin(step: JoinStep, at?: number): void {
  const name = JOIN_MARK_PREFIX + step;
  if (typeof performance === 'undefined' || performance.getEntriesByName(name, 'mark').length > 0) return;
  performance.mark(name, at === undefined ? undefined : { startTime: at });
}
