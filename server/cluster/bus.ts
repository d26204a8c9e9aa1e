// Requests, replies and notices between relays, addressed by relay id: each relay reads only its own channel and stream.
import { z } from 'zod';
import { ERROR_CODES, SignalingError } from '../../protocol/errors.ts';
import type { RedisClient } from './redis.ts';

const TIMEOUT_MS = 5_000;
/** Entries a relay's inbox keeps (trimmed approximately): far more than a relay reads behind, even in a Redis hiccup. */
const INBOX_LENGTH = 10_000;
/**
 * An inbox outlives its relay's last refresh by this many heartbeats: more than a relay's directory entry (three) and
 * the two looks after it that make its peers give it up for dead. A relay that is only late (a long pause, a busy
 * machine) loses no notice told meanwhile, where writes to an expired inbox would drop them (NOMKSTREAM): a key
 * package lost so leaves its member without keys. Peers stop telling a relay they gave up for dead, so what a dead
 * relay's inbox takes meanwhile is bounded, and trimmed.
 */
export const INBOX_BEATS = 10;
/** Entries read at once: a burst of events for one relay costs one round trip per this many. */
const READ_COUNT = 256;
/** A blocked read returns this often even when nothing came, so that a stopping relay's reader ends. */
const BLOCK_MS = 1_000;

export const inboxKey = (relayId: string): string => `teahouse:inbox:${relayId}`;
const channelOf = (relayId: string): string => `teahouse:bus:${relayId}`;

const message = z.union([
  z.object({ to: z.string(), from: z.string(), id: z.number().int(), op: z.string().max(64), body: z.unknown() }),
  z.object({
    to: z.string(),
    from: z.string(),
    id: z.number().int(),
    reply: z.union([z.object({ ok: z.literal(true), data: z.unknown() }), z.object({ ok: z.literal(false), error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }) })]),
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

/** Messages and bytes this relay wrote to other relays' inboxes and read from its own (metrics, the cluster bench). */
export interface BusTraffic {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
}

/**
 * Every relay has a channel and an inbox of its own, which only it reads (docs/architecture.md, "Why a channel and a
 * stream per relay"), so a message for one relay costs one write and one read whatever the cluster's size.
 * Requests and replies go over its Redis pub/sub channel: nothing of them is stored (a forwarded join's reply holds
 * a resume token), and one that finds no subscriber fails at once. Notices, and room events for its members, go into
 * its inbox, a Redis stream it reads from its last offset: a dropped connection to Redis loses no commit still in
 * the stream, and what one relay tells another arrives in the order told. Replies and events take different paths, so
 * a forwarded reply carries the events that must follow it (origin.ts). Writes never create an inbox (NOMKSTREAM):
 * a gone relay's, once expired, takes nothing more.
 */
export class RelayBus {
  private nextId = 1;
  private readonly pending = new Map<number, { to: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** Notices told in the current turn, per relay, not yet written (flushTold). */
  private readonly told = new Map<string, string[]>();
  private flushQueued = false;
  private readonly handlers = new Map<string, BusHandler>();
  private readonly reader: RedisClient;
  private readonly subscriber: RedisClient;
  private lastId = '0';
  private reading: Promise<void> | null = null;
  private closed = false;
  readonly traffic: BusTraffic = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };

  private readonly redis: RedisClient;
  readonly relayId: string;
  private readonly inboxTtlMs: number;
  private readonly onInternalError: (op: string, error: Error) => void;

  constructor(redis: RedisClient, relayId: string, inboxTtlMs: number, onInternalError: (op: string, error: Error) => void) {
    this.redis = redis;
    this.relayId = relayId;
    this.inboxTtlMs = inboxTtlMs;
    this.onInternalError = onInternalError;
    // Blocking reads hold a connection: the inbox has one of its own.
    this.reader = redis.duplicate();
    this.reader.on('error', () => undefined);
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined);
  }

  /** Makes this relay's inbox and starts reading it: before the directory names this relay to anyone. */
  async start(): Promise<void> {
    await this.reader.connect();
    await this.subscriber.connect();
    await this.subscriber.subscribe(channelOf(this.relayId), (text) => this.arrived(text));
    // Read from the entry that makes the inbox: nothing sent to it can come before.
    this.lastId = await this.refresh();
    this.reading = this.read();
  }

  /**
   * Keeps the inbox alive (every heartbeat): made again if Redis lost it in a restart, and set to expire INBOX_BEATS
   * after a relay that stopped refreshing it.
   */
  async refresh(): Promise<string> {
    const key = inboxKey(this.relayId);
    const [id] = await this.redis
      .multi()
      .xAdd(key, '*', { beat: '' }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: INBOX_LENGTH } })
      .pExpire(key, this.inboxTtlMs)
      .exec();
    return String(id);
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
      this.publish(to, { to, from: this.relayId, id, op, body });
    });
  }

  /** A notice that needs no answer (a producer closed, a pipe is no longer needed, events for members there). */
  tell(to: string, op: string, body: unknown): void {
    this.send(to, { to, from: this.relayId, id: 0, op, body });
  }

  /**
   * The relays among these that are listening on their channel now. A relay's process that died lost its connection to
   * Redis, and its subscription with it, at once: long before its directory entry expires (three beats).
   */
  async listening(relays: string[]): Promise<Set<string>> {
    if (relays.length === 0) return new Set();
    const reply = (await this.redis.sendCommand(['PUBSUB', 'NUMSUB', ...relays.map(channelOf)])) as (string | number)[];
    const out = new Set<string>();
    for (let i = 0; i < relays.length; i++) if (Number(reply[2 * i + 1]) > 0) out.add(relays[i]!);
    return out;
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

  async close(): Promise<void> {
    this.closed = true;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new RelayUnavailableError());
    }
    this.pending.clear();
    this.handlers.clear();
    await this.redis.del(inboxKey(this.relayId)).catch(() => undefined);
    this.reader.destroy();
    this.subscriber.destroy();
    await this.reading;
  }

  private count(text: string): void {
    this.traffic.sent++;
    this.traffic.sentBytes += text.length;
  }

  private publish(to: string, msg: { to: string; from: string; id: number; op?: string; body?: unknown; reply?: unknown }): void {
    const text = JSON.stringify(msg);
    this.count(text);
    // A request nobody hears (that relay is gone) fails at once; a reply nobody hears is the other relay's timeout.
    const id = msg.op === undefined ? 0 : msg.id;
    this.redis.publish(channelOf(to), text).then(
      (heard) => heard === 0 && id !== 0 && this.fail(id),
      () => id !== 0 && this.fail(id),
    );
  }

  private send(to: string, msg: { to: string; from: string; id: number; op: string; body: unknown }): void {
    const text = JSON.stringify(msg);
    this.count(text);
    const queued = this.told.get(to);
    if (queued) queued.push(text);
    else this.told.set(to, [text]);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flushTold());
    }
  }

  /**
   * What this relay told each relay within one turn of its event loop goes as one inbox entry, in the order told: a
   * commit's packages for thousands of members on one edge are one write and one read per key.packages message, not
   * one per member. Nothing waits for it but the end of the current task.
   */
  private flushTold(): void {
    this.flushQueued = false;
    for (const [to, texts] of this.told) {
      const entry: Record<string, string> = texts.length === 1 ? { m: texts[0]! } : { b: `[${texts.join(',')}]` };
      this.redis.xAddNoMkStream(inboxKey(to), '*', entry, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: INBOX_LENGTH } }).catch(() => undefined);
    }
    this.told.clear();
  }

  private fail(id: number): void {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    clearTimeout(waiting.timer);
    waiting.reject(new RelayUnavailableError());
  }

  private async read(): Promise<void> {
    const key = inboxKey(this.relayId);
    while (!this.closed) {
      let reply: unknown;
      try {
        reply = await this.reader.sendCommand(['XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(BLOCK_MS), 'STREAMS', key, this.lastId]);
      } catch {
        // Redis away: the client reconnects; reading resumes after the last entry read, so nothing still kept is lost.
        if (!this.closed) await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const entries = (reply as [string, [string, string[]][]][] | null)?.[0]?.[1] ?? [];
      for (const [entryId, fields] of entries) {
        this.lastId = entryId;
        if (fields[0] === 'm') this.arrived(fields[1] ?? '');
        else if (fields[0] === 'b') this.arrivedBatch(fields[1] ?? '');
      }
    }
  }

  /** Several messages told at once (flushTold), each handled as if it had come alone, in order. */
  private arrivedBatch(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(raw)) return;
    this.traffic.received += raw.length;
    this.traffic.receivedBytes += text.length;
    for (const msg of raw) this.receive(msg);
  }

  private arrived(text: string): void {
    this.traffic.received++;
    this.traffic.receivedBytes += text.length;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return;
    }
    this.receive(raw);
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
      if (msg.id !== 0) this.publish(msg.from, { to: msg.from, from: this.relayId, id: msg.id, reply });
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
