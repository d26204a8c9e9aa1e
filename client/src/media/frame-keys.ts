// Per-frame SFrame state of one member: the sending context of the current epoch and receive keys by KID.
import {
  decodeHeader,
  deriveSenderBaseKey,
  makeKid,
  parseKid,
  ratchetEpochSecret,
  SframeError,
  SframeReceiver,
  SframeSender,
  SframeUnknownKidError,
  DEFAULT_CIPHER_SUITE,
} from '../../../crypto/index.ts';

/** Senders switch to a new epoch this long after it arrives, so receivers hold its keys before its frames. */
export const SEND_SWITCH_DELAY_MS = 500;
/** Receivers keep the epoch before the current one this long for frames still in flight. */
export const PREVIOUS_EPOCH_GRACE_MS = 5_000;

export interface ReceiveCounters {
  decrypted: number;
  dropped: number;
  lastError: string | null;
}

interface PendingSend {
  epoch: number;
  sender: SframeSender;
  activateAt: number;
}

export class FrameKeys {
  private readonly epochs = new Map<number, { secret: Uint8Array; replacedAt: number | null }>();
  private readonly receiver = new SframeReceiver();
  private readonly installedKids = new Map<bigint, number>();
  private sender: SframeSender | null = null;
  private pending: PendingSend | null = null;
  private newest = -1;
  readonly sent = { encrypted: 0, droppedNoKey: 0 };
  readonly received = new Map<string, ReceiveCounters>();

  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /**
   * Installs an epoch: decryption at once; encryption at once for the first key and for a ratchet (every receiver
   * that holds the previous epoch can follow it, see decryptOrInstall), otherwise after SEND_SWITCH_DELAY_MS.
   */
  setEpoch(epoch: number, epochSecret: Uint8Array, senderIndex: number | null, ratchet = false): void {
    if (epoch <= this.newest) return;
    const now = this.now();
    const previous = this.epochs.get(this.newest);
    if (previous) previous.replacedAt = now;
    this.epochs.set(epoch, { secret: epochSecret, replacedAt: null });
    this.newest = epoch;
    // Keys guessed for this epoch before its commit arrived (decryptOrInstall) give way to the real secret's.
    for (const [kid, kidEpoch] of this.installedKids) {
      if (kidEpoch === epoch) {
        this.receiver.removeKey(kid);
        this.installedKids.delete(kid);
      }
    }
    this.prune(now);
    if (senderIndex === null) {
      this.pending = null;
      this.sender = null;
      return;
    }
    const kid = makeKid(epoch, senderIndex);
    const sender = new SframeSender({ kid, baseKey: deriveSenderBaseKey(epochSecret, senderIndex, DEFAULT_CIPHER_SUITE), suite: DEFAULT_CIPHER_SUITE });
    if (this.sender === null || ratchet) {
      this.sender = sender;
      this.pending = null;
    }
    else this.pending = { epoch, sender, activateAt: now + SEND_SWITCH_DELAY_MS };
  }

  /** The SFrame ciphertext of an outgoing frame, or null (frame dropped) while there is no key: fail closed. */
  encrypt(frame: Uint8Array): Uint8Array | null {
    if (this.pending && this.now() >= this.pending.activateAt) {
      this.sender = this.pending.sender;
      this.pending = null;
    }
    if (!this.sender) {
      this.sent.droppedNoKey++;
      return null;
    }
    const out = this.sender.encrypt(frame);
    this.sent.encrypted++;
    return out;
  }

  /** The plaintext of an incoming frame, or null (dropped and counted) when it does not authenticate. */
  decrypt(participantId: string, frame: Uint8Array): Uint8Array | null {
    let counters = this.received.get(participantId);
    if (!counters) {
      counters = { decrypted: 0, dropped: 0, lastError: null };
      this.received.set(participantId, counters);
    }
    try {
      const plain = this.decryptOrInstall(frame);
      counters.decrypted++;
      return plain;
    } catch (error) {
      counters.dropped++;
      counters.lastError = error instanceof SframeError ? error.code : 'INTERNAL';
      return null;
    }
  }

  /** Called periodically: forgets the previous epoch once its grace period is over. */
  tick(): void {
    this.prune(this.now());
  }

  get currentEpoch(): number | null {
    return this.newest < 0 ? null : this.newest;
  }

  private decryptOrInstall(frame: Uint8Array): Uint8Array {
    try {
      return this.receiver.decrypt(frame);
    } catch (error) {
      if (!(error instanceof SframeUnknownKidError)) throw error;
      // Keys are derived on first sight of a KID: any sender index of an epoch we hold is a member of it.
      const { kid } = decodeHeader(frame);
      const { epoch, senderIndex } = parseKid(kid);
      const known = this.epochs.get(epoch)?.secret ?? this.speculativeRatchet(epoch);
      if (!known) throw error;
      this.receiver.addKey(kid, deriveSenderBaseKey(known, senderIndex, DEFAULT_CIPHER_SUITE));
      this.installedKids.set(kid, epoch);
      try {
        return this.receiver.decrypt(frame);
      } catch (failure) {
        if (!this.epochs.has(epoch)) {
          this.receiver.removeKey(kid);
          this.installedKids.delete(kid);
        }
        throw failure;
      }
    }
  }

  /**
   * Frames of the epoch after our newest, before its commit reached us: if that epoch is a ratchet, its secret is
   * one KDF step from ours and the frame authenticates; if it is fresh, authentication fails and the frame drops.
   */
  private speculativeRatchet(epoch: number): Uint8Array | null {
    const newest = this.epochs.get(this.newest);
    return newest && epoch === this.newest + 1 ? ratchetEpochSecret(newest.secret) : null;
  }

  private prune(now: number): void {
    for (const [epoch, entry] of this.epochs) {
      const expired = epoch < this.newest - 1 || (entry.replacedAt !== null && epoch !== this.newest && now - entry.replacedAt > PREVIOUS_EPOCH_GRACE_MS);
      if (!expired) continue;
      this.epochs.delete(epoch);
      for (const [kid, kidEpoch] of this.installedKids) {
        if (kidEpoch === epoch) {
          this.receiver.removeKey(kid);
          this.installedKids.delete(kid);
        }
      }
    }
  }
}
