// Cluster mode (REDIS_URL): routes each request to the relay holding its room, keeps the directory fresh, and notices dead relays.
import type { types } from 'mediasoup';
import type { Logger } from 'pino';
import type { Server as SocketServer } from 'socket.io';
import { z } from 'zod';
import { SignalingError } from '../../protocol/errors.ts';
import type { JoinResult, RequestOf, RequestType } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import type { MediaPlacement } from '../media/placement.ts';
import { newId } from '../rooms/participant.ts';
import type { Handlers } from '../rooms/handler.ts';
import { requestHandlers } from '../rooms/requests.ts';
import type { RoomService, Session } from '../rooms/room-service.ts';
import type { Dispatcher } from '../signaling/connection.ts';
import { INBOX_BEATS, RelayBus, RelayUnavailableError, type BusTraffic } from './bus.ts';
import { RoomDirectory } from './directory.ts';
import { EDGE_LOCAL, EDGE_PRODUCER, EdgeSide } from './edge.ts';
import { EdgeJoins } from './edge-joins.ts';
import { OriginSide, type ForwardedReply } from './origin.ts';
import { RecordWriter } from './records.ts';
import { RECONNECT_MAX_MS, type RedisClient } from './redis.ts';
import { MediaTree } from './tree.ts';

const relayedEvents = z.object({ socketIds: z.array(z.string().max(64)), event: z.string().max(64), payload: z.unknown() });

export interface ClusterStats {
  relayId: string;
  roomsHeld: () => number;
  remoteMembers: () => number;
  edgeMembers: () => number;
  /** Members connected here to rooms held elsewhere, whose transports, producers and consumers live on this relay. */
  edgeMedia: () => Iterable<{ transports: Map<string, unknown>; producers: Map<string, unknown>; consumers: Map<string, unknown> }>;
  pipes: () => number;
  /** The last heartbeat's round trip to Redis, in seconds. */
  redisLatency: () => number;
  /** The router a room held by another relay has here while members here receive it (tests inspect the pipe). */
  edgeRouter: (roomId: string) => Promise<types.Router> | undefined;
  /** Its fan-out routers here on other workers, by worker, once the edge router carries LISTENERS_PER_ROUTER receivers. */
  edgeFanout: (roomId: string) => Map<types.Worker, Promise<types.Router>>;
  /** Pipe transports at both ends (origin and edge), and producers piped in here. */
  pipeTransports: () => types.PipeTransport[];
  pipedProducers: () => Promise<(types.Producer | null)[]>;
  /** The relay a room held elsewhere takes its media from here: its origin, or another edge (tree.ts). */
  treeParent: (roomId: string) => string | null;
  /** The child relays this one pipes rooms held elsewhere on to, one entry per pipe. */
  feeds: () => string[];
  /** Microphones of speakers connected here to rooms held elsewhere (the origin has a piped copy of each). */
  speakerProducers: () => types.Producer[];
  /** Rooms this relay took over from relays that died. */
  roomsTaken: () => number;
  /** Messages and bytes to and from other relays' inboxes. */
  busTraffic: () => BusTraffic;
  /**
   * Joins by where they were decided: requests other relays forwarded here, by type; listeners taken in from edges'
   * admissions; and, as an edge, joins and peeks answered here and the messages that told origins of them.
   */
  joins: () => { forwardedHere: Record<string, number>; takenFromEdges: number; answeredHere: number; peeksHere: number; batchesSent: number };
}

export class Cluster implements Dispatcher {
  readonly relayId = newId(9);
  readonly bus: RelayBus;
  readonly directory: RoomDirectory;
  readonly origin: OriginSide;
  readonly edge: EdgeSide;
  readonly edgeJoins: EdgeJoins;
  private readonly records: RecordWriter;
  private readonly tree: MediaTree;
  private timer: NodeJS.Timeout | null = null;
  private parentTimer: NodeJS.Timeout | null = null;
  /** Parents in rooms' media trees found not listening on their channel at the last look (watchParents). */
  private readonly silentParents = new Set<string>();
  private latency = 0;
  /** When the oldest heartbeat not yet through began: during a Redis outage the latency gauge grows from it, not stays at the last good value. */
  private beatPendingSince: number | null = null;
  /** Peers whose directory entry was missing at this relay's last beat. */
  private readonly missed = new Map<string, number>();
  /**
   * Until when a peer's absence (from the directory, from its channel) says nothing of it: this relay's Redis
   * connection came back, so Redis may have restarted empty, and the other relays reconnect up to RECONNECT_MAX_MS
   * later, then write their entries at their next beat.
   */
  private redisBackUntil = 0;
  /** Rooms this relay is taking over from a dead relay: requests that name one wait for the outcome. */
  private readonly takeovers = new Map<string, Promise<string | null>>();
  private roomsTaken = 0;

  private readonly io: SocketServer;
  private readonly service: RoomService;
  private readonly handlers: Handlers;
  private readonly placement: MediaPlacement;
  private readonly config: RelayConfig;
  private readonly log: Logger;

  constructor(io: SocketServer, redis: RedisClient, service: RoomService, placement: MediaPlacement, config: RelayConfig, log: Logger, now: () => number) {
    this.io = io;
    this.service = service;
    this.handlers = requestHandlers(service);
    this.placement = placement;
    this.config = config;
    this.log = log;
    // Connected before the cluster starts: this fires only when the connection comes back.
    redis.on('ready', () => {
      this.redisBackUntil = performance.now() + RECONNECT_MAX_MS + config.clusterHeartbeatMs * 3;
    });
    // The inbox outlives the relay's directory entry, so that a late relay loses nothing; a dead relay's goes after it.
    this.bus = new RelayBus(redis, this.relayId, config.clusterHeartbeatMs * INBOX_BEATS, (op, error) => log.error({ err: error.name, op }, 'relay request failed'));
    // A room's record outlives its relay by the members' grace: long enough for another relay to take the room over.
    this.directory = new RoomDirectory(redis, this.relayId, config.clusterHeartbeatMs * 3, config.clusterHeartbeatMs * 3 + config.disconnectGraceMs);
    this.records = new RecordWriter(
      this.directory,
      service,
      this.relayId,
      log,
      () => ({ edgeMembers: this.edge.size, pipes: this.origin.pipes.size + this.edge.pipeCount }),
      (roomId) => this.giveUp(roomId),
    );
    this.origin = new OriginSide(this.bus, service, config, (roomId) => this.touched(roomId));
    this.tree = new MediaTree(redis, this.relayId, config.pipeChildren, config.clusterHeartbeatMs * 3 + config.disconnectGraceMs);
    this.edge = new EdgeSide(this.bus, placement, config, this.tree, now, (socketId, comeBack) => this.releaseSocket(socketId, comeBack));
    this.edgeJoins = new EdgeJoins(this.bus, this.directory, config, log, (socketId) => this.releaseSocket(socketId, true));
    // Events from a room's origin for members connected here: only to sockets that are its members through this relay.
    this.bus.handle('events', (from, body) => {
      const { socketIds, event, payload } = relayedEvents.parse(body);
      const ours = socketIds.filter((id) => this.edge.memberOf(id)?.origin === from);
      if (ours.length > 0) this.io.local.to(ours).emit(event, payload);
    });
    this.bus.handle('socket.disconnect', (from, body) => {
      const { socketId } = z.object({ socketId: z.string() }).parse(body);
      if (this.edge.memberOf(socketId)?.origin === from) this.releaseSocket(socketId);
    });
  }

  /**
   * The room service's multicast in cluster mode: sockets here at once, and for each other relay with members among
   * them one message naming its sockets, so that an event crosses Redis once per relay that has members to get it.
   */
  multicast(socketIds: string[], event: string, payload: unknown): void {
    const local: string[] = [];
    const byRelay = new Map<string, string[]>();
    for (const id of socketIds) {
      const relay = this.origin.relayOf(id);
      if (relay === undefined) local.push(id);
      else byRelay.set(relay, [...(byRelay.get(relay) ?? []), id]);
    }
    if (local.length > 0) this.io.local.to(local).emit(event, payload);
    for (const [relay, ids] of byRelay) this.bus.tell(relay, 'events', { socketIds: ids, event, payload });
  }

  stats(): ClusterStats {
    return {
      relayId: this.relayId,
      roomsHeld: () => this.service.rooms.size,
      remoteMembers: () => this.origin.remoteMembers,
      edgeMembers: () => this.edge.size,
      edgeMedia: () => this.edge.allMembers(),
      pipes: () => this.origin.pipes.size + this.edge.pipeCount,
      redisLatency: () => (this.beatPendingSince === null ? this.latency : Math.max(this.latency, (performance.now() - this.beatPendingSince) / 1000)),
      edgeRouter: (roomId) => this.edge.routerOf(roomId),
      edgeFanout: (roomId) => this.edge.fanoutOf(roomId),
      pipeTransports: () => [...[...this.origin.pipes.values()].map((p) => p.transport), ...this.edge.inspect().pipes],
      treeParent: (roomId) => this.edge.parentOf(roomId),
      feeds: () => this.edge.inspect().feeds.map((f) => f.relay),
      pipedProducers: () => Promise.all(this.edge.inspect().producers),
      speakerProducers: () => this.edge.inspect().speakers,
      roomsTaken: () => this.roomsTaken,
      busTraffic: () => ({ ...this.bus.traffic }),
      joins: () => ({
        forwardedHere: Object.fromEntries(this.origin.counts.forwarded),
        takenFromEdges: this.origin.counts.edgeAdmitted,
        answeredHere: this.edgeJoins.counts.joins,
        peeksHere: this.edgeJoins.counts.peeks,
        batchesSent: this.edgeJoins.counts.batches,
      }),
    };
  }

  async start(): Promise<void> {
    await this.bus.start();
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat().catch((error: Error) => this.log.warn({ err: error.name }, 'cluster heartbeat failed')), this.config.clusterHeartbeatMs);
    this.timer.unref();
    this.parentTimer = setInterval(() => void this.watchParents().catch(() => undefined), this.config.clusterHeartbeatMs / 4);
    this.parentTimer.unref();
  }

  async dispatch(session: Session, type: RequestType, payload: unknown): Promise<unknown> {
    const socketId = session.socket.id;
    const edge = this.edge.memberOf(socketId);
    if (edge) {
      if (type === 'room.join' || type === 'room.create') throw new SignalingError('ALREADY_IN_ROOM', 'leave your current room first');
      if (EDGE_LOCAL.has(type)) return this.edge.handle(edge, type, payload as never);
      // Admitted here: the origin hears of it before anything it asks (a refused member's page is already let go).
      if (edge.admitted)
        await edge.admitted.catch(() => {
          throw new SignalingError('NOT_IN_ROOM', 'join a room first');
        });
      const reply = await this.forward(session, edge.origin, type, payload);
      if (type === 'room.leave') this.edge.drop(socketId);
      if (EDGE_PRODUCER.has(type)) await this.edge.applyToProducer(edge, type, (payload as { producerId: string }).producerId);
      return reply;
    }
    // A link opened on any relay: its room's existence, title and lock, and a listener's join, come from the room's
    // join view here when it can answer (edge-joins.ts), else from the room's origin.
    if ((type === 'room.join' && !session.participant) || type === 'room.peek') {
      const { roomId } = payload as { roomId: string };
      if (!this.service.rooms.has(roomId)) {
        const here = type === 'room.join' ? await this.joinHere(session, payload as RequestOf<'room.join'>) : await this.edgeJoins.peek(roomId);
        if (here) return here;
        const toOrigin = (origin: string) => (type === 'room.join' ? this.joinRemote(session, origin, roomId, payload) : this.forward(session, origin, type, payload));
        const origin = await this.locate(roomId);
        if (origin && origin !== this.relayId) {
          try {
            return await toOrigin(origin);
          } catch (error) {
            if (!(error instanceof RelayUnavailableError)) throw error;
            // A page whose relay died comes back before the others notice: it gets the room where it moved.
            const moved = await this.relocate(roomId, origin);
            if (moved === origin) throw error;
            if (moved && moved !== this.relayId) return toOrigin(moved);
          }
        }
      }
    }
    if (type === 'room.create' && !session.participant) return this.create(session, payload as { roomId: string });
    const result = await (this.handlers[type] as (s: Session, p: unknown) => unknown)(session, payload);
    const roomId = session.room?.id;
    if (roomId) this.touched(roomId);
    return result;
  }

  /** A listener's join answered here, without the origin (edge-joins.ts); null when it is the origin's to answer. */
  private async joinHere(session: Session, request: RequestOf<'room.join'>): Promise<JoinResult | null> {
    // A disconnect waits for this request (signaling/connection.ts): the member registered here is dropped after it.
    const socketId = session.socket.id;
    return this.edgeJoins.join(request, socketId, (origin, participantId) => this.edge.join(socketId, request.roomId, origin, participantId));
  }

  private async joinRemote(session: Session, origin: string, roomId: string, payload: unknown): Promise<unknown> {
    const socketId = session.socket.id;
    // Registered before the request: the origin may tell of a release (a lobby declined) before its reply arrives.
    const member = this.edge.join(socketId, roomId, origin, '');
    try {
      // This member's media lives on this edge, not at the origin: its receive side is asked for here, after the join.
      const { receive: _edgeMedia, ...join } = payload as { receive?: unknown };
      const reply = (await this.forward(session, origin, 'room.join', join)) as JoinResult | { lobby: true; participantId: string };
      member.participantId = reply.participantId;
      return reply;
    } catch (error) {
      this.edge.drop(socketId);
      throw error;
    }
  }

  /** Sends a request to the room's origin; the events that must follow its reply go out after the acknowledgement. */
  private async forward(session: Session, origin: string, type: RequestType, payload: unknown): Promise<unknown> {
    const { data, then } = (await this.bus.request(origin, 'client.request', { socketId: session.socket.id, type, payload })) as ForwardedReply;
    if (then.length > 0)
      session.afterReply = () => {
        for (const { event, payload: p } of then) session.socket.emit(event, p);
      };
    return data;
  }

  /** A room id is unique across the cluster: the directory claims it before the room is made here. */
  private async create(session: Session, payload: { roomId: string }): Promise<unknown> {
    // A room whose relay died is taken over, not replaced: its members are coming back to it.
    const taken = !this.service.rooms.has(payload.roomId) && (await this.locate(payload.roomId)) !== null;
    if (taken || !(await this.directory.claim(payload.roomId))) throw new SignalingError('ROOM_EXISTS', 'a room with this id already exists');
    try {
      const result = await this.handlers['room.create'](session, payload as never);
      this.touched(payload.roomId);
      return result;
    } catch (error) {
      await this.directory.release(payload.roomId);
      throw error;
    }
  }

  disconnected(session: Session): void {
    const socketId = session.socket.id;
    const edge = this.edge.drop(socketId);
    // One admitted here is the origin's to let go once it has taken it in (and needs nothing if it refused it).
    if (edge)
      void (edge.admitted ?? Promise.resolve()).then(
        () => this.bus.tell(edge.origin, 'client.gone', { socketId }),
        () => undefined,
      );
    else {
      const roomId = session.room?.id;
      this.service.disconnected(session);
      if (roomId) this.touched(roomId);
    }
  }

  /**
   * The relay holding a room: the live one the directory names, or, when that relay died and the room's record is
   * still there, whichever relay takes it over first (this one, if it wins the swap in Redis). `dead`: a relay this
   * one already found dead at its beats.
   */
  private async locate(roomId: string, dead?: string): Promise<string | null> {
    const origin = await this.directory.originOf(roomId);
    if (origin) return origin;
    let pending = this.takeovers.get(roomId);
    if (!pending) {
      pending = this.takeOver(roomId, dead).finally(() => this.takeovers.delete(roomId));
      this.takeovers.set(roomId, pending);
    }
    return pending;
  }

  /**
   * The room's origin did not answer: if it died, its entry expires within three beats and a relay takes the room
   * over. Waits that long at most (the page's request waits 15 s), and gives the origin it then finds.
   */
  private async relocate(roomId: string, silent: string): Promise<string | null> {
    const deadline = performance.now() + this.config.clusterHeartbeatMs * 4;
    for (;;) {
      const origin = await this.locate(roomId);
      if (origin !== silent || performance.now() > deadline) return origin;
      await new Promise((resolve) => setTimeout(resolve, this.config.clusterHeartbeatMs / 2));
    }
  }

  /**
   * Makes a room whose origin relay died again here, from its record. The router is made before the swap in Redis:
   * once the directory names this relay, other relays forward the members' resumes here at once.
   */
  private async takeOver(roomId: string, dead?: string): Promise<string | null> {
    let orphan = await this.directory.orphan(roomId);
    if (!orphan) return this.directory.originOf(roomId);
    if (orphan.deadRelay !== dead) {
      // One missing entry is not a death, as at the beats: a live relay's refresh can be late (a stalled event loop,
      // a slow Redis). Taking its room then would leave two relays holding it, each with some of its members, for
      // good. Its entry must still be missing a beat later (and at the swap, which checks it again).
      await new Promise((resolve) => setTimeout(resolve, this.config.clusterHeartbeatMs));
      orphan = await this.directory.orphan(roomId);
      if (!orphan) return this.directory.originOf(roomId);
    }
    const { router, worker } = await this.placement.roomRouter();
    if (this.service.rooms.has(roomId) || !(await this.directory.takeOver(roomId, orphan.deadRelay))) {
      router.close();
      return this.service.rooms.has(roomId) ? this.relayId : this.directory.originOf(roomId);
    }
    try {
      this.service.restoreRoom(roomId, orphan.record, router, worker);
    } catch (error) {
      router.close();
      throw error;
    }
    this.roomsTaken++;
    this.log.info({ members: orphan.record.members.length }, 'took over a room whose relay died');
    this.touched(roomId);
    return this.relayId;
  }

  /** A room's origin relay died: this relay takes over the rooms it has members of, then lets those members resume. */
  private async originDied(origin: string): Promise<void> {
    await Promise.all([...this.edge.roomsOf(origin)].map((roomId) => this.locate(roomId, origin).catch((error: Error) => this.log.warn({ err: error.name }, 'room takeover failed'))));
    this.edge.originDied(origin);
    // Joins waiting on it (pages that came back here before the death was noticed) go to where the room moved.
    this.bus.abandon(origin);
  }

  /**
   * Another relay took this room over while this one was thought dead (stalled past the beats) and holds it now: the
   * copy here closes, router and pipes with it, without telling anyone that anyone left. Its members lose their
   * connections as on this relay's death, here and at their edges: their pages reconnect and resume with their
   * tokens where the directory sends them, the new holder, which knows them from the record.
   */
  private giveUp(roomId: string): void {
    const room = this.service.rooms.get(roomId);
    if (!room) return;
    const here = [...room.members.values(), ...room.lobby.values()].flatMap((p) => (p.socket && this.origin.relayOf(p.socket.id) === undefined ? [p.socket.id] : []));
    this.origin.letGo(room);
    this.service.closeRoom(room, false);
    for (const socketId of here) this.releaseSocket(socketId, true);
  }

  /**
   * The origin released this socket's member (removed, or resumed on another connection), or died: the socket goes.
   * A page that is to come back (its room's origin died) loses the connection as on a network drop: socket.io
   * reconnects after that, but never after the server's own disconnect.
   */
  private releaseSocket(socketId: string, comeBack = false): void {
    this.edge.drop(socketId);
    if (comeBack) this.io.sockets.sockets.get(socketId)?.conn.close();
    else this.io.in(socketId).disconnectSockets(true);
  }

  /** A room changed: its record in the directory follows within a round trip. */
  private touched(roomId: string): void {
    this.records.touched(roomId);
  }

  /**
   * A parent edge in a room's media tree that died is let go within half a beat, not after its entry expires (three
   * beats) and two beats more: its listeners here, and its children's, hear again after about a second, not 6-10 s.
   * Its process lost its Redis connection, and its channel its subscriber, when it died. Two looks in a row, as a
   * relay whose connection to Redis drops for a moment has none either; a relay taken for dead this way when it was not
   * costs only a change of parent. Origins are left to the beats: taking a room over must not happen on less.
   */
  private async watchParents(): Promise<void> {
    const parents = [...this.edge.parentEdges()];
    if (performance.now() < this.redisBackUntil) return this.silentParents.clear();
    const listening = await this.bus.listening(parents);
    for (const parent of parents) {
      if (listening.has(parent)) this.silentParents.delete(parent);
      else if (this.silentParents.delete(parent)) {
        this.log.warn('a parent relay in a media tree stopped listening: taking the rooms from another');
        this.edge.relayDied(parent);
      } else this.silentParents.add(parent);
    }
    for (const parent of this.silentParents) if (!parents.includes(parent)) this.silentParents.delete(parent);
  }

  /** Refreshes every entry of this relay, drops closed or rotated rooms, and checks that its peers still live. */
  private async heartbeat(): Promise<void> {
    const started = performance.now();
    this.beatPendingSince ??= started;
    await this.bus.refresh();
    await this.records.beat();
    await this.tree.refresh(this.edge.places());
    this.latency = (performance.now() - started) / 1000;
    this.beatPendingSince = null;
    const peers = new Set([...this.origin.peers(), ...this.edge.origins()]);
    const redisJustBack = performance.now() < this.redisBackUntil;
    for (const peer of peers) {
      if (redisJustBack || (await this.directory.isAlive(peer))) {
        this.missed.delete(peer);
        continue;
      }
      // Two beats in a row: a beat of its own may come late.
      const missed = (this.missed.get(peer) ?? 0) + 1;
      this.missed.set(peer, missed);
      if (missed < 2) continue;
      this.missed.delete(peer);
      this.origin.relayDied(peer);
      await this.originDied(peer);
      this.edge.relayDied(peer);
    }
    for (const peer of this.missed.keys()) if (!peers.has(peer)) this.missed.delete(peer);
  }

  /**
   * Stopping (SIGTERM): the rooms this relay holds are handed over, not ended. Their records are written once more
   * and this relay's own entry goes at once, so the first relay a returning member reaches takes each room over, as
   * after a death but without waiting for the entries to expire; relays with members there notice at their next beats.
   */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.parentTimer) clearInterval(this.parentTimer);
    await this.records.close();
    this.edge.close();
    this.origin.close();
    await this.bus.close();
    await this.directory.leave().catch(() => undefined);
  }
}
