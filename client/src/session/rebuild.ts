// Rebuilding a room on a restarted relay: who re-creates it and when, and how often the others retry their join.

export const REBUILD = {
  /** Retries of room.join start here and double up to the cap, so a crowd does not hammer a relay that just woke. */
  firstRetryMs: 500,
  maxRetryMs: 3_000,
  /** The k-th member in hand-over order may re-create the room once it has waited k steps for those before it. */
  takeoverStepMs: 5_000,
  /** Past this, nobody who can hold the keys came back: the member stops and says so. */
  giveUpMs: 60_000,
  /**
   * How far past its own epoch the re-creator numbers its first commit: a moderator taking over may have missed
   * commits the others hold, and they accept only a higher epoch.
   */
  epochLeap: 1_000,
} as const;

export interface RebuildPlan {
  /** How long after the rebuild starts this member may re-create the room; null: it never does (a listener). */
  createAfterMs: number | null;
}

/**
 * Decided from the last signed stage, which every member holds (`order`: memberKeyIds in hand-over order, the current
 * distributor first): it re-creates at once, the next after one step, and so on. Listeners only rejoin.
 */
export function planRebuild(order: readonly string[], me: string): RebuildPlan {
  const rank = order.indexOf(me);
  return { createAfterMs: rank < 0 ? null : rank * REBUILD.takeoverStepMs };
}

export type RebuildStep = { kind: 'create' } | { kind: 'join' } | { kind: 'give-up' };

/** What to try now, `elapsedMs` after the rebuild started; `roomExists` once a create found the room already there. */
export function rebuildStep(plan: RebuildPlan, elapsedMs: number, roomExists: boolean): RebuildStep {
  if (elapsedMs >= REBUILD.giveUpMs) return { kind: 'give-up' };
  if (!roomExists && plan.createAfterMs !== null && elapsedMs >= plan.createAfterMs) return { kind: 'create' };
  return { kind: 'join' };
}

/** The wait after the `attempt`-th failed try (0-based): 0.5 s, 1 s, 2 s, then 3 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(REBUILD.maxRetryMs, REBUILD.firstRetryMs * 2 ** Math.min(attempt, 16));
}
