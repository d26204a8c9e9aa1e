// Stable error codes of the signaling protocol, and the error value a failed request rejects with.

export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNKNOWN_MESSAGE',
  'NOT_IN_ROOM',
  'ALREADY_IN_ROOM',
  'ROOM_NOT_FOUND',
  'ROOM_EXISTS',
  'ROOM_FULL',
  'TOO_MANY_ROOMS',
  'STAGE_FULL',
  'FORBIDDEN',
  'RATE_LIMITED',
  'ROOM_LOCKED',
  'LINK_REVOKED',
  'IDENTITY_BANNED',
  'NOT_FOUND',
  'INVALID_STATE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SignalingError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'SignalingError';
  }
}
