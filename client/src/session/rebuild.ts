// Rebuilding a room on a restarted relay: who re-creates it and when, how often the others retry, and what of the stage comes back.
import type { RosterEntry } from '../../../crypto/index.ts';

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

export type RestoredRole = 'moderator' | 'speaker';

/**
 * What the re-creator puts back, from the last signed stage it holds (`held`): every moderator and speaker their seat,
 * and the old host, when someone else re-created the room, a moderator's (the room has one host, its re-creator).
 * Listeners are not listed: nothing of theirs needs a decision (a raised hand is their own to raise again).
 */
export function rolesToRestore(held: readonly RosterEntry[], recreator: string): Map<string, RestoredRole> {
  const roles = new Map<string, RestoredRole>();
  for (const m of held) {
    if (m.memberKeyId === recreator || m.role === 'listener') continue;
    roles.set(m.memberKeyId, m.role === 'speaker' ? 'speaker' : 'moderator');
  }
  return roles;
}

/** An invitation to speak as its decision says: who signed it, and the epoch the signer held. */
export interface Invitation {
  inviter: string;
  epoch: number;
}

/**
 * Whether a member takes an invitation to speak as its old seat given back, without asking the person again: only
 * if it was a speaker on the stage it held, the inviter is the host of the stage it holds now and had a seat on the
 * held stage (only those may re-create the room), and the invitation was made once this member was back (`backAt`:
 * the first epoch it took after coming back, null before it took one), so one the relay held back from before is
 * not. Anything else is an ordinary invitation the person answers.
 */
export function acceptsRestoredInvite(held: readonly RosterEntry[], me: string, invitation: Invitation, now: readonly RosterEntry[], backAt: number | null): boolean {
  const heldRole = (id: string) => held.find((m) => m.memberKeyId === id)?.role ?? 'listener';
  const { inviter, epoch } = invitation;
  return backAt !== null && epoch >= backAt && heldRole(me) === 'speaker' && heldRole(inviter) !== 'listener' && now.some((m) => m.memberKeyId === inviter && m.role === 'host');
}

/** A raised hand is the listener's own request: it raises it again if it was up and the member was in the audience. */
export function raisesHandAgain(held: readonly RosterEntry[], me: string, handWasRaised: boolean): boolean {
  return handWasRaised && !held.some((m) => m.memberKeyId === me && m.role !== 'listener');
}
