// The media of rooms held by other relays, on this edge relay: each room's router, its pipe to the origin, the producers piped in, its fan-out.
import type { types } from 'mediasoup';
import { z } from 'zod';
import { StreamCertificate } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import type { MediaEndpoint } from '../media/media-state.ts';
import type { MediaPlacement } from '../media/placement.ts';
import type { RelayBus } from './bus.ts';
import { connectPipe, createPipe, pipeEnd } from './pipes.ts';

const pipeOpened = pipeEnd.extend({ pipeId: z.string() });
const pipedProducer = z.object({
  participantId: z.string(),
  kind: z.literal('audio'),
  rtpParameters: z.record(z.string(), z.unknown()),
  paused: z.boolean(),
  streamCertificate: StreamCertificate.optional(),
});
/** A producer named by an origin: piped in through one pipe, or a speaker's own here. */
export const producerRef = z.object({ pipeId: z.string(), producerId: z.string() });

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
export interface EdgeFanout {
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

export class EdgeRooms {
  private readonly rooms = new Map<string, EdgeRoom>();
  private readonly bus: RelayBus;
  private readonly placement: MediaPlacement;
  private readonly config: RelayConfig;

  constructor(bus: RelayBus, placement: MediaPlacement, config: RelayConfig) {
    this.bus = bus;
    this.placement = placement;
    this.config = config;
    bus.handle('pipe.closed', (from, body) => this.pipeClosed(from, z.object({ pipeId: z.string() }).parse(body).pipeId));
    bus.handle('pipe.producerClosed', (from, body) => this.withProducer(from, body, (p) => p.close()));
    bus.handle('pipe.producerPaused', (from, body) => this.withProducer(from, body, (p) => p.pause()));
    bus.handle('pipe.producerResumed', (from, body) => this.withProducer(from, body, (p) => p.resume()));
  }

  get pipeCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) if (room.pipe) n++;
    return n;
  }

  /** Connected pipes and the producers piped in through them (inspection for tests). */
  inspect(): { pipes: types.PipeTransport[]; producers: Promise<types.Producer | null>[] } {
    const rooms = [...this.rooms.values()];
    return {
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

  /** A member's media went: the room's router and pipe go with its last receiver. */
  left(member: EdgeMember): void {
    const room = this.rooms.get(member.roomId);
    if (room?.receivers.delete(member) && room.receivers.size === 0) this.closeRoom(room);
  }

  private closeRoom(room: EdgeRoom): void {
    this.rooms.delete(room.roomId);
    const pipe = room.pipe;
    room.router.then((r) => r.close()).catch(() => undefined);
    for (const f of room.fanout.values()) f.router.then((r) => r.close()).catch(() => undefined);
    pipe?.then(({ pipeId }) => this.bus.tell(room.origin, 'pipe.close', { pipeId })).catch(() => undefined);
  }

  roomFor(member: EdgeMember): EdgeRoom {
    let room = this.rooms.get(member.roomId);
    if (!room) {
      const { worker, router } = this.placement.edgeRouter();
      room = { roomId: member.roomId, origin: member.origin, worker, router, pipe: null, connected: null, producers: new Map(), fanout: new Map(), receivers: new Set() };
      room.router.catch(() => undefined);
      this.rooms.set(member.roomId, room);
    }
    return room;
  }

  pipeOf(room: EdgeRoom): Promise<{ transport: types.PipeTransport; pipeId: string }> {
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
  pipedIn(room: EdgeRoom, producerId: string): Promise<{ producer: types.Producer; participantId: string }> {
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
          appData: { streamCertificate: piped.streamCertificate },
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
  fanoutOn(room: EdgeRoom, worker: types.Worker): EdgeFanout {
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
  async fannedOut(room: EdgeRoom, fanout: EdgeFanout, producerId: string): Promise<types.Router> {
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

  close(): void {
    for (const room of [...this.rooms.values()]) this.closeRoom(room);
  }
}
