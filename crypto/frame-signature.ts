// Source authentication of audio: a speaker signs each batch of its frames with its certified stream key and carries
// the signature, in fixed-size chunks, inside the plaintext of its next batch's frames (docs/protocol.md section 7, "Source authentication").
import { labelBytes } from './kdf.ts';

/** Frames per signed batch (20 ms Opus frames: 80 ms). Chosen for the 200 ms bound on forged audio, see the spec. */
export const FRAME_SIG_BATCH = 4;
/** Bytes of signature every frame carries at the end of its SFrame plaintext: 64 / FRAME_SIG_BATCH. */
export const FRAME_SIG_CHUNK = 64 / FRAME_SIG_BATCH;
const LABEL = labelBytes('frame-signature');
const BATCH = BigInt(FRAME_SIG_BATCH);
/** A frame's slot before its audio: u64 KID, u64 CTR, u32 length of the audio. */
const SLOT_HEAD = 20;
/** A batch's slots (or chunks) all present: one bit per position. */
const ALL_SLOTS = (1 << FRAME_SIG_BATCH) - 1;

export type Sign = (message: Uint8Array) => Promise<Uint8Array>;
export type Verify = (signature: Uint8Array, message: Uint8Array) => Promise<boolean>;
/** A batch's check: null while there is no key to tell by yet (the batch is then unproved, not forged). */
export type BatchCheck = (signature: Uint8Array, message: Uint8Array) => Promise<boolean | null>;

/** The batch a SFrame counter falls in; counters run on across a sender's epochs, so batches do too. */
export function batchOf(counter: bigint): bigint {
  return counter / BATCH;
}

/**
 * One frame's place in its batch: u64 KID, u64 CTR, u32 length, the Opus bytes. The KID binds the epoch and sender
 * index. The frame itself is signed, not a digest of it: Ed25519 hashes the whole message natively (SHA-512), which
 * costs less than a SHA-256 of each frame in the Worker's JavaScript.
 */
export function frameSlot(kid: bigint, counter: bigint, audio: Uint8Array): Uint8Array {
  const out = new Uint8Array(SLOT_HEAD + audio.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, kid);
  view.setBigUint64(8, counter);
  view.setUint32(16, audio.length);
  out.set(audio, SLOT_HEAD);
  return out;
}

/**
 * What is signed for a batch: the label, the batch number, and each position's slot after a byte 1, or a byte 0 for a
 * counter never sent. The lengths make it unambiguous: no two batches of different frames give the same message.
 */
export function batchMessage(batch: bigint, slots: readonly (Uint8Array | null)[]): Uint8Array {
  let length = LABEL.length + 8;
  for (let i = 0; i < FRAME_SIG_BATCH; i++) length += 1 + (slots[i]?.length ?? 0);
  const out = new Uint8Array(length);
  out.set(LABEL);
  new DataView(out.buffer).setBigUint64(LABEL.length, batch);
  let at = LABEL.length + 8;
  for (let i = 0; i < FRAME_SIG_BATCH; i++) {
    const slot = slots[i];
    if (!slot) {
      at++;
      continue;
    }
    out[at++] = 1;
    out.set(slot, at);
    at += slot.length;
  }
  return out;
}

/**
 * The sending side: `wrap` turns each outgoing Opus frame into its SFrame plaintext, the frame followed by the chunk of
 * the previous batch's signature at its position. The signer signs a batch when the first frame of the next one comes.
 * Calling `wrap` again for the same counter replaces that slot (the frame before was never sent).
 */
export class BatchSigner {
  private batch = -1n;
  private slots: (Uint8Array | null)[] = [];
  private signed: { batch: bigint; signature: Uint8Array } | null = null;
  private readonly sign: Sign;

  constructor(sign: Sign) {
    this.sign = sign;
  }

  async wrap(kid: bigint, counter: bigint, audio: Uint8Array): Promise<Uint8Array> {
    const batch = batchOf(counter);
    if (batch !== this.batch) {
      if (this.batch >= 0n) this.signed = { batch: this.batch, signature: await this.sign(batchMessage(this.batch, this.slots)) };
      this.batch = batch;
      this.slots = new Array<Uint8Array | null>(FRAME_SIG_BATCH).fill(null);
    }
    const position = Number(counter % BATCH);
    this.slots[position] = frameSlot(kid, counter, audio);
    const out = new Uint8Array(audio.length + FRAME_SIG_CHUNK);
    out.set(audio);
    // Zeros when the batch before was not this signer's (the stream's first batch): the receiver will not play it.
    if (this.signed && this.signed.batch === batch - 1n) out.set(this.signed.signature.subarray(position * FRAME_SIG_CHUNK, (position + 1) * FRAME_SIG_CHUNK), audio.length);
    return out;
  }
}

export type Verdict = 'verified' | 'unproved' | 'forged';

/** After a forged batch, or a second unproved one this soon after another, the speaker stays muted this long. */
export const PENALTY_BATCHES = 12;
/** Three unproved runs starting within this many batches (2 s) are treated as an attack, not as loss. */
export const UNPROVED_WINDOW_BATCHES = 25;
const UNPROVED_RUNS = 3;

export interface SourceCounters {
  verified: number;
  unproved: number;
  forged: number;
  /** Frames not played because their speaker was muted for want of proof. */
  muted: number;
}

/** A batch as its frames come: a frame allocates only its slot, and the signed message is made once, to verify it. */
interface BatchState {
  /** Each position's slot (`frameSlot`) as its frame comes. */
  slots: (Uint8Array | null)[];
  /** The slots heard, a bit per position. */
  heard: number;
  /** The previous batch's signature, which this batch's frames carry, a chunk per position. */
  signature: Uint8Array;
  /** The chunks in, a bit per position. */
  chunks: number;
  verdict: Verdict | null;
}

/**
 * The receiving side, one per speaker's stream. Frames play at once while the speaker is proved; a batch's verdict
 * comes when its signature is complete (in the next batch) or, at the latest, when a frame two batches later arrives.
 * A forged or unproved verdict mutes the speaker until enough later batches verify. `needAtStart`: verified batches
 * needed before anything plays (a speaker's earlier stream passes on what it still owed, see `owed`). With 0 (the key
 * certified before the first frame, nothing owed), frames play from the first batch heard from its first frame, so
 * every frame played belongs to a batch that will be judged and the bound on forged audio holds from the start; an
 * unproved batch before any verified one then costs the penalty, so that a relay offering stream after stream gets
 * no more unwarned windows than mid-stream. Frames must come one at a time (await each accept).
 */
export class BatchVerifier {
  readonly counters: SourceCounters = { verified: 0, unproved: 0, forged: 0, muted: 0 };
  /** When the last forged verdict came, by the clock given; null if none. */
  forgedAt: number | null = null;
  private readonly batches = new Map<bigint, BatchState>();
  private highest = -1n;
  /** Verified batches still needed before frames play again. */
  private need: number;
  private lastUnproved: bigint | null = null;
  /** The first batch of each recent unproved run. */
  private runs: bigint[] = [];
  private everVerified = false;
  /** Open starts only: the first batch whose frames may play (set by the first frame); earlier ones were heard in part. */
  private opening: bigint | null = null;
  private readonly open: boolean;
  private readonly verify: BatchCheck;
  private readonly now: () => number;

  constructor(verify: BatchCheck, now: () => number = () => Date.now(), needAtStart = 1) {
    this.verify = verify;
    this.now = now;
    this.open = needAtStart === 0;
    this.need = needAtStart;
  }

  /** What a next stream of the same speaker must verify before it plays: what this one still owes. */
  get owed(): number {
    return this.need;
  }

  get muted(): boolean {
    return this.need > 0;
  }

  /**
   * The audio of a decrypted frame if it may play now, else null (counted). A promise only for the frame that
   * completes a signature (one in four), which waits for its verification; the others answer at once.
   */
  accept(kid: bigint, counter: bigint, plain: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    if (plain.length < FRAME_SIG_CHUNK) return this.refuse();
    const batch = batchOf(counter);
    // A frame from a batch already judged or given up on cannot change a verdict, and does not play.
    if (batch < this.highest - 1n) return this.refuse();
    const position = Number(counter % BATCH);
    // A batch joined part-way can never be checked (its signature covers frames not heard): none of it plays.
    if (this.open) {
      this.opening ??= position === 0 ? batch : batch + 1n;
      if (batch < this.opening) return this.refuse();
    }
    const audio = plain.subarray(0, plain.length - FRAME_SIG_CHUNK);
    const state = this.state(batch);
    const bit = 1 << position;
    if (state.verdict !== null || state.heard & bit) return this.refuse();
    state.slots[position] = frameSlot(kid, counter, audio);
    state.heard |= bit;
    state.signature.set(plain.subarray(plain.length - FRAME_SIG_CHUNK), position * FRAME_SIG_CHUNK);
    state.chunks |= bit;
    if (batch > this.highest) this.highest = batch;
    const previous = this.batches.get(batch - 1n);
    if (previous && previous.verdict === null && state.chunks === ALL_SLOTS) {
      if (previous.heard !== ALL_SLOTS) this.decide(batch - 1n, previous, 'unproved');
      else
        return this.verify(state.signature, batchMessage(batch - 1n, previous.slots))
          .catch(() => false)
          .then((ok) => {
            this.decide(batch - 1n, previous, ok === null ? 'unproved' : ok ? 'verified' : 'forged');
            return this.settle(audio);
          });
    }
    return this.settle(audio);
  }

  /** After a frame: batches left behind are judged, and the frame plays if its speaker is not muted. */
  private settle(audio: Uint8Array): Uint8Array | null {
    const stale = this.highest - 2n;
    for (const [b, s] of this.batches) {
      // A batch whose signature did not arrive complete while the next batch passed by is unproved.
      if (b <= stale && s.verdict === null) this.decide(b, s, 'unproved');
      if (b < stale) this.batches.delete(b);
    }
    if (this.muted) return this.refuse();
    return audio;
  }

  /** Proof that something of this stream was forged outside any batch (its key's certificate): as a forged batch. */
  forged(): void {
    this.counters.forged++;
    this.forgedAt = this.now();
    this.need = Math.max(this.need, PENALTY_BATCHES);
  }

  private decide(batch: bigint, state: BatchState, verdict: Verdict): void {
    state.verdict = verdict;
    this.counters[verdict]++;
    if (verdict === 'verified') {
      this.everVerified = true;
      if (this.need > 0) this.need--;
      return;
    }
    if (verdict === 'forged') this.forgedAt = this.now();
    // One lost frame leaves two neighbouring batches unproved (its own and the one whose signature it carried): one run.
    let repeated = false;
    if (verdict === 'unproved') {
      if (this.everVerified && (this.lastUnproved === null || batch - this.lastUnproved > 1n)) {
        this.runs = [...this.runs.filter((start) => batch - start < BigInt(UNPROVED_WINDOW_BATCHES)), batch];
        repeated = this.runs.length >= UNPROVED_RUNS;
      }
      // An open start whose frames played before any proof: not proving them is treated as an attack, not as loss.
      if (this.open && !this.everVerified) repeated = true;
      this.lastUnproved = batch;
    }
    this.need = Math.max(this.need, verdict === 'forged' || repeated ? PENALTY_BATCHES : 1);
  }

  private state(batch: bigint): BatchState {
    let state = this.batches.get(batch);
    if (!state) {
      state = { slots: new Array<Uint8Array | null>(FRAME_SIG_BATCH).fill(null), heard: 0, signature: new Uint8Array(64), chunks: 0, verdict: null };
      this.batches.set(batch, state);
    }
    return state;
  }

  private refuse(): null {
    this.counters.muted++;
    return null;
  }
}
