// Room messages waiting for proof that this member's epoch is current: a few, for a few seconds, then sealed or dropped.

export const OUTBOX = {
  /** Messages held at once: one more is refused at once, so a relay that withholds confirmations holds little. */
  held: 4,
  /** How long one waits for the distributor's confirmation before it is dropped and the page says why. */
  holdMs: 4_000,
} as const;

/** Pure: the caller supplies the clock, and seals what it releases only while its epoch is confirmed. */
export class Outbox<T> {
  private items: { item: T; until: number }[] = [];

  /** False when full: the caller refuses the message instead. */
  hold(item: T, now: number): boolean {
    if (this.items.length >= OUTBOX.held) return false;
    this.items.push({ item, until: now + OUTBOX.holdMs });
    return true;
  }

  /** Everything held, oldest first, for sealing now. */
  release(): T[] {
    return this.items.splice(0).map((e) => e.item);
  }

  /** What waited past its time, dropped unsent. */
  expire(now: number): T[] {
    const late = this.items.filter((e) => e.until <= now);
    this.items = this.items.filter((e) => e.until > now);
    return late.map((e) => e.item);
  }

  get size(): number {
    return this.items.length;
  }
}
