// Whether this member missed an epoch its speakers already send under, and when to ask the distributor for it again.
//
// A commit lost on the way (a relay's glitch, a Redis restart) would leave the member holding the epoch before, its
// speakers' frames held and dropped, silent for good: nothing else would ever send it the epoch. Frames of a newer epoch
// held for a while, with no commit for it, are the sign. Asking is safe against a lying relay: only the distributor
// answers, with what it would have sent anyway, sealed to this member; and the relay can already make a distributor
// resend by forging `key.resend` itself. Pure: the clock and the jitter are passed in.

/** Frames of a newer epoch held this long with no commit for it: lost, not still on its way (a commit takes well under). */
export const MISSED_AFTER_MS = 3_000;
/** Frames held within this long are still coming; longer without any (a speaker muted, gone) ends the episode. */
const STILL_COMING_MS = 1_000;
/**
 * The waits before each ask after the first (the last repeats), each stretched by up to a half at random, so that the
 * listeners of a room who all missed one commit do not all ask in one moment.
 */
export const ASK_AGAIN_MS = [5_000, 15_000, 30_000] as const;

export class MissedEpoch {
  private heldSoFar = 0;
  private heldAt: number | null = null;
  private since: number | null = null;
  private nextAskAt: number | null = null;
  private asks = 0;

  /**
   * One reading of the receive counters: `held`, frames held so far for epochs not yet installed (all speakers, as the
   * E2EE Worker counts them); `ahead`, the newest epoch one came under; `mine`, this member's epoch (null: none yet).
   * `jitter` in [0, 1). True: ask the distributor now.
   */
  observe(held: number, ahead: number | null, mine: number | null, now: number, jitter: number): boolean {
    if (held > this.heldSoFar) this.heldAt = now;
    this.heldSoFar = held;
    const missing = ahead !== null && (mine === null || ahead > mine) && this.heldAt !== null && now - this.heldAt <= STILL_COMING_MS;
    if (!missing) {
      this.since = null;
      this.nextAskAt = null;
      this.asks = 0;
      return false;
    }
    this.since ??= now;
    this.nextAskAt ??= this.since + MISSED_AFTER_MS;
    if (now < this.nextAskAt) return false;
    const wait = ASK_AGAIN_MS[Math.min(this.asks, ASK_AGAIN_MS.length - 1)]!;
    this.nextAskAt = now + wait * (1 + jitter / 2);
    this.asks++;
    return true;
  }
}
