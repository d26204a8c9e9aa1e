// The browser's side of signaling: typed requests over socket.io acknowledgements, with a timeout.
import { SignalingError, type ErrorCode } from './errors.ts';
import type { Ack, ReplyOf, RequestOf, RequestType } from './messages.ts';

interface EmitterSocket {
  emit(event: string, payload: unknown, ack: (reply: unknown) => void): unknown;
  timeout?(ms: number): { emit(event: string, payload: unknown, ack: (err: Error | null, reply: unknown) => void): unknown };
}

export const REQUEST_TIMEOUT_MS = 15_000;

export function request<T extends RequestType>(socket: EmitterSocket, type: T, payload: RequestOf<T>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<ReplyOf<T>> {
  return new Promise((resolve, reject) => {
    const settle = (reply: unknown) => {
      const ack = reply as Ack<ReplyOf<T>>;
      if (ack && ack.ok === true) resolve(ack.data);
      else if (ack && ack.ok === false) reject(new SignalingError(ack.error.code as ErrorCode, ack.error.message));
      else reject(new SignalingError('INTERNAL', 'malformed reply from the relay'));
    };
    if (socket.timeout) {
      socket.timeout(timeoutMs).emit(type, payload, (err, reply) => {
        if (err) reject(new SignalingError('INTERNAL', `no answer from the relay to ${type} within ${timeoutMs / 1000} s`));
        else settle(reply);
      });
    } else socket.emit(type, payload, settle);
  });
}
