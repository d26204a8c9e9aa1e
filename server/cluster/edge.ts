// The edge side of a cluster room: this relay's members of rooms held by another relay, and their requests answered here (the rooms' media: edge-rooms.ts).
import type { types } from 'mediasoup';
import { z } from 'zod';
import { SignalingError } from '../../protocol/errors.ts';
import type { ReplyOf, RequestOf, RequestType } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { certificateOf, connectTransport, consume, createTransport, produce, receiveTransport, restartIce, resumeConsumer } from '../media/endpoint.ts';
import { turnIceServers } from '../media/turn.ts';
import type { MediaPlacement } from '../media/placement.ts';
import type { RelayBus } from './bus.ts';
import { EdgeRooms, producerRef, type EdgeMember } from './edge-rooms.ts';
import { Feeds } from './feeds.ts';
import type { MediaTree } from './tree.ts';

/** Requests an edge relay answers itself: the member's media terminates here, whatever relay holds the room. */
export const EDGE_LOCAL = new Set<RequestType>(['transport.create', 'transport.connect', 'transport.restartIce', 'consumer.create', 'consumer.resume', 'turn.credentials', 'producer.create']);

/** Requests the origin decides and this relay then applies to the speaker's own producer here. */
export const EDGE_PRODUCER = new Set<RequestType>(['producer.pause', 'producer.resume', 'producer.close']);

export class EdgeSide {
  private readonly members = new Map<string, EdgeMember>();
  /** The remote rooms' media here (edge-rooms.ts). */
  private readonly rooms: EdgeRooms;
  /** Pipes from here to child relays of those rooms (feeds.ts). */
  private readonly feeds: Feeds;

  private readonly bus: RelayBus;
  private readonly placement: MediaPlacement;
  private readonly config: RelayConfig;
  private readonly now: () => number;
  private readonly releaseSocket: (socketId: string, comeBack?: boolean) => void;

  constructor(bus: RelayBus, placement: MediaPlacement, config: RelayConfig, tree: MediaTree, now: () => number, releaseSocket: (socketId: string, comeBack?: boolean) => void) {
    this.bus = bus;
    this.placement = placement;
    this.config = config;
    this.now = now;
    this.releaseSocket = releaseSocket;
    this.rooms = new EdgeRooms(bus, placement, config, tree);
    this.feeds = new Feeds(bus, this.rooms, config);
    bus.handle('member.released', (from, body) => {
      const { socketId } = z.object({ socketId: z.string() }).parse(body);
      const member = this.members.get(socketId);
      if (member && member.origin === from) this.releaseSocket(socketId);
    });
    bus.handle('room.moved', (from, body) => this.letGo(from, z.object({ roomId: z.string().max(128) }).parse(body).roomId));
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

  /** Pipes from parents (and to the origin for speakers here), and pipes to child relays. */
  get pipeCount(): number {
    return this.rooms.pipeCount + this.feeds.feeds.size;
  }

  /** Connected pipes from parents, the producers piped in through them, speakers' own producers here, and pipes to children (inspection for tests). */
  inspect(): { pipes: types.PipeTransport[]; producers: Promise<types.Producer | null>[]; speakers: types.Producer[]; feeds: { relay: string; transport: types.PipeTransport }[] } {
    return {
      speakers: [...this.members.values()].flatMap((m) => [...m.producers.values()]),
      feeds: [...this.feeds.feeds.values()],
      ...this.rooms.inspect(),
    };
  }

  /** The relay a remote room's media comes from here (inspection for tests). */
  parentOf(roomId: string): string | null {
    return this.rooms.parentOf(roomId);
  }

  /** Where this relay is in each room's tree (tree.ts), written again at each beat. */
  places(): [roomId: string, parent: string][] {
    return this.rooms.places();
  }

  /** Edges (not origins) this relay takes rooms' media from. */
  parentEdges(): Set<string> {
    return this.rooms.parentEdges();
  }

  /** The router a remote room's media lives on here, while a member here receives (inspection for tests). */
  routerOf(roomId: string): Promise<types.Router> | undefined {
    return this.rooms.routerOf(roomId);
  }

  /** A remote room's fan-out routers here, by worker (inspection for tests). */
  fanoutOf(roomId: string): Map<types.Worker, Promise<types.Router>> {
    return this.rooms.fanoutOf(roomId);
  }

  /** The relays whose rooms this one serves members of, feeds media to or takes it from: the ones whose death it must notice. */
  origins(): Set<string> {
    const out = new Set<string>(this.feeds.peers());
    for (const m of this.members.values()) out.add(m.origin);
    for (const [, parent] of this.rooms.places()) out.add(parent);
    return out;
  }

  /** A relay died: the pipes it fed from here go, and the rooms it fed here take their media from another parent. */
  relayDied(relay: string): void {
    this.feeds.relayDied(relay);
    this.rooms.parentDied(relay);
  }

  join(socketId: string, roomId: string, origin: string, participantId: string): EdgeMember {
    // The room moved (its origin died and another relay took it over) before this relay noticed the death: its
    // members here under the old origin are let go now, as at the death notice, or their edge room, fed from a relay
    // that no longer holds the room, would be this member's too, and its pipes would go to the dead relay.
    for (const m of [...this.members.values()]) if (m.roomId === roomId && m.origin !== origin && m.participantId !== '') this.releaseSocket(m.socketId, true);
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
    this.rooms.left(member);
    return member;
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
    this.letGo(origin);
  }

  /** Members under an origin (of one of its rooms: one it gave up, taken over by another relay) go, to come back. */
  private letGo(origin: string, roomId?: string): void {
    // A join still waiting for the origin's answer is not released: it fails, and is sent on to where the room moved.
    for (const member of [...this.members.values()]) if (member.origin === origin && (roomId === undefined || member.roomId === roomId) && member.participantId !== '') this.releaseSocket(member.socketId, true);
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
          const room = this.rooms.roomFor(member);
          // A microphone goes on the room's own router, where the pipe to the origin is; listeners spread by load.
          const onHome = [...room.receivers].filter((m) => m.loadWorker !== null && m.recvOn === null).length;
          const worker = direction === 'send' ? room.worker : this.placement.edgeReceiveWorker(room.worker, onHome);
          const fanout = worker === room.worker ? null : this.rooms.fanoutOn(room, worker);
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
          const room = this.rooms.roomFor(member);
          const { transport: pipe, pipeId } = await this.rooms.upPipeOf(room);
          const crossing = await pipe.consume({ producerId: producer.id });
          // The origin checks the role and makes it the member's microphone; only then is it anyone's to hear.
          await this.bus.request(member.origin, 'pipe.produce', {
            pipeId,
            socketId: member.socketId,
            producerId: producer.id,
            rtpParameters: crossing.rtpParameters,
            paused: crossing.producerPaused,
            streamCertificate: certificateOf(producer),
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
        const room = this.rooms.roomFor(member);
        const request = payload as RequestOf<'consumer.create'>;
        const { producer, participantId } = await this.rooms.pipedIn(room, request.producerId);
        const router = member.recvOn ? await this.rooms.fannedOut(room, member.recvOn, request.producerId) : await room.router;
        return consume(member, router, request, participantId, certificateOf(producer), () => this.members.get(member.socketId) === member);
      }
      case 'consumer.resume':
        return resumeConsumer(member, payload as RequestOf<'consumer.resume'>);
      default:
        throw new SignalingError('UNKNOWN_MESSAGE', `not an edge request: ${type}`);
    }
  }

  close(): void {
    for (const socketId of [...this.members.keys()]) this.drop(socketId);
    this.rooms.close();
  }
}
