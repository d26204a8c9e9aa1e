// Stream keys certified by the identity key, the certificate given by signaling before the first frame: a listener
// plays a stream from its first whole batch under a certificate the speaker's identity signed, and within the bound;
// a withheld certificate, another member's, an old page's or a corrupted one never plays beyond it.
import { describe, expect, it } from 'vitest';
import {
  BatchSigner,
  certifiedVerifier,
  certifyStreamKey,
  ed25519Signer,
  ed25519StreamKey,
  ed25519Verifier,
  FRAME_SIG_BATCH,
  FRAME_SIG_CHUNK,
  generateIdentity,
  initCrypto,
  makeKid,
  PENALTY_BATCHES,
  type BatchVerifier,
  type Identity,
} from '../../crypto/index.ts';

await initCrypto();

const B = FRAME_SIG_BATCH;
const audioOf = (counter: number) => Uint8Array.from({ length: 80 }, (_, i) => (counter * 7 + i) & 0xff);
const kid = makeKid(5, 1);

type Stream = Awaited<ReturnType<typeof ed25519StreamKey>>;

/** A speaker's Worker: its stream key and the certificate `certifier` (its own identity unless said otherwise) made of it. */
async function sender(certifier: Identity): Promise<{ stream: Stream; certificate: Uint8Array; signer: BatchSigner }> {
  const stream = await ed25519StreamKey();
  const certificate = await certifyStreamKey(await ed25519Signer(certifier.signSecretKey), stream.publicKey);
  return { stream, certificate, signer: new BatchSigner(stream.sign) };
}

/** A listener's verifier for a speaker the stage names by `identity`, given `certificate` with the producer. */
async function listener(identity: Identity, certificate: Uint8Array | null): Promise<BatchVerifier> {
  return certifiedVerifier(await ed25519Verifier(identity.signPublicKey), certificate, ed25519Verifier);
}

/** Frames `from .. to` through the signer to the verifier, all but `skip`; the counters that played. */
async function run(signer: BatchSigner, verifier: BatchVerifier, from: number, to: number, skip = new Set<number>()): Promise<number[]> {
  const played: number[] = [];
  for (let c = from; c < to; c++) {
    const plain = await signer.wrap(kid, BigInt(c), audioOf(c));
    expect(plain.length).toBe(80 + FRAME_SIG_CHUNK);
    if (skip.has(c)) continue;
    const audio = await verifier.accept(kid, BigInt(c), plain);
    if (audio) {
      expect(audio).toEqual(audioOf(c));
      played.push(c);
    }
  }
  return played;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('certified stream keys, the certificate by signaling', () => {
  const host = generateIdentity();
  const eve = generateIdentity();

  it("under the speaker's certificate a stream plays from its first frame, every frame, with every batch verified", async () => {
    const { certificate, signer } = await sender(host);
    const v = await listener(host, certificate);
    expect(await run(signer, v, 0, 10 * B)).toEqual(range(0, 10 * B));
    expect(v.counters).toMatchObject({ verified: 9, unproved: 0, forged: 0, muted: 0 });
    expect(v.forgedAt).toBeNull();
  });

  it('a listener joining mid-batch skips the rest of that batch (it can never be checked) and plays from the next, with no gap after', async () => {
    const { certificate, signer } = await sender(host);
    const v = await listener(host, certificate);
    expect(await run(signer, v, 1000 * B + 1, 1010 * B)).toEqual(range(1001 * B, 1010 * B));
    expect(v.counters).toMatchObject({ verified: 8, unproved: 0, forged: 0, muted: B - 1 });
  });

  it('a withheld certificate: nothing plays, and no forgery is claimed', async () => {
    const { signer } = await sender(host);
    const v = await listener(host, null);
    expect(await run(signer, v, 0, 20 * B)).toEqual([]);
    expect(v.muted).toBe(true);
    expect(v.counters.forged).toBe(0);
    expect(v.forgedAt).toBeNull();
  });

  it("another member's certificate (its own stream, or in place of the speaker's on the speaker's frames) never plays and is a forgery", async () => {
    const theirs = await sender(eve);
    const mine = await sender(host);
    for (const signer of [theirs.signer, mine.signer]) {
      const v = await listener(host, theirs.certificate);
      expect(await run(signer, v, 0, 20 * B)).toEqual([]);
      expect(v.counters.forged).toBeGreaterThan(0);
      expect(v.forgedAt).not.toBeNull();
      expect(v.muted).toBe(true);
    }
  });

  it('a corrupted certificate (its key, its signature, or its length) never plays and is a forgery', async () => {
    const { certificate, signer } = await sender(host);
    const corrupted = [certificate.map((b, i) => (i === 3 ? b ^ 1 : b)), certificate.map((b, i) => (i === 70 ? b ^ 1 : b)), certificate.subarray(0, 95)];
    for (const bad of corrupted) {
      const v = await listener(host, bad);
      expect(await run(signer, v, 0, 20 * B)).toEqual([]);
      expect(v.counters.forged).toBeGreaterThan(0);
      expect(v.forgedAt).not.toBeNull();
    }
  });

  it("an old page's certificate (the speaker's identity, a stream key gone with its Worker): at most 7 frames play, then forged and muted", async () => {
    const before = await sender(host);
    const now = await sender(host);
    const v = await listener(host, before.certificate);
    const played = await run(now.signer, v, 0, 20 * B);
    expect(played.length).toBeLessThanOrEqual(2 * B - 1);
    expect(v.counters.verified).toBe(0);
    expect(v.counters.forged).toBeGreaterThan(0);
    expect(v.muted).toBe(true);
  });

  it("a colluder's frames under the speaker's real certificate: at most 7 frames from the first, then muted for the penalty", async () => {
    const { certificate } = await sender(host);
    const colluder = await sender(eve);
    const v = await listener(host, certificate);
    const played = await run(colluder.signer, v, 0, 20 * B);
    expect(played.length).toBeLessThanOrEqual(2 * B - 1);
    expect(v.counters.forged).toBeGreaterThan(0);
  });

  it("a chunk withheld from the start: at most 7 frames play, then nothing until the penalty's batches verify", async () => {
    const { certificate, signer } = await sender(host);
    const v = await listener(host, certificate);
    const played = await run(signer, v, 0, (4 + PENALTY_BATCHES) * B, new Set([2 * B - 1]));
    expect(played.filter((c) => c < 3 * B)).toEqual(range(0, 2 * B - 1));
    expect(v.counters.forged).toBe(0);
    expect(v.forgedAt).toBeNull();
    // Unproved before anything was proved is the penalty (12 batches verified) rather than one batch, as a forgery.
    expect(played.filter((c) => c >= 2 * B && c < (2 + PENALTY_BATCHES) * B)).toEqual([]);
    expect(played.at(-1)).toBe((4 + PENALTY_BATCHES) * B - 1);
  });

  it('a new stream of the same speaker starts from what the one before still owed: a relay re-offering the stream gets no fresh window', async () => {
    const { certificate, signer } = await sender(host);
    const colluder = await sender(eve);
    const identity = await ed25519Verifier(host.signPublicKey);
    // The relay plays the colluder's frames on a consumer of the host under the host's real certificate: 7 frames, then the penalty.
    const first = await certifiedVerifier(identity, certificate, ed25519Verifier);
    expect((await run(colluder.signer, first, 0, 4 * B)).length).toBeLessThanOrEqual(2 * B - 1);
    expect(first.owed).toBe(PENALTY_BATCHES);
    // Then offers a new consumer with the colluder's frames again: the new stream owes the penalty, nothing plays.
    const second = await certifiedVerifier(identity, certificate, ed25519Verifier, undefined, first.owed);
    expect(await run(colluder.signer, second, 4 * B, 12 * B)).toEqual([]);
    // The host's real frames on a next consumer play once the penalty's batches verified, and the stream after it
    // (nothing owed) plays from its first frame.
    const third = await certifiedVerifier(identity, certificate, ed25519Verifier, undefined, second.owed);
    const honest = await run(signer, third, 12 * B, (16 + PENALTY_BATCHES) * B);
    expect(honest[0]).toBe((13 + PENALTY_BATCHES) * B - 1);
    expect(third.owed).toBe(0);
    const fourth = await certifiedVerifier(identity, certificate, ed25519Verifier, undefined, third.owed);
    expect((await run(signer, fourth, (16 + PENALTY_BATCHES) * B, (18 + PENALTY_BATCHES) * B))[0]).toBe((16 + PENALTY_BATCHES) * B);
  });

  it('a forged batch after the stream verified mutes for the penalty and names the forgery; honest frames then play again', async () => {
    const { certificate, signer } = await sender(host);
    const v = await listener(host, certificate);
    await run(signer, v, 0, 4 * B);
    const first = 4 * B;
    const played: number[] = [];
    for (let c = first; c < first + (PENALTY_BATCHES + 4) * B; c++) {
      const plain = await signer.wrap(kid, BigInt(c), audioOf(c));
      if (c === first + 1) plain[0]! ^= 1;
      if (await v.accept(kid, BigInt(c), plain)) played.push(c);
    }
    expect(v.forgedAt).not.toBeNull();
    expect(played.filter((c) => c >= first && c < first + PENALTY_BATCHES * B).length).toBeLessThanOrEqual(2 * B - 1);
    expect(played.at(-1)).toBe(first + (PENALTY_BATCHES + 4) * B - 1);
  });
});
