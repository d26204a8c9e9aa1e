// Messages between the page and the E2EE worker, written down once for both sides.

export interface SetEpochMessage {
  type: 'set-epoch';
  epoch: number;
  epochSecret: Uint8Array;
  /** This member's sender index in the epoch; null for members who do not send. */
  senderIndex: number | null;
  /** A ratchet (a join): senders switch at once, since every member can follow it. */
  ratchet: boolean;
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

export type ToWorker = SetEpochMessage | LegacyStreamsMessage | CapturePlaintextMessage;

/** Options given to RTCRtpScriptTransform (or with the legacy streams): which side, and whose track. */
export interface TransformOptions {
  side: 'send' | 'recv';
  /** The remote participant a receiver belongs to (for per-speaker counters). */
  participantId?: string;
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
  sent: { encrypted: number; droppedNoKey: number };
  received: Record<string, { decrypted: number; dropped: number; lastError: string | null }>;
  firstDecryptedAt: number | null;
  cost: FrameCost;
}

export interface PlaintextMessage {
  type: 'plaintext';
  frames: Uint8Array[];
}

export type FromWorker = StatsMessage | PlaintextMessage;
