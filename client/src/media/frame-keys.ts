// Per-frame SFrame state of one member: the sending context of the current epoch, receive keys by KID bound to the
// epoch's senders, and the frames of a newer epoch held on each receive stream until that epoch's commit arrives.
// From the modules themselves, not crypto/index.ts: the barrel would bring libsodium into the E2EE Worker.
import { SframeError, SframeUnknownKidError } from '../../../crypto/errors.ts';
import { makeKid, parseKid } from '../../../crypto/kid.ts';
import { deriveSenderBaseKey } from '../../../crypto/sender-key.ts';
import { SframeReceiver, SframeSender } from '../../../crypto/sframe.ts';
import { DEFAULT_CIPHER_SUITE } from '../../../crypto/sframe-aead.ts';
import { decodeHeader } from '../../../crypto/sframe-header.ts';

/** Receivers keep the epoch before the current one this long for frames still in flight. */
export const PREVIOUS_EPOCH_GRACE_MS = 5_000;
/** Frames of an epoch not yet installed wait at most this long (a commit on its way), then drop. */
export const HOLD_MAX_MS = 1_000;
/** And at most this many per receive stream (about half a second of 20 ms Opus frames): the oldest drops first. */
export const HOLD_MAX_FRAMES = 25;

export interface ReceiveCounters {
  decrypted: number;
  /** Every frame not played, whatever the reason; the counters below break some of them down. */
  dropped: number;
  lastError: string | null;
  /** Frames whose KID names a sender index the epoch does not give to the participant whose track carried them. */
  wrongSender: number;
  /** Frames held for an epoch not yet installed (played later or dropped). */
  held: number;
  /** Held frames dropped: too old, too many, or their epoch was skipped. */
  heldDropped: number;
  /** The newest epoch a frame was held for: the session asks for it when its commit never comes (missed-epoch.ts). */
  aheadEpoch: number | null;
}

export interface SendCounters {
  encrypted: number;
  droppedNoKey: number;
  /** Frames dropped while the sender could not confirm that its epoch is current. */
  droppedStale: number;
}

interface EpochKeys {
  secret: Uint8Array;
  senders: Map<string, number>;
  replacedAt: number | null;
}

type Opened = { kind: 'plain'; plain: Uint8Array; kid: bigint; counter: bigint } | { kind: 'hold'; epoch: number } | { kind: 'drop' };

/** Takes each decrypted frame of a stream, in order, with the KID and counter it came under. */
export type Deliver<T> = (item: T, plain: Uint8Array, kid: bigint, counter: bigint) => void;

/** What became of a pushed frame: played now, held for its epoch, or dropped (and counted). */
export type FrameFate = 'played' | 'held' | 'dropped';

/**
 * One receive transform: frames in, plaintexts out through `deliver`, possibly later than they came in. Frames are
 * handled one at a time in the order pushed (decryption is asynchronous), each after the held frames released before it.
 */
export interface FrameReceiveStream<T> {
  push(item: T, data: Uint8Array): Promise<FrameFate>;
  close(): void;
}

export class FrameKeys {
  private readonly epochs = new Map<number, EpochKeys>();
  private readonly receiver = new SframeReceiver();
  private readonly installedKids = new Map<bigint, number>();
  private readonly streams = new Set<HoldingStream<unknown>>();
  private sender: SframeSender | null = null;
  private sendAllowed = true;
  private newest = -1;
  readonly sent: SendCounters = { encrypted: 0, droppedNoKey: 0, droppedStale: 0 };
  readonly received = new Map<string, ReceiveCounters>();

  readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /**
   * Installs an epoch: senders switch to it at once (receivers hold its frames until they have it), receivers decrypt
   * it at once and play the frames held for it. `senders` maps each participant of the epoch to its sender index.
   * Resolves when the held frames it released have been played or dropped.
   */
  setEpoch(epoch: number, epochSecret: Uint8Array, senderIndex: number | null, senders: Record<string, number>): Promise<void> {
    // The same epoch again names participants the page learnt of after the commit (their track ids came later).
    if (epoch === this.newest) {
      for (const [participantId, index] of Object.entries(senders)) this.epochs.get(epoch)?.senders.set(participantId, index);
      return Promise.resolve();
    }
    if (epoch < this.newest) return Promise.resolve();
    const now = this.now();
    const previous = this.epochs.get(this.newest);
    for (const old of [...this.epochs.keys()]) if (old !== this.newest) this.forget(old);
    if (previous) previous.replacedAt = now;
    this.epochs.set(epoch, { secret: epochSecret, senders: new Map(Object.entries(senders)), replacedAt: null });
    this.newest = epoch;
    // The counter runs on from the epoch before: frame signatures are batched by counter across epochs (source-auth).
    const startCounter = this.sender?.nextCounter ?? 0n;
    this.sender = senderIndex === null ? null : new SframeSender({ kid: makeKid(epoch, senderIndex), baseKey: deriveSenderBaseKey(epochSecret, senderIndex, DEFAULT_CIPHER_SUITE), suite: DEFAULT_CIPHER_SUITE, startCounter });
    // The key goes into WebCrypto now rather than on the epoch's first frame; a failure shows on that frame.
    this.sender?.ready().catch(() => undefined);
    this.prune(now);
    return Promise.all([...this.streams].map((stream) => stream.release())).then(() => undefined);
  }

  /** While false, the sender cannot confirm that its epoch is current: every outgoing frame drops (fail closed). */
  setSendAllowed(allowed: boolean): void {
    this.sendAllowed = allowed;
  }

  /**
   * The SFrame ciphertext of an outgoing frame, or null (frame dropped and counted), by the key current when called.
   * `wrap` makes the plaintext from the frame, the KID and the counter it will go out under (the frame signature).
   */
  async encrypt(frame: Uint8Array, wrap?: (kid: bigint, counter: bigint, frame: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array | null> {
    let sender = this.sender;
    if (!sender) {
      this.sent.droppedNoKey++;
      return null;
    }
    if (!this.sendAllowed) {
      this.sent.droppedStale++;
      return null;
    }
    let plaintext = frame;
    if (wrap) {
      // Wrapped again if the epoch changed meanwhile, so that the KID and counter wrapped are those the frame gets.
      do {
        sender = this.sender ?? sender;
        plaintext = await wrap(sender.kid, sender.nextCounter, frame);
      } while (this.sender !== null && this.sender !== sender);
    }
    const out = await sender.encrypt(plaintext);
    this.sent.encrypted++;
    return out;
  }

  /** A receive stream for the track of `participantId`; `deliver` gets each authenticated frame, in order. */
  openReceiver<T>(participantId: string, deliver: Deliver<T>): FrameReceiveStream<T> {
    const stream = new HoldingStream<T>(this, this.counters(participantId), participantId, deliver);
    this.streams.add(stream as HoldingStream<unknown>);
    return {
      push: (item, data) => stream.push(item, data),
      close: () => this.streams.delete(stream as HoldingStream<unknown>),
    };
  }

  /** Called periodically: forgets the previous epoch after its grace period and drops frames held too long. */
  tick(): void {
    const now = this.now();
    this.prune(now);
    for (const stream of this.streams) stream.expire(now);
  }

  get currentEpoch(): number | null {
    return this.newest < 0 ? null : this.newest;
  }

  /** Decides the fate of one received frame: its plaintext, held for a newer epoch, or dropped (and counted). */
  async open(participantId: string, data: Uint8Array, counters: ReceiveCounters): Promise<Opened> {
    try {
      const { kid, counter } = decodeHeader(data);
      const { epoch, senderIndex } = parseKid(kid);
      if (epoch > this.newest) return { kind: 'hold', epoch };
      const keys = this.epochs.get(epoch);
      if (!keys) throw new SframeUnknownKidError(kid);
      // Every member holds every sender's key of an epoch: only the track's own index keeps one member from speaking
      // as another, or from pushing another speaker's replay window ahead of it.
      if (keys.senders.get(participantId) !== senderIndex) {
        counters.wrongSender++;
        return countDrop(counters, 'WRONG_SENDER');
      }
      if (!this.installedKids.has(kid)) {
        this.receiver.addKey(kid, deriveSenderBaseKey(keys.secret, senderIndex, DEFAULT_CIPHER_SUITE));
        this.installedKids.set(kid, epoch);
      }
      const plain = await this.receiver.decrypt(data);
      counters.decrypted++;
      return { kind: 'plain', plain, kid, counter };
    } catch (error) {
      return countDrop(counters, error instanceof SframeError ? error.code : 'INTERNAL');
    }
  }

  private counters(participantId: string): ReceiveCounters {
    let counters = this.received.get(participantId);
    if (!counters) {
      counters = { decrypted: 0, dropped: 0, lastError: null, wrongSender: 0, held: 0, heldDropped: 0, aheadEpoch: null };
      this.received.set(participantId, counters);
    }
    return counters;
  }

  private prune(now: number): void {
    for (const [epoch, entry] of this.epochs) {
      if (epoch !== this.newest && entry.replacedAt !== null && now - entry.replacedAt > PREVIOUS_EPOCH_GRACE_MS) this.forget(epoch);
    }
  }

  private forget(epoch: number): void {
    this.epochs.delete(epoch);
    for (const [kid, kidEpoch] of this.installedKids) {
      if (kidEpoch === epoch) {
        this.receiver.removeKey(kid);
        this.installedKids.delete(kid);
      }
    }
  }
}

function countDrop(counters: ReceiveCounters, code: string): Opened {
  counters.dropped++;
  counters.lastError = code;
  return { kind: 'drop' };
}

interface HeldFrame<T> {
  item: T;
  data: Uint8Array;
  epoch: number;
  at: number;
}

/**
 * The frames of one receive stream that wait for their epoch, oldest first, bounded in count and age. Every frame and
 * every release goes through one promise chain, so plaintexts come out in the order their frames came in (a frame's
 * decryption never overtakes the one before) and the replay window sees one frame of the stream at a time.
 */
class HoldingStream<T> {
  private held: HeldFrame<T>[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly keys: FrameKeys;
  private readonly counters: ReceiveCounters;
  private readonly participantId: string;
  private readonly deliver: Deliver<T>;

  constructor(keys: FrameKeys, counters: ReceiveCounters, participantId: string, deliver: Deliver<T>) {
    this.keys = keys;
    this.counters = counters;
    this.participantId = participantId;
    this.deliver = deliver;
  }

  push(item: T, data: Uint8Array): Promise<FrameFate> {
    return this.enqueue(() => this.handle(item, data));
  }

  /** After an epoch was installed: plays (or drops) every held frame whose epoch is no longer in the future, in order. */
  release(): Promise<void> {
    return this.enqueue(() => this.releaseDue());
  }

  expire(now: number): void {
    while (this.held.length > 0 && now - this.held[0]!.at > HOLD_MAX_MS) this.dropHeld('HOLD_EXPIRED');
  }

  private enqueue<R>(step: () => Promise<R>): Promise<R> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async handle(item: T, data: Uint8Array): Promise<FrameFate> {
    const now = this.keys.now();
    this.expire(now);
    // An epoch installed while this frame waited in the chain: the frames held for it came first.
    await this.releaseDue();
    const opened = await this.keys.open(this.participantId, data, this.counters);
    if (opened.kind === 'plain') {
      this.deliver(item, opened.plain, opened.kid, opened.counter);
      return 'played';
    }
    if (opened.kind === 'drop') return 'dropped';
    this.counters.held++;
    this.counters.aheadEpoch = Math.max(this.counters.aheadEpoch ?? opened.epoch, opened.epoch);
    this.held.push({ item, data, epoch: opened.epoch, at: now });
    if (this.held.length > HOLD_MAX_FRAMES) this.dropHeld('HOLD_OVERFLOW');
    return 'held';
  }

  private async releaseDue(): Promise<void> {
    const newest = this.keys.currentEpoch ?? -1;
    if (!this.held.some((frame) => frame.epoch <= newest)) return;
    // Taken out before the first await, so that expiry meanwhile only sees the frames that still wait.
    const due = this.held.filter((frame) => frame.epoch <= newest);
    this.held = this.held.filter((frame) => frame.epoch > newest);
    for (const frame of due) {
      const opened = await this.keys.open(this.participantId, frame.data, this.counters);
      if (opened.kind === 'plain') this.deliver(frame.item, opened.plain, opened.kid, opened.counter);
      else this.counters.heldDropped++;
    }
  }

  private dropHeld(code: string): void {
    this.held.shift();
    this.counters.heldDropped++;
    countDrop(this.counters, code);
  }
}
