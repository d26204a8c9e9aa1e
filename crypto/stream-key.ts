// Stream keys for frame signatures: a speaker's E2EE Worker signs batches with a key of its own, certified by the identity
// key, and every frame carries a slice of that certificate (docs/protocol.md section 7, "Source authentication").
import { concat } from './bytes.ts';
import { BatchSigner, type BatchVerifier, FRAME_SIG_CHUNK, type Sign, type Verify } from './frame-signature.ts';
import { labelBytes } from './kdf.ts';

/** The certificate: the stream's Ed25519 public key, then the identity key's signature over it (32 + 64 bytes). */
export const STREAM_CERT_BYTES = 96;
/** Bytes of certificate every frame carries, after its chunk of batch signature. */
export const STREAM_CERT_CHUNK = 4;
/** Frames that carry one whole certificate (480 ms of 20 ms frames): frame `c` carries slice `c mod` this. */
export const STREAM_CERT_FRAMES = STREAM_CERT_BYTES / STREAM_CERT_CHUNK;
/** Everything a frame carries after its Opus bytes: its chunk of signature and its slice of certificate. */
export const FRAME_TRAILER = FRAME_SIG_CHUNK + STREAM_CERT_CHUNK;
const LABEL = labelBytes('frame-stream-key');
const CERT_FRAMES = BigInt(STREAM_CERT_FRAMES);

/** What the identity key signs: the label and the stream's public key (identity keys are drawn per room, per member). */
export function streamKeyMessage(streamPublicKey: Uint8Array): Uint8Array {
  return concat(LABEL, streamPublicKey);
}

/** The certificate of `streamPublicKey`, signed by `identitySign`. */
export async function certifyStreamKey(identitySign: (message: Uint8Array) => Promise<Uint8Array>, streamPublicKey: Uint8Array): Promise<Uint8Array> {
  return concat(streamPublicKey, await identitySign(streamKeyMessage(streamPublicKey)));
}

/** The sending side: the batch signer's plaintext (signed by the stream key `sign`), then this frame's slice of certificate. */
export class CertifiedSigner {
  private readonly signer: BatchSigner;
  readonly certificate: Uint8Array;

  constructor(sign: Sign, certificate: Uint8Array) {
    if (certificate.length !== STREAM_CERT_BYTES) throw new RangeError('a stream certificate is 96 bytes');
    this.signer = new BatchSigner(sign, STREAM_CERT_CHUNK);
    this.certificate = certificate;
  }

  async wrap(kid: bigint, counter: bigint, audio: Uint8Array): Promise<Uint8Array> {
    const out = await this.signer.wrap(kid, counter, audio);
    const slice = Number(counter % CERT_FRAMES) * STREAM_CERT_CHUNK;
    out.set(this.certificate.subarray(slice, slice + STREAM_CERT_CHUNK), out.length - STREAM_CERT_CHUNK);
    return out;
  }
}

/**
 * The receiving side of one speaker's stream: gathers the certificate from the frames, checks it under the identity
 * key the signed stage names, and only then lets the batch verifier check batches, under the certified key. Until
 * then every batch is unproved (the stream stays muted); a certificate that fails is a forgery and is gathered anew.
 */
export class CertifiedVerifier {
  readonly batches: BatchVerifier;
  private readonly identity: Verify;
  private readonly load: (publicKey: Uint8Array) => Promise<Verify>;
  private slices: (Uint8Array | null)[] = new Array(STREAM_CERT_FRAMES).fill(null);
  private key: { publicKey: Uint8Array; verify: Verify } | null = null;

  /** `makeBatches` gets the check the batch verifier must use; `load` turns a certified public key into a verifier. */
  constructor(identity: Verify, load: (publicKey: Uint8Array) => Promise<Verify>, makeBatches: (check: (signature: Uint8Array, message: Uint8Array) => Promise<boolean | null>) => BatchVerifier) {
    this.identity = identity;
    this.load = load;
    this.batches = makeBatches((signature, message) => (this.key ? this.key.verify(signature, message) : Promise.resolve(null)));
  }

  /** The stream's certified public key, once its certificate verified. */
  get certifiedKey(): Uint8Array | null {
    return this.key?.publicKey ?? null;
  }

  /** The audio of a decrypted frame if it may play now, else null. Frames one at a time (await each). */
  async accept(kid: bigint, counter: bigint, plain: Uint8Array): Promise<Uint8Array | null> {
    if (plain.length < FRAME_TRAILER) return this.batches.accept(kid, counter, new Uint8Array(0));
    const cut = plain.length - STREAM_CERT_CHUNK;
    if (!this.key) await this.gather(counter, plain.subarray(cut));
    return this.batches.accept(kid, counter, plain.subarray(0, cut));
  }

  private async gather(counter: bigint, slice: Uint8Array): Promise<void> {
    this.slices[Number(counter % CERT_FRAMES)] = slice.slice();
    if (this.slices.some((s) => s === null)) return;
    const certificate = concat(...(this.slices as Uint8Array[]));
    this.slices = new Array(STREAM_CERT_FRAMES).fill(null);
    const publicKey = certificate.subarray(0, 32);
    const ok = await this.identity(certificate.subarray(32), streamKeyMessage(publicKey)).catch(() => false);
    const verify = ok ? await this.load(publicKey).catch(() => null) : null;
    if (!verify) return this.batches.forged();
    this.key = { publicKey: publicKey.slice(), verify };
  }
}
