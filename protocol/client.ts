// The browser's side of signaling: typed requests with schema-checked replies, and schema-checked relay events.
import { z } from 'zod';
import { describeIssue, ERROR_CODES, SignalingError } from './errors.ts';
import { events, requests, type EventOf, type EventType, type ReplyOf, type RequestOf, type RequestType } from './messages.ts';

interface EmitterSocket {
  emit(event: string, payload: unknown, ack: (reply: unknown) => void): unknown;
  timeout?(ms: number): { emit(event: string, payload: unknown, ack: (err: Error | null, reply: unknown) => void): unknown };
}

interface ListenerSocket {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

export const REQUEST_TIMEOUT_MS = 15_000;

/** A reply the relay sent that does not fit the request's schema: the request fails as if the relay had refused it. */
export class MalformedReplyError extends SignalingError {
  constructor(type: RequestType, issue: string) {
    super('INTERNAL', `malformed reply from the relay to ${type}: ${issue}`);
    this.name = 'MalformedReplyError';
  }
}

/** An event the relay sent that does not fit its schema: dropped, never handed to the page. */
export class MalformedEventError extends Error {
  readonly type: EventType;
  constructor(type: EventType, issue: string) {
    super(`malformed ${type} event from the relay: ${issue}`);
    this.name = 'MalformedEventError';
    this.type = type;
  }
}

// The relay's own messages are short; a longer one is cut rather than shown whole.
const Acknowledgement = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.enum(ERROR_CODES), message: z.string().transform((m) => m.slice(0, 300)) }) }),
]);

/** Parses an acknowledgement and its data; anything that does not fit is a MalformedReplyError. */
export function parseReply<T extends RequestType>(type: T, reply: unknown): ReplyOf<T> {
  const ack = Acknowledgement.safeParse(reply);
  if (!ack.success) throw new MalformedReplyError(type, describeIssue(ack.error));
  if (!ack.data.ok) throw new SignalingError(ack.data.error.code, ack.data.error.message);
  const data = requests[type].reply.safeParse(ack.data.data);
  if (!data.success) throw new MalformedReplyError(type, describeIssue(data.error));
  return data.data as ReplyOf<T>;
}

export function request<T extends RequestType>(socket: EmitterSocket, type: T, payload: RequestOf<T>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<ReplyOf<T>> {
  return new Promise((resolve, reject) => {
    const settle = (reply: unknown) => {
      try {
        resolve(parseReply(type, reply));
      } catch (error) {
        reject(error);
      }
    };
    if (socket.timeout) {
      socket.timeout(timeoutMs).emit(type, payload, (err, reply) => {
        if (err) reject(new SignalingError('INTERNAL', `no answer from the relay to ${type} within ${timeoutMs / 1000} s`));
        else settle(reply);
      });
    } else socket.emit(type, payload, settle);
  });
}

/**
 * Listens for one relay event and calls `handler` only with a payload its schema accepts (unknown fields stripped);
 * anything else goes to `onInvalid` and no further. Returns a function that stops listening.
 */
export function onEvent<T extends EventType>(socket: ListenerSocket, type: T, handler: (payload: EventOf<T>) => void, onInvalid: (error: MalformedEventError) => void): () => void {
  const listener = (payload: unknown) => {
    const parsed = events[type].safeParse(payload);
    if (parsed.success) handler(parsed.data as EventOf<T>);
    else onInvalid(new MalformedEventError(type, describeIssue(parsed.error)));
  };
  socket.on(type, listener as (...args: unknown[]) => void);
  return () => socket.off(type, listener as (...args: unknown[]) => void);
}
