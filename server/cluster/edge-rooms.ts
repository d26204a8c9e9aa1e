// The media of rooms held by other relays, on this edge relay: each room's router, its pipe from a parent in the room's tree, the producers piped in, its fan-out.
import type { types } from 'mediasoup';
import { z } from 'zod';
import { StreamCertificate } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import type { MediaEndpoint } from '../media/media-state.ts';
import type { MediaPlacement } from '../media/placement.ts';
import type { RelayBus } from './bus.ts';
import { connectPipe, createPipe, pipeEnd } from './pipes.ts';
import { SplicedProducer } from './splice.ts';
import type { MediaTree } from './tree.ts';

const pipeOpened = pipeEnd.extend({ pipeId: z.string() });
const pipedProducer = z.object({
  participantId: z.string(),
  kind: z.literal('audio'),
  rtpParameters: z.record(z.string(), z.unknown()),
  paused: z.boolean(),
  streamCertificate: StreamCertificate.optional(),
});
/** A producer named by a parent (the origin or another edge): piped in through one pipe, or a speaker's own here. */
export const producerRef = z.object({ pipeId: z.string(), producerId: z.string() });

/** A member connected here to a room held elsewhere; its producers are its microphone here, piped to the origin. */
export interface EdgeMember extends MediaEndpoint {
  socketId: string;
  roomId: string;
  origin: string;
  participantId: string;
  /**
   * Admitted by this relay (edge-joins.ts): settles once the origin has taken it in, and its requests to the origin
   * wait for that; rejected when the origin refused it. Absent for a member the origin admitted.
   */
  admitted?: Promise<void>;
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

type Pipe = { transport: types.PipeTransport; pipeId: string };

/**
 * A remote room's media on this relay: one router, one SRTP pipe from its parent in the room's tree (the origin, or
 * an edge that has room for a child: tree.ts), and each producer that a member or a child relay here consumes piped
 * in once, kept on a producer of its own that outlives the pipe (splice.ts). It exists while a member here receives,
 * and goes with the last one.
 */
export interface EdgeRoom {
  roomId: string;
  origin: string;
  worker: types.Worker;
  router: Promise<types.Router>;
  /** Where the piped-in producers live: a DirectTransport on the router, fed from whichever pipe is current. */
  direct: Promise<types.DirectTransport>;
  /** The relay the pipe comes from, once chosen. */
  parent: string | null;
  /** Relays that let this one go: not chosen again at once, though the directory may still list them. */
  avoid: Set<string>;
  pipe: Promise<Pipe> | null;
  /** The pipe once it is connected, for inspection. */
  connected: types.PipeTransport | null;
  /** A pipe to the origin for speakers here, when the parent is another edge (speakers' producers go to the origin). */
  up: Promise<Pipe> | null;
  producers: Map<string, Promise<{ spliced: SplicedProducer; participantId: string }>>;
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
  private readonly tree: MediaTree;

  constructor(bus: RelayBus, placement: MediaPlacement, config: RelayConfig, tree: MediaTree) {
    this.bus = bus;
    this.placement = placement;
    this.config = config;
    this.tree = tree;
    bus.handle('pipe.closed', (from, body) => this.pipeClosed(from, z.object({ pipeId: z.string() }).parse(body).pipeId));
    bus.handle('pipe.producerClosed', (from, body) => this.withProducer(from, body, (p) => p.close()));
    bus.handle('pipe.producerPaused', (from, body) => this.withProducer(from, body, (p) => p.pause()));
    bus.handle('pipe.producerResumed', (from, body) => this.withProducer(from, body, (p) => p.resume()));
  }

  get pipeCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += (room.pipe ? 1 : 0) + (room.up ? 1 : 0);
    return n;
  }

  /** Connected pipes and the producers piped in through them (inspection for tests). */
  inspect(): { pipes: types.PipeTransport[]; producers: Promise<types.Producer | null>[] } {
    const rooms = [...this.rooms.values()];
    return {
      pipes: rooms.flatMap((r) => (r.connected && !r.connected.closed ? [r.connected] : [])),
      producers: rooms.flatMap((r) =>
        [...r.producers.values()].map((p) =>
          p.then(
            (e) => e.spliced.producer,
            () => null,
          ),
        ),
      ),
    };
  }

  /** The relay a remote room's media comes from here (inspection for tests). */
  parentOf(roomId: string): string | null {
    return this.rooms.get(roomId)?.parent ?? null;
  }

  /** A remote room's media here, for a child relay's pipe (feeds.ts). */
  room(roomId: string): EdgeRoom | undefined {
    return this.rooms.get(roomId);
  }

  /** Where this relay is in each room's tree: its directory entries, written again at each beat. */
  places(): [roomId: string, parent: string][] {
    return [...this.rooms.values()].flatMap((r) => (r.parent && r.connected ? [[r.roomId, r.parent] as [string, string]] : []));
  }

  /** The relays, other than rooms' origins, this one takes rooms' media from now. */
  parentEdges(): Set<string> {
    return new Set([...this.rooms.values()].flatMap((r) => (r.parent && r.parent !== r.origin && r.connected ? [r.parent] : [])));
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
    const { pipe, up, parent } = room;
    // Its children find it gone from the tree when they choose again, after the router's close lets them go.
    if (parent) this.tree.detach(room.roomId).catch(() => undefined);
    room.router.then((r) => r.close()).catch(() => undefined);
    for (const f of room.fanout.values()) f.router.then((r) => r.close()).catch(() => undefined);
    pipe?.then(({ pipeId }) => parent && this.bus.tell(parent, opOf(room, parent, 'close'), { pipeId })).catch(() => undefined);
    up?.then(({ pipeId }) => this.bus.tell(room.origin, 'pipe.close', { pipeId })).catch(() => undefined);
  }

  roomFor(member: EdgeMember): EdgeRoom {
    let room = this.rooms.get(member.roomId);
    if (!room) {
      const { worker, router } = this.placement.edgeRouter();
      const direct = router.then((r) => r.createDirectTransport());
      room = { roomId: member.roomId, origin: member.origin, worker, router, direct, parent: null, avoid: new Set(), pipe: null, connected: null, up: null, producers: new Map(), fanout: new Map(), receivers: new Set() };
      room.router.catch(() => undefined);
      room.direct.catch(() => undefined);
      this.rooms.set(member.roomId, room);
    }
    return room;
  }

  /** The pipe from the room's parent: chosen in the directory, then opened there; a parent that refuses is avoided and another chosen. */
  pipeOf(room: EdgeRoom): Promise<Pipe> {
    room.pipe ??= (async () => {
      for (;;) {
        const parent = await this.tree.attach(room.roomId, room.origin, room.avoid);
        if (this.rooms.get(room.roomId) !== room) throw new Error('edge room closed');
        room.parent = parent;
        try {
          const pipe = await this.openPipe(room, parent);
          room.connected = pipe.transport;
          return pipe;
        } catch (error) {
          if (parent === room.origin) throw error;
          room.avoid.add(parent);
        }
      }
    })();
    room.pipe.catch(() => {
      if (this.rooms.get(room.roomId) === room) room.pipe = null;
    });
    return room.pipe;
  }

  /** The pipe a speaker here sends to the origin through: the parent's when that is the origin, else one of its own. */
  async upPipeOf(room: EdgeRoom): Promise<Pipe> {
    const pipe = await this.pipeOf(room);
    if (room.parent === room.origin) return pipe;
    room.up ??= this.openPipe(room, room.origin);
    room.up.catch(() => {
      if (this.rooms.get(room.roomId) === room) room.up = null;
    });
    return room.up;
  }

  private async openPipe(room: EdgeRoom, relay: string): Promise<Pipe> {
    const { transport, end } = await createPipe(await room.router, this.config);
    try {
      const remote = pipeOpened.parse(await this.bus.request(relay, opOf(room, relay, 'open'), { roomId: room.roomId, ...end }));
      await connectPipe(transport, remote);
      return { transport, pipeId: remote.pipeId };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  /** A consumer on the room's DirectTransport of the producer piped in through the current pipe from the parent. */
  private async source(room: EdgeRoom, producerId: string): Promise<{ consumer: types.Consumer; piped: z.infer<typeof pipedProducer> }> {
    const { transport, pipeId } = await this.pipeOf(room);
    const parent = room.parent as string;
    const piped = pipedProducer.parse(await this.bus.request(parent, opOf(room, parent, 'consume'), { pipeId, producerId }));
    // Never paused itself: the parent's pipe consumer sends nothing while the producer is paused, and a mute or an
    // unmute is applied to the spliced producer, which the consumers here follow.
    const ingress = await transport.produce({ kind: piped.kind, rtpParameters: piped.rtpParameters as unknown as types.RtpParameters, paused: false });
    const consumer = await (await room.direct).consume({ producerId: ingress.id, rtpCapabilities: (await room.router).rtpCapabilities });
    consumer.observer.once('close', () => ingress.close());
    return { consumer, piped };
  }

  /** Each producer crosses into this relay once, however many members and child relays here consume it. */
  pipedIn(room: EdgeRoom, producerId: string): Promise<{ producer: types.Producer; participantId: string }> {
    // A speaker connected here: its producer is on this router already.
    for (const m of room.receivers) {
      const own = m.producers.get(producerId);
      if (own && !own.closed) return Promise.resolve({ producer: own, participantId: m.participantId });
    }
    let entry = room.producers.get(producerId);
    if (!entry) {
      const made = (async () => {
        const { consumer, piped } = await this.source(room, producerId);
        const spliced = await SplicedProducer.make(await room.direct, producerId, consumer, piped.paused, piped.streamCertificate);
        spliced.producer.observer.once('close', () => {
          if (room.producers.get(producerId) === made) room.producers.delete(producerId);
        });
        return { spliced, participantId: piped.participantId };
      })();
      made.catch(() => {
        if (room.producers.get(producerId) === made) room.producers.delete(producerId);
      });
      room.producers.set(producerId, made);
      entry = made;
    }
    return entry.then(({ spliced, participantId }) => ({ producer: spliced.producer, participantId }));
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
      if (room.parent !== from) continue;
      void room.pipe
        ?.then(async (pipe) => {
          if (pipe.pipeId !== pipeId) return;
          const entry = await room.producers.get(producerId);
          if (entry && !entry.spliced.producer.closed) await act(entry.spliced.producer);
        })
        .catch(() => undefined);
    }
  }

  /** The parent's end went (it left the room, or the origin's router went): this relay takes the room from another parent. */
  private pipeClosed(from: string, pipeId: string): void {
    for (const room of this.rooms.values()) {
      void room.up
        ?.then((up) => {
          if (from !== room.origin || up.pipeId !== pipeId) return;
          up.transport.close();
          room.up = null;
        })
        .catch(() => undefined);
      if (room.parent !== from) continue;
      void room.pipe
        ?.then((pipe) => {
          if (pipe.pipeId === pipeId) this.reattach(room, from);
        })
        .catch(() => undefined);
    }
  }

  /** A parent relay died: each room it fed here takes its media from another (a dead origin's rooms move instead: cluster.ts). */
  parentDied(relay: string): void {
    for (const room of this.rooms.values()) if (room.parent === relay && room.origin !== relay) this.reattach(room, relay);
  }

  /**
   * The pipe from `gone` is no more: a new parent is chosen and every producer piped in again from it, into the same
   * producers here, so the listeners' consumers and child relays' pipes carry on. A producer the new parent does not
   * have (it closed meanwhile), or a room no parent can feed, goes silent: its producer here closes.
   */
  private reattach(room: EdgeRoom, gone: string): void {
    room.connected?.close();
    room.connected = null;
    room.pipe = null;
    if (gone !== room.origin) room.avoid.add(gone);
    for (const [producerId, entry] of room.producers) {
      void (async () => {
        const { spliced } = await entry;
        if (spliced.producer.closed) return;
        try {
          const { consumer, piped } = await this.source(room, producerId);
          spliced.feed(consumer);
          await (piped.paused ? spliced.producer.pause() : spliced.producer.resume());
        } catch {
          spliced.producer.close();
        }
      })().catch(() => undefined);
    }
  }

  close(): void {
    for (const room of [...this.rooms.values()]) this.closeRoom(room);
  }
}

/** The op a request to `relay` takes: the origin answers pipe.*, an edge parent feed.* (feeds.ts). */
function opOf(room: EdgeRoom, relay: string, op: 'open' | 'consume' | 'close'): string {
  return `${relay === room.origin ? 'pipe' : 'feed'}.${op}`;
}
