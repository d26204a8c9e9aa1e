// A room on the relay: members and lobby in memory, its mediasoup router, and fan-out of events to members.
import type { types } from 'mediasoup';
import type { EventOf, EventType, LobbyEntry, RoomSnapshot } from '../../protocol/messages.ts';
import type { Participant } from './participant.ts';
import { isModerating, isOnStage } from '../../protocol/stage.ts';

/**
 * Sends one event to many connections by socket id. The relay passes socket.io's broadcast, which encodes the event
 * once for all of them: a join or a commit goes to every member, and a 1,000-member commit is 128 KB.
 */
export type Multicast = (socketIds: string[], event: string, payload: unknown) => void;

export interface FanoutRouter {
  router: Promise<types.Router>;
  /** Producer ids piped in (or being piped): each producer is piped once per fan-out router. */
  piped: Set<string>;
}

export class Room {
  id: string;
  sealedTitle: string;
  locked = false;
  router: types.Router;
  worker: types.Worker;
  readonly members = new Map<string, Participant>();
  readonly lobby = new Map<string, Participant>();
  /** Signing keys of kicked members, refused for the rest of the room's life. */
  readonly banned = new Set<string>();
  /** Ids this room had before link rotations: only resume tokens of present members still open them. */
  readonly formerIds = new Set<string>();
  /**
   * Routers on other workers that every producer of the room is piped into (pipeToRouter), so that one room can
   * have more listeners than one core carries. Senders always stay on `router`.
   */
  readonly fanout = new Map<types.Worker, FanoutRouter>();
  private seq = 0;
  private readonly multicast: Multicast;

  constructor(options: { id: string; sealedTitle: string; router: types.Router; worker: types.Worker; multicast: Multicast }) {
    this.id = options.id;
    this.multicast = options.multicast;
    this.sealedTitle = options.sealedTitle;
    this.router = options.router;
    this.worker = options.worker;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  get speakersOnStage(): number {
    let n = 0;
    for (const m of this.members.values()) if (isOnStage(m.role)) n++;
    return n;
  }

  get size(): number {
    return this.members.size + this.lobby.size;
  }

  lobbyEntries(): LobbyEntry[] {
    return [...this.lobby.values()].map((p) => ({ participantId: p.participantId, announcement: p.announcement }));
  }

  snapshot(forParticipant: Participant): RoomSnapshot {
    return {
      roomId: this.id,
      sealedTitle: this.sealedTitle,
      locked: this.locked,
      participants: [...this.members.values()].map((m) => m.snapshot()),
      lobby: isModerating(forParticipant.role) ? this.lobbyEntries() : [],
    };
  }

  /** To every member but `except`: connected ones at once, those in their disconnect grace through their outbox. */
  broadcast<T extends EventType>(event: T, payload: EventOf<T>, except?: Participant): void {
    const connected: string[] = [];
    for (const m of this.members.values()) {
      if (m === except) continue;
      if (m.socket) connected.push(m.socket.id);
      else m.send(event, payload);
    }
    if (connected.length > 0) this.multicast(connected, event, payload);
  }

  notifyModerators<T extends EventType>(event: T, payload: EventOf<T>): void {
    for (const m of this.members.values()) if (isModerating(m.role)) m.send(event, payload);
  }

  close(): void {
    for (const p of [...this.members.values(), ...this.lobby.values()]) {
      if (p.graceTimer) clearTimeout(p.graceTimer);
      p.closeMedia();
    }
    this.members.clear();
    this.lobby.clear();
    this.router.close();
    this.closeFanout();
  }

  /** Closes every fan-out router; their piped producers and the consumers on them close with them. */
  closeFanout(): void {
    for (const entry of this.fanout.values()) entry.router.then((r) => r.close()).catch(() => undefined);
    this.fanout.clear();
  }

  /** How many members receive through a router: what decides when the room spreads to another worker. */
  receiversOn(router: types.Router): number {
    let n = 0;
    for (const m of this.members.values()) if (m.recvRouter === router) n++;
    return n;
  }
}
