// Messages between the page and the E2EE worker, written down once for both sides.
import type { ReceiveCounters, SendCounters } from './frame-keys.ts';
import type { SourceStatus } from './source-auth.ts';

export interface SetEpochMessage {
  type: 'set-epoch';
  epoch: number;
  epochSecret: Uint8Array;
  /** This member's sender index in the epoch; null for members who do not send. */
  senderIndex: number | null;
  /** Every member of the epoch (this one included): participant id -> its sender index in the epoch. */
  senders: Record<string, number>;
  /** The identity key's certificate of the Worker's stream key (stream-key.ts), with which frames are signed; null for members who do not send. */
  streamCertificate: Uint8Array | null;
  /** The identity key of each member of the epoch the page has verified, by participant id: frames must prove it. */
  signKeys: Record<string, Uint8Array>;
}

/** Whether this member may send: false while it cannot confirm its epoch is current (frames drop, counted). */
export interface SendAllowedMessage {
  type: 'send-allowed';
  allowed: boolean;
}

/** The createEncodedStreams fallback: the page transfers the streams, the worker pipes them as it would a transform. */
export interface LegacyStreamsMessage {
  type: 'legacy-streams';
  options: TransformOptions;
  readable: ReadableStream;
  writable: WritableStream;
}

/** Test builds only (capturePlaintext in e2ee.ts); a production worker ignores it. */
export interface CapturePlaintextMessage {
  type: 'capture-plaintext';
  frames: number;
}

export type ToWorker = SetEpochMessage | SendAllowedMessage | LegacyStreamsMessage | CapturePlaintextMessage;

/** Options given to RTCRtpScriptTransform (or with the legacy streams): which side, and whose track. */
export interface TransformOptions {
  side: 'send' | 'recv';
  /** The remote participant whose track a receiver carries: its frames must bear that participant's sender index. */
  participantId?: string;
  /** The certificate of the stream key a receiver's frames must be signed by, as the relay gave it with the producer. */
  streamCertificate?: Uint8Array | null;
}

/** Time spent inside SFrame by the transform, cumulative: what encryption costs per frame in this browser. */
export interface FrameCost {
  encryptMs: number;
  encrypted: number;
  decryptMs: number;
  decrypted: number;
}

export interface StatsMessage {
  type: 'stats';
  sent: SendCounters;
  received: Record<string, ReceiveCounters>;
  firstDecryptedAt: number | null;
  cost: FrameCost;
  /** Frame signatures of each speaker heard: verdicts, and whether it is muted for want of proof. */
  source: Record<string, SourceStatus>;
}

export interface PlaintextMessage {
  type: 'plaintext';
  frames: Uint8Array[];
}

/** The Worker's script is loaded and running: the join timeline marks when (join-timeline.ts). */
export interface ReadyMessage {
  type: 'ready';
}

/** The Worker's stream key for frame signatures, for the page to certify with the identity key; null if none could be made. */
export interface StreamKeyMessage {
  type: 'stream-key';
  publicKey: Uint8Array | null;
}

export type FromWorker = StatsMessage | PlaintextMessage | ReadyMessage | StreamKeyMessage;
