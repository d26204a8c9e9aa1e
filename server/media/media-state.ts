// The media state placement keeps for a room and for each member: its shape is media/'s own, and rooms/ carries it.
import type { types } from 'mediasoup';

export interface FanoutRouter {
  router: Promise<types.Router>;
  /** Producer ids piped in (or being piped): each producer is piped once per fan-out router. */
  piped: Set<string>;
}

/** A member's media at this relay: its transports and what they carry. */
export interface MediaEndpoint {
  readonly transports: Map<string, types.WebRtcTransport>;
  readonly producers: Map<string, types.Producer>;
  readonly consumers: Map<string, types.Consumer>;
}

/** A member's media as placement keeps it: where it receives and where its load is counted. */
export interface MemberMedia extends MediaEndpoint {
  /** The router of this member's receive transport: the room's own, or a fan-out router on another worker. */
  recvRouter: types.Router | null;
  /** The worker this member's load is counted on: where its receive transport (most of its cost) lives. */
  loadWorker: types.Worker | null;
  /** Closes every transport (and with them producers and consumers). */
  closeMedia(): void;
}

/** A room's media as placement keeps it: its router and worker, and the fan-out routers it spread to. */
export interface RoomMedia<M extends MemberMedia = MemberMedia> {
  router: types.Router;
  worker: types.Worker;
  readonly fanout: Map<types.Worker, FanoutRouter>;
  readonly members: ReadonlyMap<string, M>;
  /** Closes every fan-out router; their piped producers and the consumers on them close with them. */
  closeFanout(): void;
}
