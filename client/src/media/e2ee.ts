// The page side of end-to-end encryption: one Worker holding the keys, attached to every sender and receiver.
import { ed25519Signer } from '../../../crypto/ed25519.ts';
import { certifyStreamKey } from '../../../crypto/stream-key.ts';
import { markJoin } from './join-timeline.ts';
import type { FromWorker, StatsMessage, ToWorker, TransformOptions } from './e2ee-messages.ts';

type LegacyStreams = { readable: ReadableStream; writable: WritableStream };
type LegacySender = RTCRtpSender & { createEncodedStreams(): LegacyStreams };
type LegacyReceiver = RTCRtpReceiver & { createEncodedStreams(): LegacyStreams };

/** Which encoded-transform API this browser has; without either, audio cannot be encrypted and is not sent. */
export function transformSupport(): 'script-transform' | 'encoded-streams' | null {
  if (typeof RTCRtpScriptTransform !== 'undefined') return 'script-transform';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'encoded-streams';
  return null;
}

export class E2eeChannel {
  /** Read by capturePlaintext (test builds) only; nothing else talks to the worker behind this class. */
  readonly worker = new Worker(new URL('./e2ee-worker.ts', import.meta.url), { type: 'module', name: 'teahouse-e2ee' });
  private readonly mode = transformSupport();
  /** The Worker's stream key, which the page certifies with the identity key (the Worker never holds the latter). */
  private readonly streamKey: Promise<Uint8Array | null>;
  private certified: { secretKey: Uint8Array; certificate: Promise<Uint8Array | null> } | null = null;
  /** Messages that wait for a certificate keep their order with those that do not. */
  private queue: Promise<void> = Promise.resolve();

  constructor(onStats: (stats: StatsMessage) => void) {
    let gotStreamKey: (key: Uint8Array | null) => void = () => undefined;
    this.streamKey = new Promise((resolve) => (gotStreamKey = resolve));
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === 'stats') onStats(event.data);
      else if (event.data.type === 'ready') markJoin('worker-ready');
      else if (event.data.type === 'stream-key') gotStreamKey(event.data.publicKey);
    };
  }

  /** RTCConfiguration the transports need for the legacy API (ignored where the standard one exists). */
  static peerConnectionSettings(): Partial<RTCConfiguration> {
    return transformSupport() === 'encoded-streams' ? ({ encodedInsertableStreams: true } as Partial<RTCConfiguration>) : {};
  }

  get supported(): boolean {
    return this.mode !== null;
  }

  /**
   * `senders`: every member of the epoch, me included, by participant id -> sender index in that epoch; `signKeys`:
   * their verified identity keys, by participant id; `signSecretKey`: mine, which certifies the Worker's stream key
   * here in the page (it does not go to the Worker).
   */
  setEpoch(epoch: number, epochSecret: Uint8Array, senderIndex: number | null, senders: Record<string, number>, signKeys: Record<string, Uint8Array>, signSecretKey: Uint8Array | null): void {
    const certificate = signSecretKey ? this.certify(signSecretKey) : Promise.resolve(null);
    this.inOrder(async () => this.post({ type: 'set-epoch', epoch, epochSecret, senderIndex, senders, signKeys, streamCertificate: await certificate }));
  }

  /** False while this member cannot confirm that its epoch is current: the worker drops every outgoing frame. */
  setSendAllowed(allowed: boolean): void {
    this.inOrder(async () => this.post({ type: 'send-allowed', allowed }));
  }

  attachSender(sender: RTCRtpSender): void {
    this.attach(sender, { side: 'send' });
  }

  /** `streamCertificate`: what the relay gave with the producer (null if nothing); the Worker checks it before any frame plays. */
  attachReceiver(receiver: RTCRtpReceiver, participantId: string, streamCertificate: Uint8Array | null): void {
    this.attach(receiver, { side: 'recv', participantId, streamCertificate });
  }

  close(): void {
    this.worker.terminate();
  }

  private attach(target: RTCRtpSender | RTCRtpReceiver, options: TransformOptions): void {
    if (this.mode === 'script-transform') {
      target.transform = new RTCRtpScriptTransform(this.worker, options);
    } else if (this.mode === 'encoded-streams') {
      const { readable, writable } = (target as LegacySender | LegacyReceiver).createEncodedStreams();
      this.worker.postMessage({ type: 'legacy-streams', options, readable, writable } satisfies ToWorker, [readable, writable]);
    } else {
      throw new Error('no encoded transform support');
    }
  }

  /**
   * The certificate of the Worker's stream key under the identity whose secret is `secretKey`, which the producer is
   * made with. Made once per identity: the Worker's stream key lives as long as the Worker. Null (nothing sent) if it fails.
   */
  certify(secretKey: Uint8Array): Promise<Uint8Array | null> {
    if (this.certified?.secretKey !== secretKey) {
      const certificate = this.streamKey.then(async (publicKey) => (publicKey ? certifyStreamKey(await ed25519Signer(secretKey), publicKey) : null)).catch(() => null);
      this.certified = { secretKey, certificate };
    }
    return this.certified.certificate;
  }

  private inOrder(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch(() => undefined);
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }
}

/**
 * Test builds only: the next frames the sender sees before encryption (they stay in this page). A function, not a
 * method, so that a production bundle, which never calls it, does not contain it.
 */
export function capturePlaintext(channel: E2eeChannel, frames: number): Promise<Uint8Array[]> {
  const { worker } = channel;
  return new Promise((resolve) => {
    const listener = (event: MessageEvent<FromWorker>) => {
      if (event.data.type !== 'plaintext') return;
      worker.removeEventListener('message', listener);
      resolve(event.data.frames);
    };
    worker.addEventListener('message', listener);
    worker.postMessage({ type: 'capture-plaintext', frames } satisfies ToWorker);
  });
}
