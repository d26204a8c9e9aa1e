import { describe, expect, it } from 'vitest';
import { BatchSigner, BatchVerifier, ed25519Signer, ed25519Verifier, FRAME_SIG_BATCH, FRAME_SIG_CHUNK, generateIdentity, initCrypto, makeKid, PENALTY_BATCHES, type Identity } from '../../crypto/index.ts';

// The describe blocks make identities as they are collected, before any hook would run.
await initCrypto();

const B = FRAME_SIG_BATCH;
const audioOf = (counter: number, tone = 1) => Uint8Array.from({ length: 80 }, (_, i) => (counter * 7 + i * tone) & 0xff);

interface Frame {
  kid: bigint;
  counter: bigint;
  plain: Uint8Array;
}

/** A speaker's frames as the signer makes them, `count` of them from `start`, under `kid`. */
async function speak(identity: Identity, kid: bigint, start: number, count: number, tone = 1, signer?: BatchSigner): Promise<Frame[]> {
  const s = signer ?? new BatchSigner(await ed25519Signer(identity.signSecretKey));
  const frames: Frame[] = [];
  for (let c = start; c < start + count; c++) frames.push({ kid, counter: BigInt(c), plain: await s.wrap(kid, BigInt(c), audioOf(c, tone)) });
  return frames;
}

/** Feeds frames to a verifier of `speaker`'s key; returns the counters of the frames it let play. */
async function listen(speaker: Identity, frames: Frame[], verifier?: BatchVerifier): Promise<{ played: number[]; v: BatchVerifier }> {
  const v = verifier ?? new BatchVerifier(await ed25519Verifier(speaker.signPublicKey));
  const played: number[] = [];
  for (const f of frames) {
    const audio = await v.accept(f.kid, f.counter, f.plain);
    if (audio) {
      expect(audio).toEqual(audioOf(Number(f.counter), audio[1] === audioOf(Number(f.counter), 2)[1] ? 2 : 1));
      played.push(Number(f.counter));
    }
  }
  return { played, v };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('frame signatures (batch signer and verifier)', () => {
  const host = generateIdentity();
  const eve = generateIdentity();
  const kid = makeKid(3, 0);

  it('every frame grows by the same chunk, speech or silence; a stream plays from the batch after its first proved one', async () => {
    const frames = await speak(host, kid, 0, 6 * B);
    for (const f of frames) expect(f.plain.length).toBe(80 + FRAME_SIG_CHUNK);
    const { played, v } = await listen(host, frames);
    // Batch 0's signature completes with the last frame of batch 1, which plays; nothing unproved played before.
    expect(played).toEqual(range(2 * B - 1, 6 * B));
    expect(v.counters).toMatchObject({ verified: 5, unproved: 0, forged: 0 });
    expect(v.muted).toBe(false);
  });

  it('frames reordered within a batch still verify', async () => {
    const frames = await speak(host, kid, 0, 4 * B);
    const shuffled = [...frames];
    [shuffled[B + 1], shuffled[B + 2]] = [shuffled[B + 2]!, shuffled[B + 1]!];
    const { v } = await listen(host, shuffled);
    expect(v.counters).toMatchObject({ verified: 3, forged: 0 });
  });

  it('a dropped frame leaves its batches unproved and mutes the speaker until a later batch verifies', async () => {
    const frames = await speak(host, kid, 0, 10 * B);
    const lost = 4 * B + 1;
    const { played, v } = await listen(
      host,
      frames.filter((f) => f.counter !== BigInt(lost)),
    );
    expect(v.counters).toMatchObject({ unproved: 2, forged: 0 });
    expect(v.forgedAt).toBeNull();
    // Batches 3 (its signature lost) and 4 (a frame lost) unproved; batch 5 verifies at the end of batch 6.
    expect(played).not.toContain(5 * B + 1);
    expect(played).toContain(7 * B);
    expect(played).toContain(10 * B - 1);
  });

  it('a duplicated frame is ignored (the first copy counts) and the stream verifies', async () => {
    const frames = await speak(host, kid, 0, 4 * B);
    const { played, v } = await listen(host, [...frames.slice(0, 2 * B + 1), frames[2 * B]!, ...frames.slice(2 * B + 1)]);
    expect(v.counters).toMatchObject({ verified: 3, forged: 0 });
    expect(played.filter((c) => c === 2 * B)).toHaveLength(1);
  });

  it('a spliced frame (other audio under the speaker KID and counter, real chunk kept) fails its batch and mutes', async () => {
    const frames = await speak(host, kid, 0, 8 * B);
    const at = 3 * B + 2;
    const forged = audioOf(at, 2);
    const real = frames[at]!;
    const spliced = { ...real, plain: Uint8Array.from([...forged, ...real.plain.subarray(80)]) };
    const { played, v } = await listen(
      host,
      frames.map((f) => (f === real ? spliced : f)),
    );
    expect(v.counters.forged).toBe(1);
    expect(v.forgedAt).not.toBeNull();
    // Judged with the last frame of batch 4, which does not play; nothing after it plays within the penalty.
    expect(played.filter((c) => c >= 4 * B + B - 1 && c < (5 + PENALTY_BATCHES) * B)).toEqual([]);
    // At most the bound of forged audio played: from the spliced frame to the verdict.
    expect(played.filter((c) => c >= at).length).toBeLessThanOrEqual(2 * B - 1);
  });

  it('frames cut at another place (the same bytes in a batch, one moved into the next frame) fail their batch', async () => {
    const frames = await speak(host, kid, 0, 8 * B);
    const at = 3 * B + 1;
    const [first, second] = [frames[at]!, frames[at + 1]!];
    const audio = [...first.plain.subarray(0, 80), ...second.plain.subarray(0, 80)];
    const moved = new Map([
      [first, { ...first, plain: Uint8Array.from([...audio.slice(0, 79), ...first.plain.subarray(80)]) }],
      [second, { ...second, plain: Uint8Array.from([...audio.slice(79), ...second.plain.subarray(80)]) }],
    ]);
    const v = new BatchVerifier(await ed25519Verifier(host.signPublicKey));
    for (const f of frames) await v.accept(f.kid, f.counter, (moved.get(f) ?? f).plain);
    expect(v.counters).toMatchObject({ forged: 1, verified: 6 });
  });

  it('another speaker signing under the host KID is forged; the host is heard again after the penalty', async () => {
    const real = await speak(host, kid, 0, 40 * B);
    const fake = await speak(eve, kid, 0, 40 * B, 2);
    const mixed = [...real.slice(0, 4 * B), ...fake.slice(4 * B, 8 * B), ...real.slice(8 * B)];
    const { played, v } = await listen(host, mixed);
    expect(v.counters.forged).toBeGreaterThanOrEqual(1);
    const forgedPlayed = played.filter((c) => c >= 4 * B && c < 8 * B);
    expect(forgedPlayed.length).toBeLessThanOrEqual(2 * B - 1);
    expect(played).toContain(40 * B - 1);
    expect(v.muted).toBe(false);
    expect(played.filter((c) => c >= 8 * B).length).toBeLessThan(32 * B - PENALTY_BATCHES * B + B);
  });

  it('a stream of another speaker entirely never plays against the host key', async () => {
    const { played, v } = await listen(host, await speak(eve, kid, 0, 10 * B, 2));
    expect(played).toEqual([]);
    expect(v.counters.forged).toBeGreaterThan(0);
  });

  it("a previous epoch's frames and signatures replayed under the new KID fail", async () => {
    const signer = new BatchSigner(await ed25519Signer(host.signSecretKey));
    const old = await speak(host, makeKid(2, 0), 0, 6 * B, 1, signer);
    const replay = old.map((f) => ({ ...f, kid: makeKid(3, 0) }));
    const { played, v } = await listen(host, replay);
    expect(played).toEqual([]);
    expect(v.counters.forged).toBeGreaterThan(0);
  });

  it('counters run on across an epoch change and the batch spanning it verifies', async () => {
    const signer = new BatchSigner(await ed25519Signer(host.signSecretKey));
    const before = await speak(host, makeKid(2, 0), 0, 3 * B + 2, 1, signer);
    const after = await speak(host, makeKid(3, 0), 3 * B + 2, 4 * B, 1, signer);
    const { played, v } = await listen(host, [...before, ...after]);
    expect(v.counters).toMatchObject({ verified: 6, unproved: 0, forged: 0 });
    expect(played).toContain(3 * B + 2);
  });

  it('withheld signature chunks are a failure, and a third run within 2 s mutes for the penalty', async () => {
    const frames = await speak(host, kid, 0, 50 * B);
    // The relay drops one frame of batches 6, 12 and 18 (each leaves two batches unproved).
    const withheld = new Set([6 * B, 12 * B, 18 * B].map(BigInt));
    const { played, v } = await listen(
      host,
      frames.filter((f) => !withheld.has(f.counter)),
    );
    expect(v.counters.unproved).toBe(6);
    expect(v.forgedAt).toBeNull();
    // The first two runs mute until one batch verifies (played again from batches 9 and 15); the third for the penalty.
    expect(played).toContain(9 * B);
    expect(played).toContain(15 * B);
    expect(played.filter((c) => c >= 19 * B && c < (19 + PENALTY_BATCHES) * B)).toEqual([]);
    expect(played).toContain(50 * B - 1);
  });

  it('the libsodium and WebCrypto Ed25519 paths agree', async () => {
    const { sodium } = await import('../../crypto/sodium.ts');
    const message = Uint8Array.of(1, 2, 3);
    const signature = await (await ed25519Signer(host.signSecretKey))(message);
    expect(sodium.crypto_sign_verify_detached(signature, message, host.signPublicKey)).toBe(true);
    expect(await (await ed25519Verifier(host.signPublicKey))(sodium.crypto_sign_detached(message, host.signSecretKey), message)).toBe(true);
    expect(await (await ed25519Verifier(eve.signPublicKey))(signature, message)).toBe(false);
  });
});
