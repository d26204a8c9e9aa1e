// SFrame (RFC 9605): frames sealed and opened, and sender and receiver contexts; headers in sframe-header.ts, suites,
// key schedule and AEADs in sframe-aead.ts, whose names this module exports too.
import { concat } from './bytes.ts';
import { SframeAuthError, SframeCounterExhaustedError, SframeError, SframeReplayError, SframeUnknownKidError } from './errors.ts';
import { DEFAULT_CIPHER_SUITE, deriveKeySalt, FrameAead, type SframeKeyMaterial } from './sframe-aead.ts';
import { decodeHeader, headerLength, MAX_U64, writeHeader, type SframeHeader } from './sframe-header.ts';

export * from './sframe-aead.ts';
export * from './sframe-header.ts';

/** salt XOR the counter, big-endian over the nonce's width, into `nonce` (reused from frame to frame). */
function nonceInto(nonce: Uint8Array, salt: Uint8Array, counter: bigint): Uint8Array {
  nonce.set(salt);
  const end = nonce.length;
  if (counter <= 0xffffffffn) {
    const n = Number(counter);
    nonce[end - 1]! ^= n & 0xff;
    nonce[end - 2]! ^= (n >>> 8) & 0xff;
    nonce[end - 3]! ^= (n >>> 16) & 0xff;
    nonce[end - 4]! ^= n >>> 24;
    return nonce;
  }
  for (let i = 0; i < 8; i++) nonce[end - 1 - i]! ^= Number((counter >> BigInt(8 * i)) & 0xffn);
  return nonce;
}

/** The AAD is the header alone, a view into the frame, unless the caller adds metadata. */
function frameAad(header: Uint8Array, metadata: Uint8Array | undefined): Uint8Array {
  return metadata && metadata.length > 0 ? concat(header, metadata) : header;
}

/** One key's AEAD with its salt and a nonce buffer reused from frame to frame (section 4.4.3). */
class FrameKey {
  readonly aead: FrameAead;
  private readonly salt: Uint8Array;
  private readonly nonce: Uint8Array;

  constructor(suiteId: number, material: SframeKeyMaterial) {
    this.aead = new FrameAead(suiteId, material.key);
    this.salt = material.salt;
    this.nonce = new Uint8Array(this.aead.suite.nn);
  }

  /** Header, ciphertext and tag in one new buffer. */
  async seal(kid: bigint, counter: bigint, plaintext: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    const length = headerLength(kid, counter);
    const frame = new Uint8Array(length + plaintext.length + this.aead.suite.nt);
    writeHeader(frame, kid, counter);
    // The nonce buffer is shared: fill it only once the key is ready, so that WebCrypto copies it in the same turn.
    await this.aead.ready();
    frame.set(await this.aead.seal(nonceInto(this.nonce, this.salt, counter), frameAad(frame.subarray(0, length), metadata), plaintext), length);
    return frame;
  }

  async open(header: SframeHeader, frame: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    await this.aead.ready();
    return this.aead.open(nonceInto(this.nonce, this.salt, header.counter), frameAad(frame.subarray(0, header.length), metadata), frame.subarray(header.length));
  }
}

// ---- Stateless frame operations (section 4.4.3), used by the conformance runner ----

export function encryptFrame(suiteId: number, material: SframeKeyMaterial, kid: bigint, counter: bigint, plaintext: Uint8Array, metadata: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  return new FrameKey(suiteId, material).seal(kid, counter, plaintext, metadata);
}

export async function decryptFrame(suiteId: number, material: SframeKeyMaterial, frame: Uint8Array, metadata: Uint8Array = new Uint8Array(0)): Promise<{ header: SframeHeader; plaintext: Uint8Array }> {
  const header = decodeHeader(frame);
  return { header, plaintext: await new FrameKey(suiteId, material).open(header, frame, metadata) };
}

// ---- Contexts (section 4.4.3 and 7.2) ----

/** One sender's state: its KID and key, and a counter that is never reused and refuses to wrap. */
export class SframeSender {
  readonly kid: bigint;
  readonly suite: number;
  private readonly key: FrameKey;
  private counter = 0n;
  private readonly limit: bigint;

  constructor(options: { kid: bigint; baseKey: Uint8Array; suite?: number; startCounter?: bigint; counterLimit?: bigint }) {
    this.kid = options.kid;
    this.suite = options.suite ?? DEFAULT_CIPHER_SUITE;
    this.key = new FrameKey(this.suite, deriveKeySalt(this.suite, this.kid, options.baseKey));
    this.counter = options.startCounter ?? 0n;
    this.limit = options.counterLimit ?? MAX_U64;
  }

  get nextCounter(): bigint {
    return this.counter;
  }

  /** Imports the key ahead of the first frame (optional: the first encrypt does it otherwise). */
  ready(): Promise<void> {
    return this.key.aead.ready();
  }

  /** The counter is taken when called, so frames encrypted concurrently never share one. */
  async encrypt(plaintext: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    if (this.counter > this.limit) throw new SframeCounterExhaustedError();
    const counter = this.counter++;
    return this.key.seal(this.kid, counter, plaintext, metadata);
  }
}

/** Counters at most this far behind the highest one seen are accepted once each (reordering tolerance). */
export const REPLAY_WINDOW = 128;

const WINDOW = BigInt(REPLAY_WINDOW);

class ReplayWindow {
  private highest = -1n;
  private readonly seen = new Uint8Array(REPLAY_WINDOW);

  check(counter: bigint): void {
    if (counter > this.highest) return;
    if (this.highest - counter >= WINDOW || this.seen[Number(counter % WINDOW)]) {
      throw new SframeReplayError(counter);
    }
  }

  /** Called only after the frame authenticated, so forged counters cannot move the window. */
  accept(counter: bigint): void {
    const w = WINDOW;
    if (counter > this.highest) {
      if (counter - this.highest >= w) this.seen.fill(0);
      else for (let c = this.highest + 1n; c < counter; c++) this.seen[Number(c % w)] = 0;
      this.highest = counter;
    }
    this.seen[Number(counter % w)] = 1;
  }
}

interface ReceiveKey {
  key: FrameKey;
  window: ReplayWindow;
  retireAt: number | null;
}

/** Receive keys by KID, each with its own replay window; retired keys keep working for a grace period. */
export class SframeReceiver {
  private readonly keys = new Map<bigint, ReceiveKey>();
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(options: { graceMs?: number; now?: () => number } = {}) {
    this.graceMs = options.graceMs ?? 5_000;
    this.now = options.now ?? (() => Date.now());
  }

  addKey(kid: bigint, baseKey: Uint8Array, suite: number = DEFAULT_CIPHER_SUITE): void {
    const key = new FrameKey(suite, deriveKeySalt(suite, kid, baseKey));
    // Imported now, so that the first frame does not wait for it; a failure shows on that frame's open.
    key.aead.ready().catch(() => undefined);
    this.keys.set(kid, { key, window: new ReplayWindow(), retireAt: null });
  }

  hasKey(kid: bigint): boolean {
    this.expire();
    return this.keys.has(kid);
  }

  /** The key stays valid for the grace period (frames of the previous epoch still in flight), then goes. */
  retireKey(kid: bigint): void {
    const entry = this.keys.get(kid);
    if (entry && entry.retireAt === null) entry.retireAt = this.now() + this.graceMs;
  }

  removeKey(kid: bigint): void {
    this.keys.delete(kid);
  }

  get kids(): bigint[] {
    this.expire();
    return [...this.keys.keys()];
  }

  /** Plaintext of an authenticated, fresh frame; otherwise one of the typed SframeErrors and nothing else. */
  async decrypt(frame: Uint8Array, metadata?: Uint8Array): Promise<Uint8Array> {
    try {
      const header = decodeHeader(frame);
      this.expire();
      const entry = this.keys.get(header.kid);
      if (!entry) throw new SframeUnknownKidError(header.kid);
      // Checked before, so that a replay costs no decryption, and again after: another decrypt of the same counter
      // may have been accepted while this one waited for WebCrypto. Only authenticated frames move the window.
      entry.window.check(header.counter);
      const plaintext = await entry.key.open(header, frame, metadata);
      entry.window.check(header.counter);
      entry.window.accept(header.counter);
      return plaintext;
    } catch (error) {
      if (error instanceof SframeError) throw error;
      throw new SframeAuthError();
    }
  }

  private expire(): void {
    const now = this.now();
    for (const [kid, entry] of this.keys) if (entry.retireAt !== null && now >= entry.retireAt) this.keys.delete(kid);
  }
}
