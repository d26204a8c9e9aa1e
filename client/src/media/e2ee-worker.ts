// The E2EE Worker: SFrame-encrypts outgoing and decrypts incoming encoded Opus frames; keys never leave it.
import type { FrameCost, FromWorker, ToWorker, TransformOptions } from './e2ee-messages.ts';
import { FrameKeys, type FrameReceiveStream } from './frame-keys.ts';
import { SourceAuth } from './source-auth.ts';

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
const source = new SourceAuth();
/** Test builds only: SFrame plaintexts to hand to the page (the privacy test checks them against the wire). */
let capture: { remaining: number; frames: Uint8Array[] } | null = null;
let firstDecryptedAt: number | null = null;
/** Test builds only: the SFrame counters of the frames last played, per speaker (the splice test checks its bound). */
const played = new Map<string, number[]>();
const PLAYED_KEPT = 512;
// The page is cross-origin isolated (COOP + COEP), so performance.now() here is fine-grained enough to sum per frame.
const cost: FrameCost = { encryptMs: 0, encrypted: 0, decryptMs: 0, decrypted: 0 };

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function toBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer;
}

function sendTransformer(): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream<EncodedFrame, EncodedFrame>({
    // Awaited: the stream hands over the next frame only when this one is enqueued, so frames keep their order.
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      const started = performance.now();
      // Without its certified stream key a member sends nothing: every listener would mute an unsigned frame anyway.
      if (!source.canSign) {
        keys.sent.droppedNoKey++;
        return;
      }
      let plaintext: Uint8Array | null = null;
      const out = await keys.encrypt(data, async (kid, counter, audio) => (plaintext = await source.wrap(kid, counter, audio)));
      if (!out) return;
      cost.encryptMs += performance.now() - started;
      cost.encrypted++;
      // The SFrame plaintext as sent: the encoder's frame and its chunk of signature.
      if (__TEAHOUSE_TEST_BUILD__ && capture && plaintext) {
        capture.frames.push(plaintext);
        if (--capture.remaining === 0) {
          post({ type: 'plaintext', frames: capture.frames });
          capture = null;
        }
      }
      frame.data = toBuffer(out);
      controller.enqueue(frame);
    },
  });
}

/**
 * Frames of an epoch whose commit is still on its way wait in FrameKeys and are enqueued when it arrives, ahead of any
 * frame that came after them (FrameKeys handles a stream's frames one at a time).
 */
function receiveTransformer(participantId: string, certificate: Uint8Array | null): { stream: TransformStream<EncodedFrame, EncodedFrame>; close(): void } {
  let receiver: FrameReceiveStream<EncodedFrame> | null = null;
  const gate = source.gate(participantId, certificate);
  // Signature checks are asynchronous: one chain keeps the stream's frames in order through them.
  let gated: Promise<void> = Promise.resolve();
  /** When the last frame's plaintext was ready, before it went downstream: the cost is SFrame's, not the pipeline's. */
  let decryptedAt = 0;
  const close = () => receiver?.close();
  const stream = new TransformStream<EncodedFrame, EncodedFrame>({
    start(controller) {
      receiver = keys.openReceiver<EncodedFrame>(participantId, (frame, plain, kid, counter) => {
        gated = gated
          .catch(() => undefined)
          .then(async () => {
            const audio = await gate.accept(kid, counter, plain);
            decryptedAt = performance.now();
            if (!audio) return;
            if (__TEAHOUSE_TEST_BUILD__) {
              const list = played.get(participantId) ?? [];
              played.set(participantId, list);
              list.push(Number(counter));
              if (list.length > PLAYED_KEPT) list.shift();
            }
            frame.data = toBuffer(audio);
            firstDecryptedAt ??= performance.timeOrigin + performance.now();
            try {
              controller.enqueue(frame);
            } catch {
              // The track ended while the frame was held.
              close();
            }
          });
      });
    },
    async transform(frame) {
      // Only frames played at once count towards the cost: a held frame's time would include its wait. As on the
      // sending side, the frame's bytes are read before and written after the timed part.
      const data = new Uint8Array(frame.data);
      const started = performance.now();
      const fate = await receiver!.push(frame, data);
      await gated;
      if (fate === 'played') {
        cost.decryptMs += decryptedAt - started;
        cost.decrypted++;
      }
    },
    flush: close,
  });
  return { stream, close };
}

function pipe(readable: ReadableStream, writable: WritableStream, options: TransformOptions): void {
  if (options.side === 'send') {
    readable
      .pipeThrough(sendTransformer())
      .pipeTo(writable)
      .catch(() => undefined);
    return;
  }
  const { stream, close } = receiveTransformer(options.participantId ?? 'unknown', options.streamCertificate ?? null);
  readable.pipeThrough(stream).pipeTo(writable).catch(close);
}

scope.onrtctransform = (event) => {
  const t = event.transformer;
  pipe(t.readable, t.writable, t.options as TransformOptions);
};

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (__TEAHOUSE_TEST_BUILD__ && message.type === 'capture-plaintext') {
    capture = { remaining: message.frames, frames: [] };
    return;
  }
  switch (message.type) {
    case 'set-epoch':
      // Not awaited: the held frames it releases are enqueued by their streams.
      source.setKeys(message.streamCertificate, message.signKeys);
      void keys.setEpoch(message.epoch, message.epochSecret, message.senderIndex, message.senders);
      break;
    case 'send-allowed':
      keys.setSendAllowed(message.allowed);
      break;
    case 'legacy-streams':
      pipe(message.readable, message.writable, message.options);
      break;
  }
};

setInterval(() => {
  keys.tick();
  void source.status().then((status) => {
    if (__TEAHOUSE_TEST_BUILD__) for (const [participantId, counters] of played) if (status[participantId]) status[participantId].played = counters;
    post({ type: 'stats', sent: { ...keys.sent }, received: Object.fromEntries(keys.received), firstDecryptedAt, cost: { ...cost }, source: status });
  });
}, 250);

// Loaded and ready for keys and frames: the join timeline marks when (join-timeline.ts).
post({ type: 'ready' });
void source.streamPublicKey.then((publicKey) => post({ type: 'stream-key', publicKey }));
