// One socket.io connection: validates every message against its schema, rate-limits, and replies with stable error codes.
import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import { describeIssue, SignalingError } from '../../protocol/errors.ts';
import { requests, type Ack, type RequestType } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Session } from './session.ts';

export type MessageObserver = (event: string, payload: unknown) => void;

/** Counts each request by its result: the composition root passes its Prometheus counter. */
interface MessageCounter {
  inc(labels: { result: string }): void;
}

/** Where a validated request goes: the room service itself (rooms/requests.ts), or in cluster mode the relay that holds its room. */
export interface Dispatcher {
  dispatch(session: Session, type: RequestType, payload: unknown): unknown;
  disconnected(session: Session): void;
}

export function attachConnection(socket: Socket, deps: { config: RelayConfig; log: Logger; metrics: { messages: MessageCounter }; observe?: MessageObserver; dispatcher: Dispatcher; draining?: () => boolean }): void {
  const { config, log, metrics, observe, dispatcher, draining } = deps;
  const session: Session = { socket, participant: null, room: null, roomCreations: [], afterReply: null };
  const bucket = new TokenBucket(config.messagesPerSecond, config.messageBurst);
  // Requests of one connection run one at a time, in order: no interleaving of join, produce and leave.
  let queue: Promise<void> = Promise.resolve();

  socket.onAny((event: string, ...args: unknown[]) => {
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (reply: Ack<unknown>) => void) : null;
    const payload = args[0];
    observe?.(event, payload);
    const fail = (error: SignalingError) => {
      metrics.messages.inc({ result: error.code });
      // By code only, so that LOG_LEVEL=debug shows what goes wrong without anything a client sent.
      log.debug({ code: error.code, type: Object.hasOwn(requests, event) ? event : 'unknown' }, 'request refused');
      const body = { code: error.code, message: error.message };
      if (ack) ack({ ok: false, error: body });
      else socket.emit('error', body);
    };
    if (!bucket.take()) return fail(new SignalingError('RATE_LIMITED', `slow down: at most ${config.messagesPerSecond} messages per second`));
    if (!Object.hasOwn(requests, event)) return fail(new SignalingError('UNKNOWN_MESSAGE', `unknown message type "${String(event).slice(0, 64)}"`));
    const type = event as RequestType;
    const parsed = requests[type].request.safeParse(payload ?? {});
    if (!parsed.success) return fail(new SignalingError('BAD_REQUEST', `${type}: ${describeIssue(parsed.error)}`));
    if (!ack) return fail(new SignalingError('BAD_REQUEST', `${type} needs an acknowledgement callback`));
    // A stopping relay takes no new rooms or members; those already here stay until their rooms are handed over.
    const newcomer = type === 'room.create' || (type === 'room.join' && !session.participant && !(parsed.data as { resumeToken?: string }).resumeToken);
    if (newcomer && draining?.()) return fail(new SignalingError('RELAY_DRAINING', 'this relay is stopping: reload to reach another'));
    queue = queue.then(async () => {
      try {
        const data = await dispatcher.dispatch(session, type, parsed.data);
        metrics.messages.inc({ result: 'ok' });
        ack({ ok: true, data });
        session.afterReply?.();
      } catch (error) {
        if (error instanceof SignalingError) return fail(error);
        // The error's name only: mediasoup's messages can quote ids and parameters from the request.
        log.error({ err: (error as Error).name, type }, 'request failed');
        fail(new SignalingError('INTERNAL', 'the relay could not complete this request'));
      } finally {
        session.afterReply = null;
      }
    });
  });

  socket.on('disconnect', () => {
    queue = queue.then(() => dispatcher.disconnected(session));
  });
}
