// Runs inside a Chromium Worker (bundled by bench/frame-cost.ts): SFrame's default suite per frame, engine by engine.
import { gcm } from '@noble/ciphers/aes.js';
import { bigEndian, concat } from '../crypto/bytes.ts';
import { ed25519StreamKey, ed25519Verifier } from '../crypto/ed25519.ts';
import { BatchSigner, FRAME_SIG_CHUNK, type Sign, type Verify } from '../crypto/frame-signature.ts';
import { initCrypto, sodium } from '../crypto/sodium.ts';
import { certifiedVerifier, certifyStreamKey } from '../crypto/stream-key.ts';
import { DEFAULT_CIPHER_SUITE, decodeHeader, deriveKeySalt, encodeHeader, headerLength, SframeReceiver, SframeSender, writeHeader } from '../crypto/sframe.ts';

export interface EngineResult {
  engine: string;
  cache: 'warm' | 'cold';
  /** µs per frame over each round, in order; the page takes the median. */
  encryptUs: number[];
  decryptUs: number[];
}

export interface WorkerBenchRequest {
  frames: number;
  rounds: number;
  frameBytes: number;
  /** Bytes written between frames in the cold runs: what a renderer does in the 20 ms between two frames, evicting caches. */
  evictBytes: number;
}

const KID = 0x10001n;
const BASE_KEY = new Uint8Array(32).fill(3);

/** One engine with fresh state (counters from 0, empty replay window): frame i's encryption, and a frame's decryption. */
interface EngineState {
  encrypt(counter: number): Uint8Array | Promise<Uint8Array>;
  decrypt(frame: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

interface Engine {
  name: string;
  /** Whether encrypt and decrypt return promises, to await them only then (an await costs a microtask). */
  async: boolean;
  start(): Promise<EngineState>;
}

const material = deriveKeySalt(DEFAULT_CIPHER_SUITE, KID, BASE_KEY);

function nonceFor(counter: bigint): Uint8Array {
  const nonce = bigEndian(counter, material.salt.length);
  for (let i = 0; i < nonce.length; i++) nonce[i]! ^= material.salt[i]!;
  return nonce;
}

/** The transform's code before WebCrypto: a noble gcm() instance (key schedule and GHASH table) built for every frame. */
const nobleOneShot: Engine = {
  name: 'noble, gcm() per frame (before)',
  async: false,
  async start() {
    return {
      encrypt(counter) {
        const c = BigInt(counter);
        const header = encodeHeader(KID, c);
        return concat(header, gcm(material.key, nonceFor(c), concat(header, new Uint8Array(0))).encrypt(plainBytes));
      },
      decrypt(frame) {
        const header = decodeHeader(frame);
        const aad = concat(frame.subarray(0, header.length), new Uint8Array(0));
        return gcm(material.key, nonceFor(header.counter), aad).decrypt(frame.subarray(header.length));
      },
    };
  },
};

/** What the transform runs now: SframeSender and SframeReceiver (replay window included), WebCrypto with the key imported once. */
const sframeContexts: Engine = {
  name: 'SframeSender/Receiver (WebCrypto, now)',
  async: true,
  async start() {
    const sender = new SframeSender({ kid: KID, baseKey: BASE_KEY });
    await sender.ready();
    const receiver = new SframeReceiver();
    receiver.addKey(KID, BASE_KEY);
    return { encrypt: () => sender.encrypt(plainBytes), decrypt: (frame) => receiver.decrypt(frame) };
  },
};

/** An Ed25519 implementation for the signed engines: a fresh stream key and an identity, and verifiers of keys. */
interface Ed25519 {
  streamKey(): Promise<{ publicKey: Uint8Array; sign: Sign }>;
  verifier(publicKey: Uint8Array): Promise<Verify>;
}

const webCryptoEd25519: Ed25519 = { streamKey: ed25519StreamKey, verifier: ed25519Verifier };

const sodiumEd25519: Ed25519 = {
  async streamKey() {
    await initCrypto();
    const pair = sodium.crypto_sign_keypair();
    return { publicKey: pair.publicKey, sign: (message) => Promise.resolve(sodium.crypto_sign_detached(message, pair.privateKey)) };
  },
  async verifier(publicKey) {
    await initCrypto();
    return (signature, message) => Promise.resolve(sodium.crypto_sign_verify_detached(signature, message, publicKey));
  },
};

/** No signature at all (zeros, always valid): what the batching and digests cost alone. */
const noEd25519: Ed25519 = {
  streamKey: () => Promise.resolve({ publicKey: new Uint8Array(32).fill(9), sign: () => Promise.resolve(new Uint8Array(64)) }),
  verifier: () => Promise.resolve(() => Promise.resolve(true)),
};

/**
 * What the transform runs with source authentication: the frame signed in batches (one Ed25519 signature per four
 * frames, by a stream key the identity certified), SFrame over frame and chunk; the receiver, given the certificate
 * (by signaling) before the first frame, decrypts and verifies.
 */
function signedContexts(name: string, ed: Ed25519): Engine {
  return {
    name,
    async: true,
    async start() {
      const identity = await ed.streamKey();
      const stream = await ed.streamKey();
      const signer = new BatchSigner(stream.sign);
      const verifier = await certifiedVerifier(await ed.verifier(identity.publicKey), await certifyStreamKey(identity.sign, stream.publicKey), ed.verifier);
      const sender = new SframeSender({ kid: KID, baseKey: BASE_KEY });
      await sender.ready();
      const receiver = new SframeReceiver();
      receiver.addKey(KID, BASE_KEY);
      return {
        encrypt: async () => sender.encrypt(await signer.wrap(KID, sender.nextCounter, plainBytes)),
        async decrypt(frame) {
          const plain = await receiver.decrypt(frame);
          // A muted frame plays nothing: the check below wants the audio, so it is returned whatever.
          await verifier.accept(KID, decodeHeader(frame).counter, plain);
          return plain.subarray(0, plain.length - FRAME_SIG_CHUNK);
        },
      };
    },
  };
}

/**
 * Bare WebCrypto AES-GCM with the key imported once, without the contexts' header, nonce and replay bookkeeping; each
 * frame is a promise, awaited before the next as a transform would.
 */
const webCrypto: Engine = {
  name: 'WebCrypto alone, key imported once',
  async: true,
  async start() {
    const key = await crypto.subtle.importKey('raw', material.key as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return {
      async encrypt(counter) {
        const c = BigInt(counter);
        const header = new Uint8Array(headerLength(KID, c));
        writeHeader(header, KID, c);
        const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonceFor(c) as BufferSource, additionalData: header }, key, plainBytes as BufferSource);
        const frame = new Uint8Array(header.length + ct.byteLength);
        frame.set(header);
        frame.set(new Uint8Array(ct), header.length);
        return frame;
      },
      async decrypt(frame) {
        const header = decodeHeader(frame);
        const params = { name: 'AES-GCM', iv: nonceFor(header.counter) as BufferSource, additionalData: frame.subarray(0, header.length) };
        return new Uint8Array(await crypto.subtle.decrypt(params, key, frame.subarray(header.length) as BufferSource));
      },
    };
  },
};

const ENGINES = [
  nobleOneShot,
  webCrypto,
  sframeContexts,
  signedContexts('SframeSender/Receiver + frame signatures, WebCrypto Ed25519 (now)', webCryptoEd25519),
  signedContexts('SframeSender/Receiver + frame signatures, libsodium Ed25519', sodiumEd25519),
  signedContexts('SframeSender/Receiver + frame signatures, no Ed25519 (bookkeeping alone)', noEd25519),
];
let plainBytes = new Uint8Array(0);
let evictor = new Uint8Array(0);
let evictSum = 0;

function evict(): void {
  // Every 64-byte line, changed so the writes cannot be skipped.
  evictSum++;
  for (let i = 0; i < evictor.length; i += 64) evictor[i] = (evictor[i]! + evictSum) & 0xff;
}

function checkPlain(got: Uint8Array): void {
  if (got.length !== plainBytes.length || got.some((b, i) => b !== plainBytes[i])) throw new Error('decryption returned the wrong bytes');
}

/** Frames timed together in the warm runs (one at a time in the cold runs, as the transform times them). */
const WARM_BATCH = 20;

/** The mean without the slowest tenth: on a shared machine those are the batches the Worker was descheduled in. */
function trimmedMean(xs: number[]): number {
  const kept = [...xs].sort((a, b) => a - b).slice(0, Math.max(1, Math.ceil(xs.length * 0.9)));
  return kept.reduce((sum, x) => sum + x, 0) / kept.length;
}

/**
 * One round of `frames` frames each way, in µs per frame. Warm: batches of frames back to back (caches and
 * predictors hot, as in a loop). Cold: the cache-evicting write before every frame, each frame timed on its own.
 */
async function round(engine: Engine, frames: number, cold: boolean): Promise<{ encryptUs: number; decryptUs: number }> {
  const state = await engine.start();
  const batch = cold ? 1 : WARM_BATCH;
  const out: Uint8Array[] = [];
  const timeEach = async (op: (i: number) => Uint8Array | Promise<Uint8Array>): Promise<number> => {
    const perFrame: number[] = [];
    for (let i = 0; i < frames; i += batch) {
      if (cold) evict();
      const t = performance.now();
      for (let j = i; j < Math.min(frames, i + batch); j++) out.push(engine.async ? await op(j) : (op(j) as Uint8Array));
      perFrame.push(((performance.now() - t) * 1000) / (Math.min(frames, i + batch) - i));
    }
    return trimmedMean(perFrame);
  };
  const encryptUs = await timeEach((i) => state.encrypt(i));
  const frameList = out.splice(0);
  const decryptUs = await timeEach((i) => state.decrypt(frameList[i]!));
  for (const plain of out) checkPlain(plain);
  return { encryptUs, decryptUs };
}

/** Engines take turns round by round, so that a burst of load from elsewhere on the machine hits them all alike. */
async function run(request: WorkerBenchRequest): Promise<EngineResult[]> {
  plainBytes = new Uint8Array(request.frameBytes).map((_, i) => i);
  evictor = new Uint8Array(request.evictBytes);
  const results: EngineResult[] = [];
  for (const cache of ['warm', 'cold'] as const) {
    const rows = ENGINES.map((e) => ({ engine: e.name, cache, encryptUs: [] as number[], decryptUs: [] as number[] }));
    for (const engine of ENGINES) await round(engine, Math.min(200, request.frames), cache === 'cold');
    for (let r = 0; r < request.rounds; r++) {
      for (const [i, engine] of ENGINES.entries()) {
        const { encryptUs, decryptUs } = await round(engine, request.frames, cache === 'cold');
        rows[i]!.encryptUs.push(encryptUs);
        rows[i]!.decryptUs.push(decryptUs);
      }
    }
    results.push(...rows);
  }
  return results;
}

const scope = self as unknown as { onmessage: ((event: MessageEvent<WorkerBenchRequest>) => void) | null; postMessage(message: unknown): void };
scope.onmessage = (event) => {
  run(event.data).then(
    (results) => scope.postMessage({ results, isolated: crossOriginIsolated }),
    (error: Error) => scope.postMessage({ error: String(error.stack ?? error) }),
  );
};
