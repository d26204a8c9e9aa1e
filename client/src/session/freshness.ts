// Whether a sender may keep encrypting: proof, fresh from the distributor, that its epoch has not been replaced.
import type { Confirmation } from '../../../crypto/index.ts';
import { equalBytes } from '../../../crypto/index.ts';

export const FRESHNESS = {
  /** A sender challenges the distributor this often. */
  challengeEveryMs: 2_000,
  /**
   * A confirmation answers a challenge sent at time t: it proves the distributor had not replaced the sender's epoch at
   * t. The sender stops this long after t unless a newer one arrives, so it never encrypts under an epoch the
   * distributor replaced (a kick, a leave) for more than this long, whatever the relay withholds or delays.
   */
  validForMs: 6_000,
  /** Challenges kept outstanding; older answers are ignored. */
  outstanding: 8,
} as const;

export type FreshnessState = 'confirmed' | 'unconfirmed' | 'stale';

/** Pure: the caller supplies the clock, the nonces it sent and the confirmations it verified. */
export class EpochFreshness {
  private readonly sent = new Map<string, number>();
  private confirmedAt = -Infinity;
  /** The highest epoch any verified confirmation named: an epoch below it is replaced, whatever else holds. */
  private newestNamed = 0;
  private forked = false;
  private epoch = 0;
  private hash: Uint8Array | null = null;

  /** A new epoch adopted: earlier confirmations still bound it (they named no newer epoch), so nothing resets. */
  setEpoch(epoch: number, hash: Uint8Array): void {
    if (epoch !== this.epoch) this.forked = false;
    this.epoch = epoch;
    this.hash = hash;
  }

  challenge(nonce: string, now: number): void {
    this.sent.set(nonce, now);
    while (this.sent.size > FRESHNESS.outstanding) this.sent.delete(this.sent.keys().next().value!);
  }

  /**
   * Whether a challenge sent recently enough to make this member fresh is still unanswered: a member that challenges
   * only when it wants to send (a listener's chat) sends no other meanwhile, so each has at most one outstanding.
   */
  outstanding(now: number): boolean {
    for (const sentAt of this.sent.values()) if (now - sentAt <= FRESHNESS.validForMs) return true;
    return false;
  }

  /** Takes a confirmation whose signature the caller verified as the current distributor's. */
  confirm(confirmation: Confirmation): void {
    const sentAt = this.sent.get(confirmation.nonce);
    if (sentAt === undefined) return;
    this.sent.delete(confirmation.nonce);
    this.newestNamed = Math.max(this.newestNamed, confirmation.epoch);
    if (confirmation.epoch === this.epoch && this.hash && !equalBytes(confirmation.commitHash, this.hash)) this.forked = true;
    // An answer naming an older epoch than ours still proves the distributor had not moved past ours at sentAt.
    if (confirmation.epoch <= this.epoch) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
  }

  state(now: number): FreshnessState {
    if (this.forked || this.epoch < this.newestNamed) return 'stale';
    return now - this.confirmedAt <= FRESHNESS.validForMs ? 'confirmed' : 'unconfirmed';
  }
}
