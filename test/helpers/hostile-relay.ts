// Test fixture: the real relay with an adversary on what it sends to each connection (drop, delay, duplicate, replace, inject, replay, split) and a recorder of what it receives.
import { createRequire } from 'node:module';
import type { types } from 'mediasoup';
import type { Relay, RelayOptions } from '../../server/index.ts';
import { startTestRelay } from './relay.ts';

/** One client connection of the relay. `participantId` is what the relay last assigned to it (null before a join). */
export interface Recipient {
  readonly connection: string;
  participantId: string | null;
}

/** One socket.io event or acknowledgement the relay is sending to one recipient. */
export interface Message {
  /** Order among everything the relay sent and received, across connections. */
  readonly seq: number;
  readonly recipient: Recipient;
  readonly kind: 'event' | 'ack';
  /** The event name (kind 'event'). */
  readonly event?: string;
  /** The request this acknowledgement answers, e.g. 'room.join' (kind 'ack'). */
  readonly request?: string;
  readonly ackId?: number;
  /** The event payload, or the whole reply of an acknowledgement: `{ ok: true, data } | { ok: false, error }`. */
  readonly payload: unknown;
  /** The encoded socket.io packet as the relay made it: what `replay` sends again. */
  readonly raw: readonly (string | Buffer)[];
}

export type Fate = 'passed' | 'dropped' | 'delayed' | 'duplicated' | 'replaced' | 'injected' | 'replayed';

/** A message in the log, with what the adversary did to it. Injected and replayed messages are logged too. */
export interface Sent extends Message {
  readonly fate: Fate;
}

/** One event a client sent to the relay (requests included: `ackId` is set when the client awaits a reply). */
export interface Incoming {
  readonly seq: number;
  readonly sender: Recipient;
  readonly event: string;
  readonly payload: unknown;
  readonly ackId?: number;
}

export type Verdict =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'delay'; readonly until: number | Promise<unknown> }
  | { readonly kind: 'duplicate'; readonly copies: number }
  | { readonly kind: 'replace'; readonly payload: unknown };

/** Verdicts an interceptor returns. `replace` lets later interceptors see the new payload; the others decide. */
export const verdict = {
  pass: { kind: 'pass' } as Verdict,
  drop: { kind: 'drop' } as Verdict,
  /** Holds the message for `ms`, or until the promise settles: a test that reorders need not guess a timing. */
  delay: (until: number | Promise<unknown>): Verdict => ({ kind: 'delay', until }),
  duplicate: (copies = 2): Verdict => ({ kind: 'duplicate', copies }),
  replace: (payload: unknown): Verdict => ({ kind: 'replace', payload }),
};

/** Returning nothing passes the message on. */
export type Interceptor = (message: Message) => Verdict | void;

/** A participant id or connection id, or any test over the recipient. */
export type Who = string | ((recipient: Recipient) => boolean);

export class NoSuchRecipientError extends Error {
  override name = 'NoSuchRecipientError';
}

export interface Adversary {
  /** Sees every event and acknowledgement the relay sends, per recipient, in installation order. Returns an uninstaller. */
  intercept(fn: Interceptor): () => void;
  /** `intercept` for one event name; the function gets the payload first. */
  forEvent(event: string, fn: (payload: unknown, message: Message) => Verdict | void): () => void;
  /** Rewrites the data of successful replies to one request (return the new data, or nothing to keep it). */
  rewriteAck(request: string, fn: (data: unknown, message: Message) => unknown): () => void;
  /** Shows two groups of participants (by id) different rooms: each side stops hearing of the other's members. */
  split(groupA: readonly string[], groupB: readonly string[]): () => void;
  /** Sends a forged event to the matching recipients, past the interceptors. Throws if none matches. */
  inject(who: Who, event: string, payload: unknown): void;
  /** Sends an old message again, as the relay encoded it, to its recipient or to others. */
  replay(message: Message, to?: Who): void;
  /** Everything the relay sent (to the matching recipients), with its fate, plus injections and replays. */
  sent(who?: Who): Sent[];
  /** Everything the matching clients sent to the relay. */
  received(who?: Who): Incoming[];
  recipients(): Recipient[];
}

export interface HostileRelay {
  relay: Relay;
  adversary: Adversary;
}

// socket.io's packet types (socket.io-parser): only events and acknowledgements are the adversary's business.
const EVENT = 2;
const ACK = 3;
const BINARY_EVENT = 5;
const BINARY_ACK = 6;

type Encoded = (string | Buffer)[];
type WriteOptions = Record<string, unknown>;
interface Packet {
  type: number;
  nsp: string;
  id?: number;
  data?: unknown[];
}
interface Parser {
  Decoder: new () => { on(event: 'decoded', fn: (p: Packet) => void): void; add(chunk: string | Buffer): void; destroy(): void };
}
/** The private parts of socket.io's per-connection `Client` the fixture hooks (checked against socket.io 4.8). */
interface EngineClient {
  id: string;
  server: { _parser: Parser; httpServer?: { address(): unknown } };
  encoder: { encode(packet: Packet): Encoded };
  decoder: { on(event: 'decoded', fn: (p: Packet) => void): void };
  writeToEngine(encoded: Encoded | string | Buffer, opts: WriteOptions): void;
  setup(): void;
}

interface Hooked {
  recipient: Recipient;
  client: EngineClient;
  write(encoded: Encoded, opts: WriteOptions): void;
  /** Request names by acknowledgement id, so a reply can say what it answers. */
  pending: Map<number, string>;
}

const hostiles = new Map<number, (client: EngineClient) => void>();
let installed = false;

/**
 * Every socket.io `Client` (one per engine.io connection) runs `setup()` from its constructor before any packet
 * flows; wrapping it is the one place that sees each connection of a relay that does not expose its server. Both
 * per-socket emits and room broadcasts end in the instance's `writeToEngine`, which the hook then replaces.
 */
function installOnce(): void {
  if (installed) return;
  installed = true;
  const req = createRequire(import.meta.url);
  const { Client } = createRequire(req.resolve('socket.io'))('./client.js') as { Client: { prototype: EngineClient } };
  const setup = Client.prototype.setup;
  Client.prototype.setup = function (this: EngineClient) {
    setup.call(this);
    const address = this.server.httpServer?.address() as { port?: number } | null | undefined;
    const hook = address?.port === undefined ? undefined : hostiles.get(address.port);
    hook?.(this);
  };
}

function decode(parser: Parser, encoded: Encoded): Packet | undefined {
  const decoder = new parser.Decoder();
  let packet: Packet | undefined;
  decoder.on('decoded', (p) => (packet = p));
  for (const chunk of encoded) decoder.add(chunk);
  decoder.destroy();
  return packet;
}

function matcher(who: Who | undefined): (r: Recipient) => boolean {
  if (who === undefined) return () => true;
  if (typeof who === 'function') return who;
  return (r) => r.participantId === who || r.connection === who;
}

/** The participant id a relay message assigns to its recipient, if it is a join reply or an admission. */
function assignedId(kind: 'event' | 'ack', name: string | undefined, payload: unknown): string | null {
  const reply = payload as { ok?: boolean; data?: { participantId?: unknown } } | undefined;
  if (kind === 'ack' && (name === 'room.create' || name === 'room.join') && reply?.ok && typeof reply.data?.participantId === 'string') return reply.data.participantId;
  const admitted = payload as { participantId?: unknown } | undefined;
  if (kind === 'event' && name === 'lobby.admitted' && typeof admitted?.participantId === 'string') return admitted.participantId;
  return null;
}

/** The participant a relay event is about, for `split`. */
function subjectOf(message: Message): string | null {
  const p = message.payload as { participant?: { participantId?: string }; participantId?: string; from?: string } | undefined;
  switch (message.event) {
    case 'peer.joined':
    case 'peer.updated':
      return p?.participant?.participantId ?? null;
    case 'peer.left':
    case 'producer.added':
    case 'producer.removed':
      return p?.participantId ?? null;
    case 'key.commit':
    case 'key.package':
      return p?.from ?? null;
    default:
      return null;
  }
}

export async function startHostileRelay(options: RelayOptions = {}): Promise<HostileRelay> {
  installOnce();
  const relay = await startTestRelay(options);
  const hooked = new Map<string, Hooked>();
  const interceptors: Interceptor[] = [];
  const log: Sent[] = [];
  const inbox: Incoming[] = [];
  let seq = 0;

  const select = (who: Who | undefined): Hooked[] => [...hooked.values()].filter((h) => matcher(who)(h.recipient));

  function outgoing(h: Hooked, encoded: Encoded, opts: WriteOptions): void {
    const packet = decode(h.client.server._parser, encoded);
    if (!packet || ![EVENT, ACK, BINARY_EVENT, BINARY_ACK].includes(packet.type) || !packet.data) return h.write(encoded, opts);
    const isEvent = packet.type === EVENT || packet.type === BINARY_EVENT;
    const kind = isEvent ? 'event' : 'ack';
    const name = isEvent ? String(packet.data[0]) : packet.id === undefined ? undefined : h.pending.get(packet.id);
    const payload = isEvent ? packet.data[1] : packet.data[0];
    if (!isEvent && packet.id !== undefined) h.pending.delete(packet.id);
    h.recipient.participantId = assignedId(kind, name, payload) ?? h.recipient.participantId;
    const message: Message = isEvent ? { seq: seq++, recipient: h.recipient, kind, event: name, payload, raw: encoded } : { seq: seq++, recipient: h.recipient, kind, request: name, ackId: packet.id, payload, raw: encoded };

    let current = message;
    let decided: Verdict = verdict.pass;
    for (const fn of [...interceptors]) {
      const v = fn(current) ?? verdict.pass;
      if (v.kind === 'replace') current = { ...current, payload: v.payload };
      else if (v.kind !== 'pass') {
        decided = v;
        break;
      }
    }
    const replaced = current !== message;
    // A broadcast carries a websocket frame encoded once for all recipients: a rewritten packet must not reuse it.
    const [bytes, writeOpts] = replaced ? [h.client.encoder.encode({ type: isEvent ? EVENT : ACK, nsp: packet.nsp, id: packet.id, data: isEvent ? [name, current.payload] : [current.payload] }), { preEncoded: true }] : [encoded, opts];
    const fate: Fate = { pass: replaced ? 'replaced' : 'passed', drop: 'dropped', delay: 'delayed', duplicate: 'duplicated', replace: 'replaced' }[decided.kind] as Fate;
    log.push({ ...message, fate });
    if (decided.kind === 'drop') return;
    if (decided.kind === 'delay') {
      const later = () => h.write(bytes, writeOpts);
      if (typeof decided.until === 'number') setTimeout(later, decided.until);
      else decided.until.then(later, later);
      return;
    }
    const copies = decided.kind === 'duplicate' ? decided.copies : 1;
    for (let i = 0; i < copies; i++) h.write(bytes, writeOpts);
  }

  hostiles.set(relay.port, (client) => {
    const original = client.writeToEngine.bind(client);
    const h: Hooked = {
      recipient: { connection: client.id, participantId: null },
      client,
      write: (encoded, opts) => original(encoded, opts),
      pending: new Map(),
    };
    hooked.set(client.id, h);
    client.writeToEngine = (encoded, opts) => outgoing(h, Array.isArray(encoded) ? encoded : [encoded], opts);
    // Recorded before the relay handles it: socket.io dispatches decoded packets on the next tick.
    client.decoder.on('decoded', (packet) => {
      if ((packet.type !== EVENT && packet.type !== BINARY_EVENT) || !packet.data) return;
      const event = String(packet.data[0]);
      if (packet.id !== undefined) h.pending.set(packet.id, event);
      inbox.push({ seq: seq++, sender: h.recipient, event, payload: packet.data[1], ackId: packet.id });
    });
  });

  const close = relay.close.bind(relay);
  relay.close = () => {
    hostiles.delete(relay.port);
    return close();
  };

  const adversary: Adversary = {
    intercept(fn) {
      interceptors.push(fn);
      return () => {
        const i = interceptors.indexOf(fn);
        if (i >= 0) interceptors.splice(i, 1);
      };
    },
    forEvent(event, fn) {
      return adversary.intercept((m) => (m.kind === 'event' && m.event === event ? fn(m.payload, m) : undefined));
    },
    rewriteAck(request, fn) {
      return adversary.intercept((m) => {
        const reply = m.payload as { ok?: boolean; data?: unknown };
        if (m.kind !== 'ack' || m.request !== request || !reply?.ok) return undefined;
        const data = fn(reply.data, m);
        return data === undefined ? undefined : verdict.replace({ ...reply, data });
      });
    },
    split(groupA, groupB) {
      const sideOf = (id: string | null) => (id === null ? null : groupA.includes(id) ? 'a' : groupB.includes(id) ? 'b' : null);
      const hidden = (recipient: Recipient, id: string | null | undefined) => {
        const mine = sideOf(recipient.participantId);
        const theirs = sideOf(id ?? null);
        return mine !== null && theirs !== null && mine !== theirs;
      };
      return adversary.intercept((m) => {
        if (m.kind === 'event' && m.event !== 'lobby.admitted') return hidden(m.recipient, subjectOf(m)) ? verdict.drop : undefined;
        // A join reply or an admission carries the room's member list: the other side's members are cut from it.
        type Result = { room?: { participants?: { participantId: string }[] } };
        const reply = m.payload as { ok?: boolean; data?: Result };
        const result = m.kind === 'event' ? (m.payload as Result) : reply?.ok ? reply.data : undefined;
        const participants = result?.room?.participants;
        if (!participants?.some((p) => hidden(m.recipient, p.participantId))) return undefined;
        const cut = { ...result, room: { ...result!.room, participants: participants.filter((p) => !hidden(m.recipient, p.participantId)) } };
        return verdict.replace(m.kind === 'event' ? cut : { ...reply, data: cut });
      });
    },
    inject(who, event, payload) {
      const targets = select(who);
      if (targets.length === 0) throw new NoSuchRecipientError(`no connection matches ${String(who)}`);
      for (const h of targets) {
        const raw = h.client.encoder.encode({ type: EVENT, nsp: '/', data: [event, payload] });
        log.push({ seq: seq++, recipient: h.recipient, kind: 'event', event, payload, raw, fate: 'injected' });
        h.write(raw, { preEncoded: true });
      }
    },
    replay(message, to) {
      const targets = to === undefined ? select((r) => r === message.recipient) : select(to);
      if (targets.length === 0) throw new NoSuchRecipientError(`no connection matches ${String(to ?? message.recipient.connection)}`);
      for (const h of targets) {
        log.push({ ...message, seq: seq++, recipient: h.recipient, fate: 'replayed' });
        h.write([...message.raw], { preEncoded: true });
      }
    },
    sent: (who) => log.filter((m) => matcher(who)(m.recipient)),
    received: (who) => inbox.filter((m) => matcher(who)(m.sender)),
    recipients: () => [...hooked.values()].map((h) => h.recipient),
  };
  return { relay, adversary };
}

/** A relay that rewrites media: a producer of its own re-sending another producer's RTP, each payload edited on the way. */
export interface RtpSplice {
  /** Consumable like the tapped one; the test decides whom it is announced as. */
  producer: types.Producer;
  close(): void;
}

/** Where an RTP packet's payload starts and ends (after CSRCs and a header extension, before padding). */
function payloadBounds(packet: Buffer): { start: number; end: number } {
  let start = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) start += 4 + 4 * packet.readUInt16BE(start + 2);
  const end = packet[0]! & 0x20 ? packet.length - packet[packet.length - 1]! : packet.length;
  return { start, end };
}

/**
 * Taps `producerId` on `router` through a DirectTransport, as the relay's operator could, and sends each packet on
 * through a new producer with its payload (the SFrame frame) replaced by what `edit` returns. Packets keep their order,
 * RTP sequence numbers and timestamps, so a spliced stream looks to a receiver like the real one.
 */
export async function spliceRtp(router: types.Router, producerId: string, edit: (payload: Uint8Array) => Promise<Uint8Array>): Promise<RtpSplice> {
  const transport = await router.createDirectTransport();
  const tap = await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities });
  const producer = await transport.produce({ kind: 'audio', rtpParameters: tap.rtpParameters });
  let chain: Promise<void> = Promise.resolve();
  tap.on('rtp', (packet: Buffer) => {
    chain = chain
      .then(async () => {
        const { start, end } = payloadBounds(packet);
        const header = Buffer.from(packet.subarray(0, start));
        header[0] = header[0]! & ~0x20;
        const payload = await edit(new Uint8Array(packet.subarray(start, end)));
        if (!producer.closed) producer.send(Buffer.concat([header, payload]));
      })
      .catch(() => undefined); // a failed edit loses that packet, as the network could
  });
  return { producer, close: () => transport.close() };
}
