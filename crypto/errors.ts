// Typed errors of the crypto layer: each has a stable code; decrypting untrusted input throws nothing else.

export class CryptoError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

export class SframeError extends CryptoError {}

export class SframeHeaderError extends SframeError {
  constructor(message: string) {
    super('SFRAME_MALFORMED_HEADER', message);
  }
}

export class SframeUnknownKidError extends SframeError {
  readonly kid: bigint;
  constructor(kid: bigint) {
    super('SFRAME_UNKNOWN_KID', `no key for KID ${kid}`);
    this.kid = kid;
  }
}

export class SframeAuthError extends SframeError {
  constructor() {
    super('SFRAME_AUTH_FAILED', 'frame failed authentication');
  }
}

export class SframeReplayError extends SframeError {
  constructor(counter: bigint) {
    super('SFRAME_REPLAY', `counter ${counter} was already seen or is too old`);
  }
}

export class SframeCounterExhaustedError extends SframeError {
  constructor() {
    super('SFRAME_COUNTER_EXHAUSTED', 'the sender counter is exhausted; a new key is needed');
  }
}

export class RoomLinkError extends CryptoError {
  constructor(message: string) {
    super('ROOM_LINK_INVALID', message);
  }
}

export class MetadataError extends CryptoError {
  constructor(message: string) {
    super('METADATA_INVALID', message);
  }
}

export class AnnouncementError extends CryptoError {
  constructor(message: string) {
    super('ANNOUNCEMENT_INVALID', message);
  }
}

export class CommitError extends CryptoError {
  constructor(message: string) {
    super('COMMIT_INVALID', message);
  }
}

/** A genuine header that this member cannot open alone: its package has not come (yet), or it was left out. */
export class CommitNoKeyError extends CommitError {
  constructor() {
    super('this commit holds no key for me');
  }
}

export class DecisionError extends CryptoError {
  constructor(message: string) {
    super('DECISION_INVALID', message);
  }
}

export class RoomMessageError extends CryptoError {
  constructor(message: string) {
    super('ROOM_MESSAGE_INVALID', message);
  }
}
