// Source authentication in the E2EE Worker: this member's stream key and batch signer, and one verifier per received
// speaker stream holding the identity key the signed stage names for that participant (docs/protocol.md section 7,
// "Source authentication"). The identity secret never comes here: the page certifies this Worker's stream key with it.
// Not the crypto barrel: this runs in the E2EE Worker, which must not carry libsodium (its WebAssembly) when WebCrypto
// signs Ed25519 natively; ed25519.ts loads libsodium on demand where it does not.
import { equalBytes } from '../../../crypto/bytes.ts';
import { ed25519StreamKey, ed25519Verifier } from '../../../crypto/ed25519.ts';
import { BatchSigner, type BatchVerifier, type SourceCounters } from '../../../crypto/frame-signature.ts';
import { certifiedVerifier } from '../../../crypto/stream-key.ts';

export interface SourceStatus extends SourceCounters {
  /** True while the speaker's frames do not play for want of proof. */
  sourceMuted: boolean;
  /** When a batch last failed its signature (performance.timeOrigin + now), or null. */
  forgedAt: number | null;
  /** Test builds only: the SFrame counters of its frames last played, oldest first. */
  played?: number[];
}

/**
 * A receive stream's gate: each decrypted frame's audio if it may play, else null; frames one at a time, in order. A
 * promise only while its verifier is being made or a batch's signature is being checked.
 */
export interface SourceGate {
  accept(kid: bigint, counter: bigint, plain: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
}

export class SourceAuth {
  /** This Worker's stream key, made once: every frame it sends is signed by it, whatever the epoch. */
  private readonly stream = ed25519StreamKey();
  private signer: { certificate: Uint8Array; batches: BatchSigner } | null = null;
  private readonly keys = new Map<string, Uint8Array>();
  private readonly verifiers = new Map<string, Promise<BatchVerifier>>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.timeOrigin + performance.now()) {
    this.now = now;
  }

  /** The stream key's public half, for the page to certify; null if this platform could not make one. */
  get streamPublicKey(): Promise<Uint8Array | null> {
    return this.stream.then((k) => k.publicKey).catch(() => null);
  }

  /**
   * The page's certificate of this Worker's stream key (identity-signed), and each participant's identity key by the
   * stage. A certificate of another key is ignored: frames it would name could never verify, so nothing is sent.
   */
  setKeys(certificate: Uint8Array | null, signKeys: Record<string, Uint8Array>): void {
    if (certificate && !(this.signer && equalBytes(this.signer.certificate, certificate))) {
      void this.stream.then((k) => {
        if (equalBytes(k.publicKey, certificate.subarray(0, 32))) this.signer = { certificate, batches: new BatchSigner(k.sign) };
      });
    }
    for (const [participantId, key] of Object.entries(signKeys)) this.keys.set(participantId, key);
  }

  /** The plaintext of an outgoing frame: it and its chunk of signature. Without a certified key, throws (fail closed). */
  async wrap(kid: bigint, counter: bigint, frame: Uint8Array): Promise<Uint8Array> {
    if (!this.signer) throw new Error('no certified stream key');
    return this.signer.batches.wrap(kid, counter, frame);
  }

  get canSign(): boolean {
    return this.signer !== null;
  }

  /**
   * The gate of one receive stream from `participantId` (a reloaded speaker's new producer is a new stream, whose
   * counters start again), with the certificate its producer came with (null if the relay gave none): nothing plays
   * while no key is known for the participant or its frames are not proved.
   */
  gate(participantId: string, certificate: Uint8Array | null): SourceGate {
    let made: { key: Uint8Array; verifier: Promise<BatchVerifier>; ready: BatchVerifier | null } | null = null;
    return {
      accept: (kid, counter, plain) => {
        const key = this.keys.get(participantId);
        if (!key) return null;
        // A participant's key does not change under the same id (membership keeps the first keys verified): a
        // different one starts a new verifier. Made at the stream's first frame, so that it starts from what the
        // speaker's stream before it still owed then: a relay offering a new stream does not wipe a penalty.
        if (!made || !equalBytes(made.key, key)) {
          const before = this.verifiers.get(participantId);
          const verifier = Promise.all([ed25519Verifier(key), before?.then((v) => v.owed) ?? 0]).then(([identity, owed]) => certifiedVerifier(identity, certificate, ed25519Verifier, this.now, owed));
          const current = { key, verifier, ready: null as BatchVerifier | null };
          made = current;
          this.verifiers.set(participantId, verifier);
          return verifier.then((v) => (current.ready = v).accept(kid, counter, plain));
        }
        // Once made, frames go to the verifier without a promise of their own (most frames need none).
        return made.ready ? made.ready.accept(kid, counter, plain) : made.verifier.then((v) => v.accept(kid, counter, plain));
      },
    };
  }

  /** The state of the latest stream of each speaker heard, for the page. */
  async status(): Promise<Record<string, SourceStatus>> {
    const out: Record<string, SourceStatus> = {};
    for (const [participantId, verifier] of this.verifiers) {
      const v = await verifier;
      out[participantId] = { ...v.counters, sourceMuted: v.muted, forgedAt: v.forgedAt };
    }
    return out;
  }
}
