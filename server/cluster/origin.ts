// The origin side of a cluster room: requests of members connected to other relays, and the pipes those relays pull media through.
import type { types } from 'mediasoup';
import { z } from 'zod';
import { announcementSignKey } from '../../crypto/announcement.ts';
import { describeIssue, SignalingError } from '../../protocol/errors.ts';
import { requests, StreamCertificate, type RequestType } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { canProduce } from '../../protocol/stage.ts';
import type { Participant } from '../rooms/participant.ts';
import type { Room } from '../rooms/room.ts';
import type { Handlers } from '../rooms/handler.ts';
import { requestHandlers } from '../rooms/requests.ts';
import type { RoomService, Session } from '../rooms/room-service.ts';
import type { RelayBus } from './bus.ts';
import { certificateOf } from '../media/endpoint.ts';
import { admittedBatch, currentStageHash, type AdmittedBatch } from './join-view.ts';
import { connectPipe, createPipe, pipeEnd } from './pipes.ts';

const clientRequest = z.object({ socketId: z.string().max(64), type: z.string().max(64), payload: z.unknown() });
const socketRef = z.object({ socketId: z.string().max(64) });
const pipeOpen = pipeEnd.extend({ roomId: z.string().max(128) });
const pipeConsume = z.object({ pipeId: z.string().max(64), producerId: z.string().max(64) });
const pipeRef = z.object({ pipeId: z.string().max(64) });
const pipeProduce = z.object({
  pipeId: z.string().max(64),
  socketId: z.string().max(64),
  producerId: z.string().max(64),
  rtpParameters: z.record(z.string(), z.unknown()),
  paused: z.boolean(),
  streamCertificate: StreamCertificate,
});

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new SignalingError('BAD_REQUEST', `${what}: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

/** A forwarded request's reply, and the events its member gets right after it. */
export interface ForwardedReply {
  data: unknown;
  then: { event: string; payload: unknown }[];
}

/** A member connected to another relay, as the room service sees it: its socket is reached through that relay's inbox. */
interface ProxySession {
  relay: string;
  session: Session;
  queue: Promise<unknown>;
}

interface OriginPipe {
  relay: string;
  roomId: string;
  transport: types.PipeTransport;
}

export class OriginSide {
  private readonly proxies = new Map<string, ProxySession>();
  /** Socket ids of remote members, to the relay each is connected to. */
  private readonly relays = new Map<string, string>();
  readonly pipes = new Map<string, OriginPipe>();
  /** Requests forwarded here by type, and listeners taken in from edges' admissions (the cluster tests count joins). */
  readonly counts = { forwarded: new Map<string, number>(), edgeAdmitted: 0 };

  private readonly bus: RelayBus;
  private readonly service: RoomService;
  private readonly handlers: Handlers;
  private readonly config: RelayConfig;
  private readonly touched: (roomId: string) => void;

  constructor(bus: RelayBus, service: RoomService, config: RelayConfig, touched: (roomId: string) => void) {
    this.bus = bus;
    this.service = service;
    this.handlers = requestHandlers(service);
    this.config = config;
    this.touched = touched;
    bus.handle('client.request', (from, body) => this.request(from, parse(clientRequest, body, 'client.request')));
    bus.handle('client.gone', (from, body) => this.gone(from, parse(socketRef, body, 'client.gone').socketId));
    bus.handle('pipe.open', (from, body) => this.openPipe(from, parse(pipeOpen, body, 'pipe.open')));
    bus.handle('pipe.consume', (from, body) => this.consume(from, parse(pipeConsume, body, 'pipe.consume')));
    bus.handle('pipe.close', (from, body) => this.closePipe(from, parse(pipeRef, body, 'pipe.close').pipeId));
    bus.handle('member.canProduce', (from, body) => this.canProduce(from, parse(socketRef, body, 'member.canProduce').socketId));
    bus.handle('pipe.produce', (from, body) => this.produce(from, parse(pipeProduce, body, 'pipe.produce')));
    bus.handle('members.admitted', (from, body) => this.admitted(from, parse(admittedBatch, body, 'members.admitted')));
  }

  /** The relay a remote member's socket is connected to (the room service multicasts by socket id). */
  relayOf(socketId: string): string | undefined {
    return this.relays.get(socketId);
  }

  private unproxy(key: string, socketId: string): void {
    this.proxies.delete(key);
    this.relays.delete(socketId);
  }

  /** How many members of this relay's rooms are connected through other relays. */
  get remoteMembers(): number {
    return this.proxies.size;
  }

  private proxyFor(relay: string, socketId: string): ProxySession {
    const key = `${relay}/${socketId}`;
    let proxy = this.proxies.get(key);
    if (proxy) return proxy;
    const { bus, proxies } = this;
    let participant: Participant | null = null;
    const session: Session = {
      socket: {
        id: socketId,
        emit: (event, payload) => bus.tell(relay, 'events', { socketIds: [socketId], event, payload }),
        disconnect: () => bus.tell(relay, 'socket.disconnect', { socketId }),
      },
      // The room service detaches a member from its session when it leaves, is removed or resumes elsewhere: the
      // member's relay then drops its media for that socket. A session let go already (its socket or relay gone, its
      // room given up) tells nothing more.
      get participant() {
        return participant;
      },
      set participant(p: Participant | null) {
        if (participant && !p && proxies.get(key) === proxy) bus.tell(relay, 'member.released', { socketId });
        participant = p;
      },
      room: null,
      roomCreations: [],
      afterReply: null,
    };
    proxy = { relay, session, queue: Promise.resolve() };
    this.proxies.set(key, proxy);
    this.relays.set(socketId, relay);
    return proxy;
  }

  /**
   * Runs a forwarded request. The reply carries the events that must follow it (what a resuming member missed): sent
   * on their own they could overtake it, since replies and room events take different paths through Redis.
   */
  private request(from: string, { socketId, type, payload }: z.infer<typeof clientRequest>): Promise<ForwardedReply> {
    if (!Object.hasOwn(requests, type) || type === 'room.create') throw new SignalingError('UNKNOWN_MESSAGE', `relays do not forward "${type.slice(0, 64)}"`);
    const parsed = requests[type as RequestType].request.safeParse(payload ?? {});
    if (!parsed.success) throw new SignalingError('BAD_REQUEST', `${type}: ${describeIssue(parsed.error)}`);
    this.counts.forwarded.set(type, (this.counts.forwarded.get(type) ?? 0) + 1);
    const proxy = this.proxyFor(from, socketId);
    // One request at a time per member, as for a socket of this relay.
    const run = proxy.queue.then(async () => {
      const handler = this.handlers[type as RequestType] as (s: Session, p: unknown) => unknown;
      try {
        const data = await handler(proxy.session, parsed.data);
        return { data, then: this.collectAfterReply(proxy.session) };
      } finally {
        proxy.session.afterReply = null;
        const roomId = proxy.session.room?.id;
        if (roomId) this.touched(roomId);
        if (!proxy.session.participant) this.forget(from, socketId);
      }
    });
    proxy.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Listeners an edge admitted and answered (edge-joins.ts), taken in as joins: the stage is told, and its distributor
   * keys them. Checked again here, where the room is decided: one refused (the room locked, closed or rotated meanwhile,
   * the identity banned, the room full) is named in the reply, and its edge lets its page go to join again. A newcomer
   * shown a stage that has changed since is told what changed, as the events it missed would have.
   */
  private admitted(from: string, batch: AdmittedBatch): { refused: string[] } {
    const room = this.service.rooms.get(batch.roomId);
    const refused: string[] = [];
    const current = room ? currentStageHash(room, this.config.keyBatchMs) : '';
    for (const m of batch.members) {
      const proxy = this.proxies.get(`${from}/${m.socketId}`);
      // Told again after an answer that was lost: taken in already.
      if (proxy?.session.participant?.participantId === m.participantId) continue;
      const signKey = announcementSignKey(m.announcement);
      if (!room || !signKey || room.locked || room.banned.has(signKey) || room.size >= this.config.maxParticipantsPerRoom || room.members.has(m.participantId) || proxy?.session.participant) {
        refused.push(m.socketId);
        continue;
      }
      const { session } = this.proxyFor(from, m.socketId);
      const p = this.service.admitFromEdge(session, room, m);
      this.counts.edgeAdmitted++;
      const shown = batch.shown[m.shown];
      if (shown && shown.stageHash !== current) this.catchUp(room, p, shown.stage);
      if (p.joinedSeq !== m.seq) p.send('peer.updated', { participant: p.snapshot() });
    }
    if (room) this.touched(room.id);
    return { refused };
  }

  /** What changed on stage between the view a newcomer was shown and now, as the events it would have had. */
  private catchUp(room: Room, p: Participant, shown: AdmittedBatch['shown'][number]['stage']): void {
    const before = new Map(shown.map((m) => [m.participantId, new Set(m.producerIds)]));
    for (const m of room.stage) {
      p.send('peer.updated', { participant: m.snapshot() });
      for (const [producerId, producer] of m.producers) {
        if (!before.get(m.participantId)?.has(producerId)) p.send('producer.added', { producerId, participantId: m.participantId, streamCertificate: certificateOf(producer) });
      }
    }
    for (const [participantId, producerIds] of before) {
      const m = room.members.get(participantId);
      if (!m) p.send('peer.left', { participantId, reason: 'left' });
      else if (!room.stage.has(m)) p.send('peer.updated', { participant: m.snapshot() });
      for (const producerId of producerIds) if (!m?.producers.has(producerId)) p.send('producer.removed', { producerId, participantId });
    }
  }

  private collectAfterReply(session: Session): { event: string; payload: unknown }[] {
    const then: { event: string; payload: unknown }[] = [];
    const after = session.afterReply;
    const p = session.participant;
    if (!after || !p?.socket) return then;
    const real = p.socket;
    p.socket = { id: real.id, emit: (event, payload) => then.push({ event, payload }) };
    try {
      after();
    } finally {
      p.socket = real;
    }
    return then;
  }

  private forget(relay: string, socketId: string): void {
    const key = `${relay}/${socketId}`;
    const proxy = this.proxies.get(key);
    if (proxy && !proxy.session.participant) this.unproxy(key, socketId);
  }

  /** A socket on another relay closed: its member gets the disconnect grace, as if it were connected here. */
  private gone(relay: string, socketId: string): void {
    const proxy = this.proxies.get(`${relay}/${socketId}`);
    if (!proxy) return;
    this.unproxy(`${relay}/${socketId}`, socketId);
    proxy.queue = proxy.queue.then(() => this.service.disconnected(proxy.session));
  }

  /**
   * This relay gave a room up (another took it over): each relay with members of it lets them go, to resume where
   * the room is now, as on this relay's death; their sessions here tell nothing more.
   */
  letGo(room: Room): void {
    const relays = new Set<string>();
    for (const [key, proxy] of [...this.proxies]) {
      if (proxy.session.room !== room) continue;
      relays.add(proxy.relay);
      this.unproxy(key, proxy.session.socket.id);
    }
    for (const relay of relays) this.bus.tell(relay, 'room.moved', { roomId: room.id });
  }

  /** A relay whose entry expired is dead: each of its members starts its disconnect grace and may resume elsewhere. */
  relayDied(relay: string): void {
    for (const proxy of [...this.proxies.values()]) if (proxy.relay === relay) this.gone(relay, proxy.session.socket.id);
    for (const [id, pipe] of this.pipes) {
      if (pipe.relay !== relay) continue;
      pipe.transport.close();
      this.pipes.delete(id);
    }
  }

  /** The relays this one serves members or pipes for: the ones whose death it must notice. */
  peers(): Set<string> {
    const out = new Set<string>();
    for (const p of this.proxies.values()) out.add(p.relay);
    for (const p of this.pipes.values()) out.add(p.relay);
    return out;
  }

  private async openPipe(from: string, { roomId, ...remote }: z.infer<typeof pipeOpen>): Promise<unknown> {
    const room = this.service.rooms.get(roomId);
    if (!room) throw new SignalingError('ROOM_NOT_FOUND', 'no such room on this relay');
    const { transport, end } = await createPipe(room.router, this.config);
    try {
      await connectPipe(transport, remote);
    } catch (error) {
      transport.close();
      throw new SignalingError('BAD_REQUEST', `pipe refused: ${(error as Error).message}`);
    }
    this.pipes.set(transport.id, { relay: from, roomId, transport });
    // The room's router went (room closed, worker died): the edge relay drops its end and its listeners re-pipe.
    transport.observer.once('close', () => {
      if (this.pipes.delete(transport.id)) this.bus.tell(from, 'pipe.closed', { pipeId: transport.id });
    });
    return { pipeId: transport.id, ...end };
  }

  private async consume(from: string, { pipeId, producerId }: z.infer<typeof pipeConsume>): Promise<unknown> {
    const pipe = this.pipes.get(pipeId);
    if (!pipe || pipe.relay !== from) throw new SignalingError('NOT_FOUND', 'no such pipe');
    const room = this.service.rooms.get(pipe.roomId);
    const owner = room && [...room.members.values()].find((m) => m.producers.has(producerId));
    if (!owner) throw new SignalingError('NOT_FOUND', 'no such producer in this room');
    const consumer = await pipe.transport.consume({ producerId });
    const tell = (op: string) => () => this.bus.tell(from, op, { pipeId, producerId });
    consumer.on('producerclose', tell('pipe.producerClosed'));
    consumer.on('producerpause', tell('pipe.producerPaused'));
    consumer.on('producerresume', tell('pipe.producerResumed'));
    return { participantId: owner.participantId, kind: consumer.kind, rtpParameters: consumer.rtpParameters, paused: consumer.producerPaused, streamCertificate: certificateOf(owner.producers.get(producerId)) };
  }

  private speaker(from: string, socketId: string): { session: Session; participant: Participant } {
    const session = this.proxies.get(`${from}/${socketId}`)?.session;
    const participant = session?.participant;
    if (!session || !participant || !session.room) throw new SignalingError('NOT_IN_ROOM', 'join a room first');
    if (!canProduce(participant.role)) throw new SignalingError('FORBIDDEN', 'listeners do not send audio');
    return { session, participant };
  }

  /** An edge asks before it makes a send transport, as a relay alone refuses one to a listener. */
  private canProduce(from: string, socketId: string): unknown {
    this.speaker(from, socketId);
    return {};
  }

  /**
   * A speaker connected to another relay: its producer there is piped into the room's router, and becomes its
   * microphone here (announced, fanned out, piped on to other relays) like one made on this relay.
   */
  private async produce(from: string, body: z.infer<typeof pipeProduce>): Promise<unknown> {
    const pipe = this.pipes.get(body.pipeId);
    if (!pipe || pipe.relay !== from) throw new SignalingError('NOT_FOUND', 'no such pipe');
    const { session, participant } = this.speaker(from, body.socketId);
    const room = session.room as Room;
    if (room.id !== pipe.roomId) throw new SignalingError('NOT_FOUND', 'no such pipe');
    if (participant.producers.size >= 1) throw new SignalingError('INVALID_STATE', 'one microphone per participant');
    const producer = await pipe.transport.produce({
      id: body.producerId,
      kind: 'audio',
      rtpParameters: body.rtpParameters as unknown as types.RtpParameters,
      paused: body.paused,
      appData: { streamCertificate: body.streamCertificate },
    });
    // A mute, a move to the audience or a kick acts on this copy: the edge applies it to the speaker's own producer.
    const tell = (op: string) => () => this.bus.tell(from, op, { pipeId: body.pipeId, producerId: producer.id });
    producer.observer.on('pause', tell('pipe.sourcePaused'));
    producer.observer.on('resume', tell('pipe.sourceResumed'));
    producer.observer.on('close', tell('pipe.sourceClosed'));
    await this.service.adoptProducer(room, participant, producer);
    this.touched(room.id);
    return { producerId: producer.id };
  }

  private closePipe(from: string, pipeId: string): void {
    const pipe = this.pipes.get(pipeId);
    if (!pipe || pipe.relay !== from) return;
    this.pipes.delete(pipeId);
    pipe.transport.close();
  }

  close(): void {
    for (const pipe of this.pipes.values()) pipe.transport.close();
    this.pipes.clear();
    this.proxies.clear();
    this.relays.clear();
  }
}
