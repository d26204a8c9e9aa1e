// The E2EE Worker: SFrame-encrypts outgoing and decrypts incoming encoded Opus frames; keys never leave it.
import { initCrypto } from '../../../crypto/index.ts';
import type { FrameCost, FromWorker, ToWorker, TransformOptions } from './e2ee-messages.ts';
import { FrameKeys } from './frame-keys.ts';

/** The parts of the Worker scope this file uses; the DOM library has no RTCTransformEvent for Workers. */
interface TransformEvent {
  transformer: { readable: ReadableStream; writable: WritableStream; options: unknown };
}
const scope = self as unknown as {
  onrtctransform: ((event: TransformEvent) => void) | null;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};

interface EncodedFrame {
  data: ArrayBuffer;
}

const keys = new FrameKeys();
const ready = initCrypto();
/** Test builds only: frames to hand to the page before encryption (the privacy test checks them against the wire). */
let capture: { remaining: number; frames: Uint8Array[] } | null = null;
let firstDecryptedAt: number | null = null;
// The page is cross-origin isolated (COOP + COEP), so performance.now() here is fine-grained enough to sum per frame.
const cost: FrameCost = { encryptMs: 0, encrypted: 0, decryptMs: 0, decrypted: 0 };

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function transformer(options: TransformOptions): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream<EncodedFrame, EncodedFrame>({
    async start() {
      await ready;
    },
    transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (options.side === 'send') {
        if (__TEAHOUSE_TEST_BUILD__ && capture) {
          capture.frames.push(data.slice());
          if (--capture.remaining === 0) {
            post({ type: 'plaintext', frames: capture.frames });
            capture = null;
          }
        }
        const started = performance.now();
        const out = keys.encrypt(data);
        if (!out) return;
        cost.encryptMs += performance.now() - started;
        cost.encrypted++;
        frame.data = out.buffer.byteLength === out.byteLength ? (out.buffer as ArrayBuffer) : out.slice().buffer;
        controller.enqueue(frame);
      } else {
        const started = performance.now();
        const plain = keys.decrypt(options.participantId ?? 'unknown', data);
        if (!plain) return;
        cost.decryptMs += performance.now() - started;
        cost.decrypted++;
        firstDecryptedAt ??= performance.timeOrigin + performance.now();
        frame.data = plain.byteLength === plain.buffer.byteLength ? (plain.buffer as ArrayBuffer) : plain.slice().buffer;
        controller.enqueue(frame);
      }
    },
  });
}

function pipe(readable: ReadableStream, writable: WritableStream, options: TransformOptions): void {
  readable.pipeThrough(transformer(options)).pipeTo(writable).catch(() => undefined);
}

scope.onrtctransform = (event) => {
  const t = event.transformer;
  pipe(t.readable, t.writable, t.options as TransformOptions);
};

scope.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  await ready;
  if (__TEAHOUSE_TEST_BUILD__ && message.type === 'capture-plaintext') {
    capture = { remaining: message.frames, frames: [] };
    return;
  }
  switch (message.type) {
    case 'set-epoch':
      keys.setEpoch(message.epoch, message.epochSecret, message.senderIndex, message.ratchet);
      break;
    case 'legacy-streams':
      pipe(message.readable, message.writable, message.options);
      break;
  }
};

setInterval(() => {
  keys.tick();
  post({ type: 'stats', sent: { ...keys.sent }, received: Object.fromEntries(keys.received), firstDecryptedAt, cost: { ...cost } });
}, 250);
