// Stream keys certified by the identity key: a listener checks batches only under a stream key the speaker's identity
// certified, gathered from the frames themselves; other members' certificates, forged ones and uncertified keys never play.
import { describe, expect, it } from 'vitest';
import {
  BatchVerifier,
  certifyStreamKey,
  CertifiedSigner,
  CertifiedVerifier,
  ed25519Signer,
  ed25519StreamKey,
  ed25519Verifier,
  FRAME_SIG_BATCH,
  FRAME_TRAILER,
  generateIdentity,
  initCrypto,
  makeKid,
  PENALTY_BATCHES,
  STREAM_CERT_FRAMES,
  type Identity,
} from '../../crypto/index.ts';

await initCrypto();

const audioOf = (counter: number) => Uint8Array.from({ length: 80 }, (_, i) => (counter * 7 + i) & 0xff);
const kid = makeKid(5, 1);

type Stream = Awaited<ReturnType<typeof ed25519StreamKey>>;

/** A speaker's Worker: its stream key, certified by `certifier` (its own identity unless said otherwise). */
async function sender(certifier: Identity, stream?: Stream): Promise<{ stream: Stream; signer: CertifiedSigner }> {
  const s = stream ?? (await ed25519StreamKey());
  const certificate = await certifyStreamKey(await ed25519Signer(certifier.signSecretKey), s.publicKey);
  return { stream: s, signer: new CertifiedSigner(s.sign, certificate) };
}

/** A listener's verifier for a speaker whose identity key the stage names as `identity`. */
async function listener(identity: Identity): Promise<CertifiedVerifier> {
  return new CertifiedVerifier(await ed25519Verifier(identity.signPublicKey), ed25519Verifier, (check) => new BatchVerifier(check));
}

/** Frames `from .. to` through the signer to the verifier; the counters that played. */
async function run(signer: { wrap: CertifiedSigner['wrap'] }, verifier: CertifiedVerifier, from: number, to: number): Promise<number[]> {
  const played: number[] = [];
  for (let c = from; c < to; c++) {
    const plain = await signer.wrap(kid, BigInt(c), audioOf(c));
    expect(plain.length).toBe(80 + FRAME_TRAILER);
    const audio = await verifier.accept(kid, BigInt(c), plain);
    if (audio) {
      expect(audio).toEqual(audioOf(c));
      played.push(c);
    }
  }
  return played;
}

describe('certified stream keys (frame signatures without the identity key in the Worker)', () => {
  const host = generateIdentity();
  const eve = generateIdentity();

  it('a stream plays once its certificate is gathered from the frames and a batch verifies under the certified key', async () => {
    const { stream, signer } = await sender(host);
    const v = await listener(host);
    // A listener joining mid-stream: it starts at counter 1000, gathers the certificate over one cycle of frames.
    const played = await run(signer, v, 1000, 1000 + 3 * STREAM_CERT_FRAMES);
    expect(v.certifiedKey).toEqual(stream.publicKey);
    expect(played.length).toBeGreaterThan(STREAM_CERT_FRAMES);
    // Nothing played before the frame that completed the certificate, whose batch's signature it also completed.
    expect(played[0]).toBe(1000 + STREAM_CERT_FRAMES - 1);
    expect(v.batches.counters.forged).toBe(0);
    expect(v.batches.forgedAt).toBeNull();
  });

  it('a certificate signed by another member (its own stream key, certified by itself) never plays as the speaker', async () => {
    const { signer } = await sender(eve);
    const v = await listener(host);
    expect(await run(signer, v, 0, 4 * STREAM_CERT_FRAMES)).toEqual([]);
    expect(v.certifiedKey).toBeNull();
    expect(v.batches.counters.forged).toBeGreaterThan(0);
    expect(v.batches.forgedAt).not.toBeNull();
  });

  it('a forged certificate (the speaker\'s stream key with a signature of nobody) never plays, and is gathered anew', async () => {
    const stream = await ed25519StreamKey();
    const certificate = await certifyStreamKey(await ed25519Signer(host.signSecretKey), stream.publicKey);
    certificate[40]! ^= 1;
    const signer = new CertifiedSigner(stream.sign, certificate);
    const v = await listener(host);
    expect(await run(signer, v, 0, 3 * STREAM_CERT_FRAMES)).toEqual([]);
    // One forgery found per certificate cycle, each a penalty.
    expect(v.batches.counters.forged).toBe(3);
    expect(v.batches.muted).toBe(true);
  });

  it('frames signed by an uncertified key, under the speaker\'s own valid certificate, are forged batches', async () => {
    const { signer: honest } = await sender(host);
    const other = await ed25519StreamKey();
    // A colluder carries the host's real certificate slices but signs batches with a key of its own.
    const forger = new CertifiedSigner(other.sign, honest.certificate);
    const v = await listener(host);
    expect(await run(forger, v, 0, 3 * STREAM_CERT_FRAMES)).toEqual([]);
    expect(v.certifiedKey).not.toBeNull();
    expect(v.batches.counters.verified).toBe(0);
    expect(v.batches.counters.forged).toBeGreaterThan(0);
  });

  it('a certificate of the speaker\'s earlier stream (a previous page, its key gone) does not prove the new stream\'s batches', async () => {
    const { signer: before } = await sender(host);
    const { stream: now } = await sender(host);
    const replayed = new CertifiedSigner(now.sign, before.certificate);
    const v = await listener(host);
    expect(await run(replayed, v, 0, 3 * STREAM_CERT_FRAMES)).toEqual([]);
    expect(v.batches.counters.forged).toBeGreaterThan(0);
  });

  it('a forged batch after the certificate verified mutes for the penalty and names the forgery; honest frames then play again', async () => {
    const { signer } = await sender(host);
    const v = await listener(host);
    await run(signer, v, 0, 2 * STREAM_CERT_FRAMES);
    expect(v.batches.muted).toBe(false);
    const spliced = { wrap: async (k: bigint, c: bigint, a: Uint8Array) => (c === BigInt(2 * STREAM_CERT_FRAMES + 1) ? (await signer.wrap(k, c, a)).map((b, i) => (i === 0 ? b ^ 1 : b)) : signer.wrap(k, c, a)) };
    // The spliced frame's audio differs from what was signed: run's own audio check does not apply to it.
    const played: number[] = [];
    for (let c = 2 * STREAM_CERT_FRAMES; c < 2 * STREAM_CERT_FRAMES + (PENALTY_BATCHES + 4) * FRAME_SIG_BATCH; c++) {
      if (await v.accept(kid, BigInt(c), await spliced.wrap(kid, BigInt(c), audioOf(c)))) played.push(c);
    }
    expect(v.batches.forgedAt).not.toBeNull();
    const first = 2 * STREAM_CERT_FRAMES;
    expect(played.filter((c) => c >= first && c < first + PENALTY_BATCHES * FRAME_SIG_BATCH).length).toBeLessThanOrEqual(2 * FRAME_SIG_BATCH - 1);
    expect(played.at(-1)).toBe(first + (PENALTY_BATCHES + 4) * FRAME_SIG_BATCH - 1);
  });
});
