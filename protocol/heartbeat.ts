// The signaling connection's heartbeat, shared by the relay (socket.io's ping settings) and the page (its watchdog).

/** The relay pings every member's connection this often. */
export const PING_INTERVAL_MS = 5_000;
/**
 * The relay drops a connection whose pong is this late. Longer than the interval because a relay whose event loop
 * stalls past it (a big room's commit, a long GC) drops every connection it was waiting on; half the 30 s grace.
 */
export const PING_TIMEOUT_MS = 10_000;
/**
 * The page drops a connection that brought no ping for this long, sooner than socket.io would on its own (interval
 * plus timeout, 15 s): a phone that changed networks is back a few seconds after the new one comes.
 */
export const PAGE_QUIET_MS = PING_INTERVAL_MS + 3_000;
