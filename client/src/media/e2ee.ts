// The page side of end-to-end encryption: one Worker holding the keys, attached to every sender and receiver.
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
  private readonly worker = new Worker(new URL('./e2ee-worker.ts', import.meta.url), { type: 'module', name: 'teahouse-e2ee' });
  private readonly mode = transformSupport();
  private plaintextWaiter: ((frames: Uint8Array[]) => void) | null = null;

  constructor(onStats: (stats: StatsMessage) => void) {
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === 'stats') onStats(message);
      else if (message.type === 'plaintext') this.plaintextWaiter?.(message.frames);
    };
  }

  /** RTCConfiguration the transports need for the legacy API (ignored where the standard one exists). */
  static peerConnectionSettings(): Partial<RTCConfiguration> {
    return transformSupport() === 'encoded-streams' ? ({ encodedInsertableStreams: true } as Partial<RTCConfiguration>) : {};
  }

  get supported(): boolean {
    return this.mode !== null;
  }

  /** `senders`: every member of the epoch, me included, by participant id -> sender index in that epoch. */
  setEpoch(epoch: number, epochSecret: Uint8Array, senderIndex: number | null, senders: Record<string, number>): void {
    this.post({ type: 'set-epoch', epoch, epochSecret, senderIndex, senders });
  }

  /** False while this member cannot confirm that its epoch is current: the worker drops every outgoing frame. */
  setSendAllowed(allowed: boolean): void {
    this.post({ type: 'send-allowed', allowed });
  }

  attachSender(sender: RTCRtpSender): void {
    this.attach(sender, { side: 'send' });
  }

  attachReceiver(receiver: RTCRtpReceiver, participantId: string): void {
    this.attach(receiver, { side: 'recv', participantId });
  }

  /** Diagnostics: the next frames the sender sees before encryption (they stay in this page). */
  capturePlaintext(frames: number): Promise<Uint8Array[]> {
    return new Promise((resolve) => {
      this.plaintextWaiter = resolve;
      this.post({ type: 'capture-plaintext', frames });
    });
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

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }
}
