// When the distributor commits the joins and leaves the relay reports: a lone join at once, the rest gathered.

export interface DueBatch<J> {
  /** Leaves in the batch: any makes the commit a fresh epoch (which takes in the joins too). */
  leaves: number;
  joins: J[];
}

/**
 * At most one commit per window, and none later than one window after the change that started it (protocol §5,
 * "Batching"). A join after a quiet window is committed at once, so a newcomer to a calm room hears it without
 * waiting; joins that follow within the window wait for it to close and go out together. Leaves always wait one
 * window: they come in bursts (the end of a talk), and each fresh epoch costs a package for every member, so a burst
 * makes one fresh epoch, not one for its first leave and another for the rest.
 */
export class KeyBatch<J> {
  private pending: DueBatch<J> | null = null;
  private lastCommitAt = Number.NEGATIVE_INFINITY;

  /** Adds a change; returns in how many ms the batch is due (0: now), or null when a commit is already scheduled. */
  add(change: { leave: true } | { join: J }, now: number, windowMs: number): number | null {
    const scheduled = this.pending !== null;
    const pending = (this.pending ??= { leaves: 0, joins: [] });
    if ('leave' in change) pending.leaves++;
    else pending.joins.push(change.join);
    if (scheduled) return null;
    if ('leave' in change) return windowMs;
    return Math.max(0, this.lastCommitAt + windowMs - now);
  }

  /** The due batch, now committed (null when a fresh epoch already took it in). */
  take(now: number): DueBatch<J> | null {
    const due = this.pending;
    this.pending = null;
    if (due) this.lastCommitAt = now;
    return due;
  }

  /** Changes wait for a commit. */
  hasPending(): boolean {
    return this.pending !== null;
  }

  /** A fresh epoch issued for another reason (a kick, a rotation) took in every pending change. */
  clear(): void {
    this.pending = null;
  }
}
