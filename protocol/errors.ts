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
  'MESSAGE_TOO_LARGE',
  'ROOM_LOCKED',
  'LINK_REVOKED',
  'IDENTITY_BANNED',
  'NOT_FOUND',
  'INVALID_STATE',
  'RELAY_DRAINING',
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

/** The first problem zod found, as `path: message`: names the field, never quotes the (untrusted) value. */
export function describeIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const path = issue.path.length ? issue.path.map(String).join('.') : 'message';
  return `${path}: ${issue.message}`;
}
