// The edge side of a cluster room: this relay's members of rooms held by another relay, and where their media lives here.
import type { types } from 'mediasoup';
import { z } from 'zod';
import { SignalingError } from '../../protocol/errors.ts';
import type { ReplyOf, RequestOf, RequestType } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { connectTransport, consume, createTransport, produce, receiveTransport, restartIce, resumeConsumer } from '../media/endpoint.ts';
import type { MediaEndpoint } from '../media/media-state.ts';
import { turnIceServers } from '../media/turn.ts';
import type { MediaPlacement } from '../media/placement.ts';
import type { RelayBus } from './bus.ts';
import { connectPipe, createPipe, pipeEnd } from './pipes.ts';

/** Requests an edge relay answers itself: the member's media terminates here, whatever relay holds the room. */
export const EDGE_LOCAL = new Set<RequestType>(['transport.create', 'transport.connect', 'transport.restartIce', 'consumer.create', 'consumer.resume', 'turn.credentials', 'producer.create']);

/** Requests the origin decides and this relay then applies to the speaker's own producer here. */
export const EDGE_PRODUCER = new Set<RequestType>(['producer.pause', 'producer.resume', 'producer.close']);

const pipeOpened = pipeEnd.extend({ pipeId: z.string() });
const pipedProducer = z.object({
  participantId: z.string(),
  kind: z.literal('audio'),
  rtpParameters: z.record(z.string(), z.unknown()),
  paused: z.boolean(),
});
const producerRef = z.object({ pipeId: z.string(), producerId: z.string() });

/** A member connected here to a room held elsewhere; its producers are its microphone here, piped to the origin. */
export interface EdgeMember extends MediaEndpoint {
  socketId: string;
  roomId: string;
  origin: string;
  participantId: string;
  /** Where its newest receive transport is: a fan-out router of its edge room, or null for the room's own router. */
  recvOn: EdgeFanout | null;
  /** The worker its receive transport (most of its cost) is counted on. */
  loadWorker: types.Worker | null;
}

/** An edge room's router on another worker, as the origin spreads a room: each producer piped in from the room's own router once. */
interface EdgeFanout {
  router: Promise<types.Router>;
  piped: Map<string, Promise<void>>;
}

/**
 * A remote room's media on this relay: one router, one SRTP pipe to the origin router, and each producer that a
 * member here consumes piped in once. It exists while a member here receives, and goes with the last one.
 */
interface EdgeRoom {
  roomId: string;
  origin: string;
  worker: types.Worker;
  router: Promise<types.Router>;
  pipe: Promise<{ transport: types.PipeTransport; pipeId: string }> | null;
  /** The pipe once it is connected, for inspection. */
  connected: types.PipeTransport | null;
  producers: Map<string, Promise<{ producer: types.Producer; participantId: string }>>;
  /** Routers on other workers once this one carries LISTENERS_PER_ROUTER receivers. */
  fanout: Map<types.Worker, EdgeFanout>;
  /** Members here with a transport on this router: the edge room lives while there is one. */
  receivers: Set<EdgeMember>;
}

export class EdgeSide {
  private readonly members = new Map<string, EdgeMember>();
  private readonly rooms = new Map<string, EdgeRoom>();

  private readonly bus: RelayBus;
  private readonly placement: MediaPlacement;
  private readonly config: RelayConfig;
  private readonly now: () => number;
  private readonly releaseSocket: (socketId: string, comeBack?: boolean) => void;

  constructor(bus: RelayBus, placement: MediaPlacement, config: RelayConfig, now: () => number, releaseSocket: (socketId: string, comeBack?: boolean) => void) {
    this.bus = bus;
    this.placement = placement;
    this.config = config;
    this.now = now;
    this.releaseSocket = releaseSocket;
    bus.handle('member.released', (from, body) => {
      const { socketId } = z.object({ socketId: z.string() }).parse(body);
      const member = this.members.get(socketId);
      if (member && member.origin === from) this.releaseSocket(socketId);
    });
    bus.handle('pipe.closed', (from, body) => this.pipeClosed(from, z.object({ pipeId: z.string() }).parse(body).pipeId));
    bus.handle('pipe.producerClosed', (from, body) => this.withProducer(from, body, (p) => p.close()));
    bus.handle('pipe.producerPaused', (from, body) => this.withProducer(from, body, (p) => p.pause()));
    bus.handle('pipe.producerResumed', (from, body) => this.withProducer(from, body, (p) => p.resume()));
    bus.handle('pipe.sourcePaused', (from, body) => this.withSource(from, body, (p) => p.pause()));
    bus.handle('pipe.sourceResumed', (from, body) => this.withSource(from, body, (p) => p.resume()));
    bus.handle('pipe.sourceClosed', (from, body) => this.withSource(from, body, (p) => p.close()));
  }

  memberOf(socketId: string): EdgeMember | undefined {
    return this.members.get(socketId);
  }

  get size(): number {
    return this.members.size;
  }

  /** Members here with their transports, producers and consumers: this relay's metrics count them with its own rooms'. */
  allMembers(): Iterable<EdgeMember> {
    return this.members.values();
  }

  get pipeCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) if (room.pipe) n++;
    return n;
  }

  /** Connected pipes, the producers piped in through them, and speakers' own producers here (inspection for tests). */
  inspect(): { pipes: types.PipeTransport[]; producers: Promise<types.Producer | null>[]; speakers: types.Producer[] } {
    const rooms = [...this.rooms.values()];
    return {
      speakers: [...this.members.values()].flatMap((m) => [...m.producers.values()]),
      pipes: rooms.flatMap((r) => (r.connected && !r.connected.closed ? [r.connected] : [])),
      producers: rooms.flatMap((r) => [...r.producers.values()].map((p) => p.then((e) => e.producer, () => null))),
    };
  }

  /** The router a remote room's media lives on here, while a member here receives (inspection for tests). */
  routerOf(roomId: string): Promise<types.Router> | undefined {
    return this.rooms.get(roomId)?.router;
  }

  /** A remote room's fan-out routers here, by worker (inspection for tests). */
  fanoutOf(roomId: string): Map<types.Worker, Promise<types.Router>> {
    return new Map([...(this.rooms.get(roomId)?.fanout ?? new Map<types.Worker, EdgeFanout>())].map(([w, f]) => [w, f.router]));
  }

  /** The relays whose rooms this one serves members of: the ones whose death it must notice. */
  origins(): Set<string> {
    const out = new Set<string>();
    for (const m of this.members.values()) out.add(m.origin);
    return out;
  }

  join(socketId: string, roomId: string, origin: string, participantId: string): EdgeMember {
    const member: EdgeMember = { socketId, roomId, origin, participantId, recvOn: null, loadWorker: null, transports: new Map(), consumers: new Map(), producers: new Map() };
    this.members.set(socketId, member);
    return member;
  }

  /** The member left, was removed or its socket closed: its media goes, and the room's pipe with the last receiver. */
  drop(socketId: string): EdgeMember | undefined {
    const member = this.members.get(socketId);
    if (!member) return undefined;
    this.members.delete(socketId);
    for (const t of member.transports.values()) t.close();
    member.transports.clear();
    member.consumers.clear();
    member.producers.clear();
    this.placement.edgeLoad(member.loadWorker, null);
    member.loadWorker = null;
    member.recvOn = null;
    const room = this.rooms.get(member.roomId);
    if (room?.receivers.delete(member) && room.receivers.size === 0) this.closeRoom(room);
    return member;
  }

  private closeRoom(room: EdgeRoom): void {
    this.rooms.delete(room.roomId);
    const pipe = room.pipe;
    room.router.then((r) => r.close()).catch(() => undefined);
    for (const f of room.fanout.values()) f.router.then((r) => r.close()).catch(() => undefined);
    pipe?.then(({ pipeId }) => this.bus.tell(room.origin, 'pipe.close', { pipeId })).catch(() => undefined);
  }

  private roomFor(member: EdgeMember): EdgeRoom {
    let room = this.rooms.get(member.roomId);
    if (!room) {
      const { worker, router } = this.placement.edgeRouter();
      room = { roomId: member.roomId, origin: member.origin, worker, router, pipe: null, connected: null, producers: new Map(), fanout: new Map(), receivers: new Set() };
      room.router.catch(() => undefined);
      this.rooms.set(member.roomId, room);
    }
    return room;
  }

  private pipeOf(room: EdgeRoom): Promise<{ transport: types.PipeTransport; pipeId: string }> {
    room.pipe ??= (async () => {
      const { transport, end } = await createPipe(await room.router, this.config);
      try {
        const remote = pipeOpened.parse(await this.bus.request(room.origin, 'pipe.open', { roomId: room.roomId, ...end }));
        await connectPipe(transport, remote);
        room.connected = transport;
        return { transport, pipeId: remote.pipeId };
      } catch (error) {
        transport.close();
        throw error;
      }
    })();
    room.pipe.catch(() => {
      if (this.rooms.get(room.roomId) === room) room.pipe = null;
    });
    return room.pipe;
  }

  /** Each producer crosses from the origin once per relay, however many members here consume it. */
  private pipedIn(room: EdgeRoom, producerId: string): Promise<{ producer: types.Producer; participantId: string }> {
    // A speaker connected here: its producer is on this router already.
    for (const m of room.receivers) {
      const own = m.producers.get(producerId);
      if (own && !own.closed) return Promise.resolve({ producer: own, participantId: m.participantId });
    }
    let entry = room.producers.get(producerId);
    if (!entry) {
      entry = (async () => {
        const { transport, pipeId } = await this.pipeOf(room);
        const piped = pipedProducer.parse(await this.bus.request(room.origin, 'pipe.consume', { pipeId, producerId }));
        const producer = await transport.produce({
          id: producerId,
          kind: piped.kind,
          rtpParameters: piped.rtpParameters as unknown as types.RtpParameters,
          paused: piped.paused,
        });
        producer.observer.once('close', () => room.producers.delete(producerId));
        return { producer, participantId: piped.participantId };
      })();
      room.producers.set(producerId, entry);
      entry.catch(() => room.producers.delete(producerId));
    }
    return entry;
  }

  /** The room's fan-out router on `worker`, made once. */
  private fanoutOn(room: EdgeRoom, worker: types.Worker): EdgeFanout {
    let fanout = room.fanout.get(worker);
    if (!fanout) {
      const made: EdgeFanout = { router: this.placement.routerOn(worker).router, piped: new Map() };
      room.fanout.set(worker, made);
      made.router.catch(() => {
        if (room.fanout.get(worker) === made) room.fanout.delete(worker);
      });
      fanout = made;
    }
    return fanout;
  }

  /**
   * A producer on the room's own router (piped in from the origin, or a speaker's here) piped on to a fan-out
   * router, once; mediasoup closes, pauses and resumes the copy with it.
   */
  private async fannedOut(room: EdgeRoom, fanout: EdgeFanout, producerId: string): Promise<types.Router> {
    let piped = fanout.piped.get(producerId);
    if (!piped) {
      const made = (async () => {
        const { pipeProducer } = await (await room.router).pipeToRouter({ producerId, router: await fanout.router });
        pipeProducer?.observer.once('close', () => {
          if (fanout.piped.get(producerId) === made) fanout.piped.delete(producerId);
        });
      })();
      made.catch(() => {
        if (fanout.piped.get(producerId) === made) fanout.piped.delete(producerId);
      });
      fanout.piped.set(producerId, made);
      piped = made;
    }
    await piped;
    return fanout.router;
  }

  private withProducer(from: string, body: unknown, act: (p: types.Producer) => unknown): void {
    const { pipeId, producerId } = producerRef.parse(body);
    for (const room of this.rooms.values()) {
      if (room.origin !== from) continue;
      void room.pipe?.then(async (pipe) => {
        if (pipe.pipeId !== pipeId) return;
        const entry = await room.producers.get(producerId);
        if (entry && !entry.producer.closed) await act(entry.producer);
      }).catch(() => undefined);
    }
  }

  /** A speaker's own producer here, which the origin muted, moved off stage or removed. */
  private withSource(from: string, body: unknown, act: (p: types.Producer) => unknown): void {
    const { producerId } = producerRef.parse(body);
    for (const member of this.members.values()) {
      const producer = member.producers.get(producerId);
      if (member.origin !== from || !producer || producer.closed) continue;
      void Promise.resolve(act(producer)).catch(() => undefined);
      if (producer.closed) member.producers.delete(producerId);
    }
  }

  /** After the origin paused, resumed or closed a speaker's microphone: the same on its producer here. */
  async applyToProducer(member: EdgeMember, type: RequestType, producerId: string): Promise<void> {
    const producer = member.producers.get(producerId);
    if (!producer || producer.closed) return;
    if (type === 'producer.pause') await producer.pause();
    else if (type === 'producer.resume') await producer.resume();
    else {
      producer.close();
      member.producers.delete(producerId);
    }
  }

  /** The origin's end went: this relay's end and piped producers go too; members consume again on the next producer.added or reset. */
  private pipeClosed(from: string, pipeId: string): void {
    for (const room of this.rooms.values()) {
      if (room.origin !== from) continue;
      void room.pipe?.then((pipe) => {
        if (pipe.pipeId !== pipeId) return;
        pipe.transport.close();
        room.pipe = null;
        room.connected = null;
        room.producers.clear();
      }).catch(() => undefined);
    }
  }

  /** The rooms held by one relay that members here belong to. */
  roomsOf(origin: string): Set<string> {
    const out = new Set<string>();
    for (const m of this.members.values()) if (m.origin === origin) out.add(m.roomId);
    return out;
  }

  /**
   * The origin relay died: its rooms' media here is gone; the members' sockets close so their pages resume, into the
   * room where a relay took it over (or, without a record to take it over from, rebuild it).
   */
  originDied(origin: string): void {
    // A join still waiting for the origin's answer is not released: it fails, and is sent on to where the room moved.
    for (const member of [...this.members.values()]) if (member.origin === origin && member.participantId !== '') this.releaseSocket(member.socketId, true);
  }

  async handle<T extends RequestType>(member: EdgeMember, type: T, payload: RequestOf<T>): Promise<ReplyOf<T>> {
    return (await this.local(member, type, payload as never)) as ReplyOf<T>;
  }

  private async local(member: EdgeMember, type: RequestType, payload: Record<string, unknown>): Promise<unknown> {
    switch (type) {
      case 'turn.credentials':
        return { iceServers: turnIceServers(this.config, this.now()) };
      case 'transport.create': {
        const direction = payload.direction as 'send' | 'recv';
        if (direction === 'send') await this.bus.request(member.origin, 'member.canProduce', { socketId: member.socketId });
        const place = async () => {
          const room = this.roomFor(member);
          // A microphone goes on the room's own router, where the pipe to the origin is; listeners spread by load.
          const onHome = [...room.receivers].filter((m) => m.loadWorker !== null && m.recvOn === null).length;
          const worker = direction === 'send' ? room.worker : this.placement.edgeReceiveWorker(room.worker, onHome);
          const fanout = worker === room.worker ? null : this.fanoutOn(room, worker);
          return { room, worker, fanout, router: await (fanout?.router ?? room.router), webRtcServer: this.placement.webRtcServerOf(worker) };
        };
        const { target, reply } = await createTransport(this.config, member, direction, place, () => this.members.get(member.socketId) === member);
        target.room.receivers.add(member);
        if (direction === 'recv') {
          member.recvOn = target.fanout;
          this.placement.edgeLoad(member.loadWorker, target.worker);
          member.loadWorker = target.worker;
        }
        return reply;
      }
      case 'transport.connect':
        return connectTransport(member, payload as RequestOf<'transport.connect'>);
      case 'transport.restartIce':
        return restartIce(member, payload as RequestOf<'transport.restartIce'>);
      case 'producer.create': {
        const producer = await produce(member, payload as RequestOf<'producer.create'>);
        try {
          const room = this.roomFor(member);
          const { transport: pipe, pipeId } = await this.pipeOf(room);
          const crossing = await pipe.consume({ producerId: producer.id });
          // The origin checks the role and makes it the member's microphone; only then is it anyone's to hear.
          await this.bus.request(member.origin, 'pipe.produce', {
            pipeId,
            socketId: member.socketId,
            producerId: producer.id,
            rtpParameters: crossing.rtpParameters,
            paused: crossing.producerPaused,
          });
        } catch (error) {
          producer.close();
          throw error;
        }
        if (this.members.get(member.socketId) !== member) {
          producer.close();
          throw new SignalingError('NOT_IN_ROOM', 'no longer in the room');
        }
        member.producers.set(producer.id, producer);
        producer.on('transportclose', () => member.producers.delete(producer.id));
        return { producerId: producer.id };
      }
      case 'consumer.create': {
        // Before anything is piped in: a member with nowhere to receive it gets the error, not a pipe.
        receiveTransport(member);
        const room = this.roomFor(member);
        const request = payload as RequestOf<'consumer.create'>;
        const { participantId } = await this.pipedIn(room, request.producerId);
        const router = member.recvOn ? await this.fannedOut(room, member.recvOn, request.producerId) : await room.router;
        return consume(member, router, request, participantId, () => this.members.get(member.socketId) === member);
      }
      case 'consumer.resume':
        return resumeConsumer(member, payload as RequestOf<'consumer.resume'>);
      default:
        throw new SignalingError('UNKNOWN_MESSAGE', `not an edge request: ${type}`);
    }
  }

  close(): void {
    for (const socketId of [...this.members.keys()]) this.drop(socketId);
    for (const room of [...this.rooms.values()]) this.closeRoom(room);
  }
}
