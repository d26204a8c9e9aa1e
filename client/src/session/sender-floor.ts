// Which epochs this page may send under: never one another page of this member may have sent under (a reload, a second tab).

/** What became of the write-ahead watermark for an epoch: stored, or the stored member removed instead, or neither. */
export type WatermarkWrite = 'stored' | 'forgotten' | 'failed';

/**
 * An SFrame sender starts its counter at 0, so a sender installed twice for one (epoch, sender index) repeats every
 * (KID, CTR) pair under one key. The tab's stored member is the write-ahead record of the epochs this member's pages
 * may have sent under: before a page installs a sender for epoch N, the stored watermark must already be at least N
 * (or nothing is stored, so no page can come back as this member). A page that came back from the store never sends
 * under the watermark it found: an earlier page may have sent under any epoch up to it.
 */
export class SenderFloor {
  /** The highest epoch the store vouches for: a page coming back will not send at or below it. */
  private vouched = 0;
  /** The store holds no member: nothing can come back as this one, so any epoch may be sent under. */
  private nothingStored = false;

  /** The watermark found in the store at load (0 for a page that joined as a new member). */
  readonly heldBefore: number;

  constructor(heldBefore = 0) {
    this.heldBefore = heldBefore;
  }

  /** Records the outcome of writing the watermark for `epoch`, before the epoch is installed. */
  recorded(epoch: number, write: WatermarkWrite): void {
    if (write === 'stored') {
      this.vouched = Math.max(this.vouched, epoch);
      this.nothingStored = false;
    } else if (write === 'forgotten') this.nothingStored = true;
    else this.nothingStored = false;
  }

  /** May this page send under `epoch`? */
  allows(epoch: number): boolean {
    return epoch > this.heldBefore && (this.nothingStored || epoch <= this.vouched);
  }

  /** The sender index to install for an epoch: this member's own when the floor allows it, none otherwise. */
  senderIndex(epoch: number, myIndex: number | null): number | null {
    return myIndex !== null && this.allows(epoch) ? myIndex : null;
  }
}
