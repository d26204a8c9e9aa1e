// Source authentication in the E2EE Worker: this member's batch signer, and one verifier per received speaker stream
// holding the identity key the signed stage names for that participant (docs/protocol.md section 7, "Source authentication").
// Not the crypto barrel: this runs in the E2EE Worker, which must not carry libsodium (its WebAssembly) when WebCrypto
// signs Ed25519 natively; ed25519.ts loads libsodium on demand where it does not.
import { equalBytes } from '../../../crypto/bytes.ts';
import { ed25519Signer, ed25519Verifier } from '../../../crypto/ed25519.ts';
import { BatchSigner, BatchVerifier, type SourceCounters } from '../../../crypto/frame-signature.ts';

export interface SourceStatus extends SourceCounters {
  /** True while the speaker's frames do not play for want of proof. */
  sourceMuted: boolean;
  /** When a batch last failed its signature (performance.timeOrigin + now), or null. */
  forgedAt: number | null;
  /** Test builds only: the SFrame counters of its frames last played, oldest first. */
  played?: number[];
}

/** A receive stream's gate: each decrypted frame's audio if it may play, else null; frames one at a time, in order. */
export interface SourceGate {
  accept(kid: bigint, counter: bigint, plain: Uint8Array): Promise<Uint8Array | null>;
}

export class SourceAuth {
  private signer: Promise<BatchSigner> | null = null;
  private signingKey: Uint8Array | null = null;
  private readonly keys = new Map<string, Uint8Array>();
  private readonly verifiers = new Map<string, Promise<BatchVerifier>>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.timeOrigin + performance.now()) {
    this.now = now;
  }

  /** This member's identity signing key (libsodium's 64 bytes), and each participant's identity key by the stage. */
  setKeys(signSecretKey: Uint8Array | null, signKeys: Record<string, Uint8Array>): void {
    if (signSecretKey && !(this.signingKey && equalBytes(this.signingKey, signSecretKey))) {
      this.signingKey = signSecretKey;
      this.signer = ed25519Signer(signSecretKey).then((sign) => new BatchSigner(sign));
    }
    for (const [participantId, key] of Object.entries(signKeys)) this.keys.set(participantId, key);
  }

  /** The plaintext of an outgoing frame: it and its chunk of signature. Without a signing key, throws (fail closed). */
  async wrap(kid: bigint, counter: bigint, frame: Uint8Array): Promise<Uint8Array> {
    if (!this.signer) throw new Error('no signing key');
    return (await this.signer).wrap(kid, counter, frame);
  }

  get canSign(): boolean {
    return this.signer !== null;
  }

  /**
   * The gate of one receive stream from `participantId` (a reloaded speaker's new producer is a new stream, whose
   * counters start again): nothing plays while no key is known for the participant or its frames are not proved.
   */
  gate(participantId: string): SourceGate {
    let made: { key: Uint8Array; verifier: Promise<BatchVerifier> } | null = null;
    return {
      accept: async (kid, counter, plain) => {
        const key = this.keys.get(participantId);
        if (!key) return null;
        // A participant's key does not change under the same id (membership keeps the first keys verified): a
        // different one starts a new verifier, muted until it proves a batch.
        if (!made || !equalBytes(made.key, key)) {
          made = { key, verifier: ed25519Verifier(key).then((verify) => new BatchVerifier(verify, this.now)) };
          this.verifiers.set(participantId, made.verifier);
        }
        return (await made.verifier).accept(kid, counter, plain);
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
