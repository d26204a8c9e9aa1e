// Where media lives on this relay: the worker and router of each room, of each receive transport and consumer, the fan-out routers and the producers piped into them, and each worker's load.
import type { types } from 'mediasoup';
import { MEDIA_CODECS } from './codecs.ts';
import type { MemberMedia, RoomMedia } from './media-state.ts';
import type { WorkerPool } from './worker-pool.ts';

/** The first worker with the fewest participants counted on it. */
export function leastLoaded<W>(loads: readonly { worker: W; load: number }[]): W {
  const first = loads[0];
  if (!first) throw new RangeError('no workers to choose from');
  return loads.reduce((a, b) => (b.load < a.load ? b : a), first).worker;
}

/**
 * The worker a new receive transport goes on: the room's own until its router carries `listenersPerRouter`
 * receivers, then the least-loaded one (which may be the room's own again).
 */
export function receiveWorker<W>(options: { roomWorker: W; receiversOnRoomRouter: number; listenersPerRouter: number; leastLoaded: () => W }): W {
  if (options.receiversOnRoomRouter < options.listenersPerRouter) return options.roomWorker;
  return options.leastLoaded();
}

/**
 * What a room lost with a dead worker: all its media (the room's own worker), the receive media of the members
 * receiving through a fan-out router there, or nothing.
 */
export type MediaLoss<M> = { whole: true } | { whole: false; members: M[] } | null;

export function mediaLost<W, M extends { loadWorker: W | null }>(dead: W, room: { worker: W; fanoutOn: (worker: W) => boolean; members: Iterable<M> }): MediaLoss<M> {
  if (room.worker === dead) return { whole: true };
  if (!room.fanoutOn(dead)) return null;
  return { whole: false, members: [...room.members].filter((m) => m.loadWorker === dead) };
}

export interface MediaTarget {
  router: types.Router;
  worker: types.Worker;
  /** The WebRtcServer a transport on this worker listens through, or null (RTC_PORTS=range). */
  webRtcServer: types.WebRtcServer | null;
}

export class MediaPlacement {
  private readonly pool: WorkerPool;
  private readonly listenersPerRouter: number;

  constructor(pool: WorkerPool, listenersPerRouter: number) {
    this.pool = pool;
    this.listenersPerRouter = listenersPerRouter;
  }

  private leastLoaded(): types.Worker {
    return leastLoaded(this.pool.loads());
  }

  webRtcServerOf(worker: types.Worker): types.WebRtcServer | null {
    return this.pool.webRtcServerOf(worker);
  }

  /** A router for a room made here (created, or taken over from a dead relay), on the least-loaded worker. */
  async roomRouter(): Promise<{ router: types.Router; worker: types.Worker }> {
    const worker = this.leastLoaded();
    return { router: await worker.createRouter({ mediaCodecs: MEDIA_CODECS }), worker };
  }

  /**
   * A router on the least-loaded worker for a room whose origin is another relay (cluster mode): where the pipe from
   * the origin lands, and its first listeners' receive transports.
   */
  edgeRouter(): { worker: types.Worker; router: Promise<types.Router> } {
    return this.routerOn(this.leastLoaded());
  }

  /** A fresh router on `worker`: an edge room's fan-out router there. */
  routerOn(worker: types.Worker): { worker: types.Worker; router: Promise<types.Router> } {
    return { worker, router: worker.createRouter({ mediaCodecs: MEDIA_CODECS }) };
  }

  /**
   * Where an edge member's receive transport goes: as on the origin, the edge room's own worker until its router
   * carries listenersPerRouter receivers, then the least-loaded worker.
   */
  edgeReceiveWorker(roomWorker: types.Worker, receiversOnRoomRouter: number): types.Worker {
    return receiveWorker({ roomWorker, receiversOnRoomRouter, listenersPerRouter: this.listenersPerRouter, leastLoaded: () => this.leastLoaded() });
  }

  /** An edge member's receive transport is counted on its worker (null: on none, it left), so edges spread by load too. */
  edgeLoad(from: types.Worker | null, to: types.Worker | null): void {
    if (from) this.pool.addLoad(from, -1);
    if (to) this.pool.addLoad(to, 1);
  }

  /** Where a member's send transport goes: always the room's own router, which every fan-out router pipes from. */
  sendTarget(room: RoomMedia): MediaTarget {
    return { router: room.router, worker: room.worker, webRtcServer: this.webRtcServerOf(room.worker) };
  }

  /**
   * Where a member's receive transport goes: the room's router until it carries listenersPerRouter receivers, then
   * the least-loaded worker, through a fan-out router there that every producer of the room is piped into.
   */
  async receiveTarget(room: RoomMedia): Promise<MediaTarget> {
    const worker = receiveWorker({
      roomWorker: room.worker,
      receiversOnRoomRouter: receiversOn(room, room.router),
      listenersPerRouter: this.listenersPerRouter,
      leastLoaded: () => this.leastLoaded(),
    });
    if (worker === room.worker) return this.sendTarget(room);
    let entry = room.fanout.get(worker);
    if (!entry) {
      const piped = new Set<string>();
      const router = (async () => {
        const r = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
        for (const m of room.members.values()) for (const producerId of m.producers.keys()) await this.pipeInto(room, r, piped, producerId);
        return r;
      })();
      const created = { router, piped };
      entry = created;
      room.fanout.set(worker, created);
      router.catch(() => {
        if (room.fanout.get(worker) === created) room.fanout.delete(worker);
      });
    }
    return { router: await entry.router, worker, webRtcServer: this.webRtcServerOf(worker) };
  }

  /** A member's receive transport was made on `target`: its consumers go there, and its load is counted there. */
  receiving(p: MemberMedia, target: MediaTarget): void {
    p.recvRouter = target.router;
    this.moveLoad(p, target.worker);
  }

  /** The router a member's consumers are made on: that of its newest receive transport. */
  consumeRouter(room: RoomMedia, p: MemberMedia): types.Router {
    return p.recvRouter ?? room.router;
  }

  /** A member entered the room (or was restored into it): until it receives elsewhere, its load is on the room's worker. */
  entered(room: RoomMedia, p: MemberMedia): void {
    this.moveLoad(p, room.worker);
  }

  /** A member left: its load is counted nowhere. */
  left(p: MemberMedia): void {
    this.moveLoad(p, null);
  }

  /** Listeners on fan-out routers hear a new producer only once it is piped there: resolves once it is. */
  async producerAdded(room: RoomMedia, producer: types.Producer): Promise<void> {
    await Promise.all(
      [...room.fanout.values()].map(async ({ router, piped }) => {
        const r = await router.catch(() => null);
        if (r && !producer.closed) await this.pipeInto(room, r, piped, producer.id);
      }),
    );
  }

  /** What a room lost with a dead worker; a dead fan-out router is forgotten at once. */
  workerDied<M extends MemberMedia>(room: RoomMedia<M>, dead: types.Worker): MediaLoss<M> {
    const loss = mediaLost(dead, { worker: room.worker, fanoutOn: (w) => room.fanout.has(w), members: room.members.values() });
    if (loss && !loss.whole) room.fanout.delete(dead);
    return loss;
  }

  /** A member's receive media died with a fan-out router: it receives on the room's worker again, once it asks. */
  receiveLost(room: RoomMedia, p: MemberMedia): void {
    p.closeMedia();
    this.moveLoad(p, room.worker);
  }

  /**
   * The room's own worker died and `fresh` replaced it: every transport, producer and consumer went with it, and
   * the fan-out routers elsewhere (they hold producers piped from it) go too. The room gets a new router on
   * `fresh` unless it closed meanwhile (false). Throws when that router cannot be made.
   */
  async rehome(room: RoomMedia, fresh: types.Worker, stillOpen: () => boolean): Promise<boolean> {
    room.closeFanout();
    for (const p of room.members.values()) {
      p.closeMedia();
      this.moveLoad(p, fresh);
    }
    room.worker = fresh;
    const router = await fresh.createRouter({ mediaCodecs: MEDIA_CODECS });
    if (!stillOpen()) {
      router.close();
      return false;
    }
    room.router = router;
    return true;
  }

  /** Counts a member's load on the worker its media terminates on (null: on none, it left). */
  private moveLoad(p: MemberMedia, worker: types.Worker | null): void {
    if (p.loadWorker) this.pool.addLoad(p.loadWorker, -1);
    p.loadWorker = worker;
    if (worker) this.pool.addLoad(worker, 1);
  }

  /** Pipes a producer of the room's router into a fan-out router, once; a producer closed meanwhile is skipped. */
  private async pipeInto(room: RoomMedia, router: types.Router, piped: Set<string>, producerId: string): Promise<void> {
    if (piped.has(producerId)) return;
    piped.add(producerId);
    try {
      await room.router.pipeToRouter({ producerId, router });
    } catch (error) {
      if ([...room.members.values()].some((m) => m.producers.has(producerId))) throw error;
    }
  }
}

/** How many members receive through a router: what decides when the room spreads to another worker. */
function receiversOn(room: RoomMedia, router: types.Router): number {
  let n = 0;
  for (const m of room.members.values()) if (m.recvRouter === router) n++;
  return n;
}
