import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CIPHER_SUITES,
  decodeHeader,
  encodeHeader,
  MAX_U64,
  REPLAY_WINDOW,
  SframeAuthError,
  SframeCounterExhaustedError,
  SframeError,
  SframeHeaderError,
  SframeReceiver,
  SframeReplayError,
  SframeSender,
  SframeUnknownKidError,
} from '../../crypto/index.ts';

const u64 = fc.bigInt({ min: 0n, max: MAX_U64 });
const suites = Object.keys(CIPHER_SUITES).map(Number);
const key = new Uint8Array(32).fill(7);

function pair(suite = 4, kid = 0x10002n) {
  const sender = new SframeSender({ kid, baseKey: key, suite });
  const receiver = new SframeReceiver();
  receiver.addKey(kid, key, suite);
  return { sender, receiver };
}

describe('SFrame header', () => {
  it('round-trips every KID and CTR in 0..2^64-1 with minimal length', () => {
    fc.assert(
      fc.property(u64, u64, (kid, ctr) => {
        const encoded = encodeHeader(kid, ctr);
        const decoded = decodeHeader(encoded);
        expect(decoded).toEqual({ kid, counter: ctr, length: encoded.length });
        const kidLen = kid < 8n ? 0 : Math.ceil(kid.toString(16).length / 2);
        const ctrLen = ctr < 8n ? 0 : Math.ceil(ctr.toString(16).length / 2);
        expect(encoded.length).toBe(1 + kidLen + ctrLen);
      }),
    );
  });

  it('rejects truncated headers with SframeHeaderError', () => {
    expect(() => decodeHeader(new Uint8Array(0))).toThrow(SframeHeaderError);
    expect(() => decodeHeader(Uint8Array.of(0xff, 1, 2))).toThrow(SframeHeaderError);
    expect(() => decodeHeader(Uint8Array.of(0x0f, 1))).toThrow(SframeHeaderError);
  });

  it('refuses values beyond 64 bits', () => {
    expect(() => encodeHeader(MAX_U64 + 1n, 0n)).toThrow(RangeError);
  });
});

describe('SFrame sender and receiver', () => {
  it.each(suites)('suite %i round-trips frames of any size', async (suite) => {
    const { sender, receiver } = pair(suite);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (pt) => {
        expect(await receiver.decrypt(await sender.encrypt(pt))).toEqual(pt);
      }),
      { numRuns: 40 },
    );
  });

  it.each(suites)('suite %i detects any flipped bit of header, ciphertext or tag', async (suite) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.nat(7), async (pt, pos, bit) => {
        const { sender, receiver } = pair(suite);
        const frame = await sender.encrypt(pt);
        const tampered = frame.slice();
        tampered[pos % frame.length]! ^= 1 << bit;
        await expect(receiver.decrypt(tampered)).rejects.toThrow(SframeError);
      }),
      { numRuns: 60 },
    );
  });

  it('never rejects with anything but SframeError on random bytes', async () => {
    const { receiver } = pair();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 100 }), async (bytes) => {
        try {
          await receiver.decrypt(bytes);
          return false;
        } catch (error) {
          return error instanceof SframeError;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects a replayed frame and frames older than the window, accepts reordering inside it', async () => {
    const { sender, receiver } = pair();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < REPLAY_WINDOW + 5; i++) frames.push(await sender.encrypt(Uint8Array.of(1, 2, 3)));
    await receiver.decrypt(frames[1]!);
    await receiver.decrypt(frames[0]!);
    await expect(receiver.decrypt(frames[1]!)).rejects.toThrow(SframeReplayError);
    await receiver.decrypt(frames[REPLAY_WINDOW + 4]!);
    await expect(receiver.decrypt(frames[2]!)).rejects.toThrow(SframeReplayError);
    await receiver.decrypt(frames[10]!);
  });

  it('accepts a frame once even when its copies are decrypted at the same time', async () => {
    const { sender, receiver } = pair();
    const frame = await sender.encrypt(Uint8Array.of(5));
    const results = await Promise.allSettled([receiver.decrypt(frame), receiver.decrypt(frame.slice()), receiver.decrypt(frame.slice())]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(SframeReplayError);
  });

  it('gives frames encrypted at the same time distinct counters, each decrypting to its own plaintext', async () => {
    const { sender, receiver } = pair();
    const frames = await Promise.all([1, 2, 3, 4].map((n) => sender.encrypt(Uint8Array.of(n))));
    expect(frames.map((f) => decodeHeader(f).counter)).toEqual([0n, 1n, 2n, 3n]);
    expect(await Promise.all(frames.map((f) => receiver.decrypt(f)))).toEqual([1, 2, 3, 4].map((n) => Uint8Array.of(n)));
  });

  it('a forged frame does not advance the replay window', async () => {
    const { sender, receiver } = pair();
    const f0 = await sender.encrypt(Uint8Array.of(1));
    const forged = new Uint8Array([...encodeHeader(0x10002n, 1000n), ...new Uint8Array(20)]);
    await expect(receiver.decrypt(forged)).rejects.toThrow(SframeAuthError);
    expect(await receiver.decrypt(f0)).toEqual(Uint8Array.of(1));
  });

  it('reports an unknown KID distinctly', async () => {
    const { sender } = pair();
    await expect(new SframeReceiver().decrypt(await sender.encrypt(Uint8Array.of(1)))).rejects.toThrow(SframeUnknownKidError);
  });

  it('a wrong key fails authentication', async () => {
    const sender = new SframeSender({ kid: 5n, baseKey: key });
    const receiver = new SframeReceiver();
    receiver.addKey(5n, new Uint8Array(32).fill(8));
    await expect(receiver.decrypt(await sender.encrypt(Uint8Array.of(1)))).rejects.toThrow(SframeAuthError);
  });

  it('never reuses a counter and refuses to wrap', async () => {
    const sender = new SframeSender({ kid: 1n, baseKey: key, startCounter: MAX_U64 - 1n });
    const a = decodeHeader(await sender.encrypt(Uint8Array.of(1)));
    const b = decodeHeader(await sender.encrypt(Uint8Array.of(1)));
    expect([a.counter, b.counter]).toEqual([MAX_U64 - 1n, MAX_U64]);
    await expect(sender.encrypt(Uint8Array.of(1))).rejects.toThrow(SframeCounterExhaustedError);
  });

  it('keeps a retired key for the grace period, then drops it', async () => {
    let now = 0;
    const receiver = new SframeReceiver({ graceMs: 1000, now: () => now });
    receiver.addKey(3n, key);
    const sender = new SframeSender({ kid: 3n, baseKey: key });
    receiver.retireKey(3n);
    now = 999;
    expect(await receiver.decrypt(await sender.encrypt(Uint8Array.of(9)))).toEqual(Uint8Array.of(9));
    now = 1000;
    await expect(receiver.decrypt(await sender.encrypt(Uint8Array.of(9)))).rejects.toThrow(SframeUnknownKidError);
  });
});
