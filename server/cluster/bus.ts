// Requests and replies between relays, addressed by relay id, carried by the socket.io Redis adapter's stream.
import type { Server as SocketServer } from 'socket.io';
import { z } from 'zod';
import { ERROR_CODES, SignalingError } from '../../protocol/errors.ts';

const EVENT = 'teahouse:relay';
const TIMEOUT_MS = 5_000;

const message = z.union([
  z.object({ to: z.string(), from: z.string(), id: z.number().int(), op: z.string().max(64), body: z.unknown() }),
  z.object({
    to: z.string(),
    from: z.string(),
    id: z.number().int(),
    reply: z.union([
      z.object({ ok: z.literal(true), data: z.unknown() }),
      z.object({ ok: z.literal(false), error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }) }),
    ]),
  }),
]);

/** What a relay answers to another relay's request; a thrown SignalingError goes back as that error. */
export type BusHandler = (from: string, body: unknown) => unknown;

export class RelayUnavailableError extends SignalingError {
  constructor() {
    super('INTERNAL', 'the relay holding this room did not answer; try again');
    this.name = 'RelayUnavailableError';
  }
}

/**
 * Relay-to-relay requests ride the adapter's server-side emits (Redis pub/sub in the streams adapter), room events
 * its stream: the two are not ordered with each other, so a reply carries in itself the events that must follow it.
 */
export class RelayBus {
  private nextId = 1;
  private readonly pending = new Map<number, { to: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly handlers = new Map<string, BusHandler>();

  private readonly io: SocketServer;
  readonly relayId: string;
  private readonly onInternalError: (op: string, error: Error) => void;

  constructor(io: SocketServer, relayId: string, onInternalError: (op: string, error: Error) => void) {
    this.io = io;
    this.relayId = relayId;
    this.onInternalError = onInternalError;
    io.on(EVENT, (raw: unknown) => this.receive(raw));
  }

  handle(op: string, handler: BusHandler): void {
    this.handlers.set(op, handler);
  }

  request<T = unknown>(to: string, op: string, body: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RelayUnavailableError());
      }, TIMEOUT_MS);
      timer.unref();
      this.pending.set(id, { to, resolve: resolve as (v: unknown) => void, reject, timer });
      this.io.serverSideEmit(EVENT, { to, from: this.relayId, id, op, body });
    });
  }

  /** A notice that needs no answer (a producer closed, a pipe is no longer needed). */
  tell(to: string, op: string, body: unknown): void {
    this.io.serverSideEmit(EVENT, { to, from: this.relayId, id: 0, op, body });
  }

  /** A relay died: requests waiting for its answer fail now rather than at their timeout. */
  abandon(relay: string): void {
    for (const [id, { to, reject, timer }] of this.pending) {
      if (to !== relay) continue;
      clearTimeout(timer);
      this.pending.delete(id);
      reject(new RelayUnavailableError());
    }
  }

  close(): void {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new RelayUnavailableError());
    }
    this.pending.clear();
    this.io.removeAllListeners(EVENT);
  }

  private receive(raw: unknown): void {
    const parsed = message.safeParse(raw);
    if (!parsed.success || parsed.data.to !== this.relayId) return;
    const msg = parsed.data;
    if ('reply' in msg) {
      const waiting = this.pending.get(msg.id);
      if (!waiting) return;
      this.pending.delete(msg.id);
      clearTimeout(waiting.timer);
      if (msg.reply.ok) waiting.resolve(msg.reply.data);
      else waiting.reject(new SignalingError(msg.reply.error.code, msg.reply.error.message));
      return;
    }
    const answer = (reply: { ok: true; data: unknown } | { ok: false; error: { code: string; message: string } }) => {
      if (msg.id !== 0) this.io.serverSideEmit(EVENT, { to: msg.from, from: this.relayId, id: msg.id, reply });
    };
    const handler = this.handlers.get(msg.op);
    if (!handler) return answer({ ok: false, error: { code: 'UNKNOWN_MESSAGE', message: `unknown relay request "${msg.op}"` } });
    Promise.resolve()
      .then(() => handler(msg.from, msg.body))
      .then(
        (data) => answer({ ok: true, data: data ?? {} }),
        (error: Error) => {
          if (error instanceof SignalingError) return answer({ ok: false, error: { code: error.code, message: error.message } });
          if (error instanceof z.ZodError) return answer({ ok: false, error: { code: 'BAD_REQUEST', message: `${msg.op}: malformed` } });
          this.onInternalError(msg.op, error);
          answer({ ok: false, error: { code: 'INTERNAL', message: 'the relay could not complete this request' } });
        },
      );
  }
}
