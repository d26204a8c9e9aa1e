// A room on the relay: members (stage and audience) and lobby in memory, its mediasoup router, and fan-out of events to members.
import type { types } from 'mediasoup';
import { LIMITS, type EventOf, type EventType, type LobbyEntry, type ParticipantSnapshot, type RoomSnapshot } from '../../protocol/messages.ts';
import type { FanoutRouter, RoomMedia } from '../media/media-state.ts';
import type { Participant } from './participant.ts';
import { isModerating, isOnStage } from '../../protocol/stage.ts';
import { Throttle } from './throttle.ts';

/** Members hear of the audience's size at most this often, whatever the churn: the final count always goes out. */
export const AUDIENCE_COUNT_INTERVAL_MS = 1_000;
/**
 * And a room's count reaches at most this many members a second: a count to each of 10,000 members every second would
 * be 10,000 events a second from the relay, a large part of its work in a busy room (and in the way of a rekey). A room
 * of 10,000 hears the count every 5 s.
 */
export const AUDIENCE_COUNT_EVENTS_PER_SECOND = 2_000;

export function audienceCountIntervalMs(members: number): number {
  return Math.max(AUDIENCE_COUNT_INTERVAL_MS, Math.ceil(members / AUDIENCE_COUNT_EVENTS_PER_SECOND) * 1_000);
}

/**
 * Sends one event to many connections by socket id. The relay passes socket.io's broadcast, which encodes the event
 * once for all of them: a join or a commit goes to every member, and a 1,000-member commit is 128 KB.
 */
export type Multicast = (socketIds: string[], event: string, payload: unknown) => void;

export class Room implements RoomMedia<Participant> {
  id: string;
  sealedTitle: string;
  locked = false;
  router: types.Router;
  worker: types.Worker;
  readonly members = new Map<string, Participant>();
  /** Members on stage (host, moderators, speakers): every member is told about them. */
  readonly stage = new Set<Participant>();
  /** Listeners in joinedSeq order: only the stage is told about them one by one; the rest get a count and pages. */
  private readonly audience: Participant[] = [];
  private readonly audienceCount: Throttle<number>;
  readonly lobby = new Map<string, Participant>();
  /** Signing keys of kicked members, refused for the rest of the room's life. */
  readonly banned = new Set<string>();
  /** Ids this room had before link rotations: only resume tokens of present members still open them. */
  readonly formerIds = new Set<string>();
  /**
   * Routers on other workers that every producer of the room is piped into (pipeToRouter), so that one room can
   * have more listeners than one core carries. Senders always stay on `router`. Kept by media/placement.ts.
   */
  readonly fanout = new Map<types.Worker, FanoutRouter>();
  /**
   * The header of a fresh epoch whose packages are still arriving (key.commit `withPackages`): it goes with each of
   * them. One header per room, at most LIMITS.commit characters.
   */
  packagedHeader: { from: string; commit: string; epoch: number } | null = null;
  private seq = 0;
  private readonly multicast: Multicast;

  constructor(options: { id: string; sealedTitle: string; router: types.Router; worker: types.Worker; multicast: Multicast }) {
    this.id = options.id;
    this.multicast = options.multicast;
    this.sealedTitle = options.sealedTitle;
    this.router = options.router;
    this.worker = options.worker;
    this.audienceCount = new Throttle({ intervalMs: () => audienceCountIntervalMs(this.members.size), initial: 0, send: (count) => this.broadcast('room.audience', { count }) });
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** The last join or hand sequence given: an edge admitting a listener shows it the next one (cluster/join-view.ts). */
  get lastSeq(): number {
    return this.seq;
  }

  /** A room taken over from another relay numbers on after the joins and hands it had there. */
  seqAtLeast(seq: number): void {
    this.seq = Math.max(this.seq, seq);
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

  /**
   * What a member is shown on entering: the stage and itself, and everyone only for a member on stage (it may have to
   * distribute keys to any of them, after verifying their announcements itself).
   */
  snapshot(forParticipant: Participant): RoomSnapshot {
    const shown = this.listsEveryone(forParticipant) ? this.members.values() : new Set([...this.stage, forParticipant]);
    return {
      roomId: this.id,
      sealedTitle: this.sealedTitle,
      locked: this.locked,
      participants: [...shown].map((m) => m.snapshot()),
      audienceCount: this.audience.length,
      lobby: isModerating(forParticipant.role) ? this.lobbyEntries() : [],
    };
  }

  /** Whether a member's join reply lists everyone: on stage, in a room small enough for one page. */
  listsEveryone(p: Participant): boolean {
    return this.stage.has(p) && this.members.size <= LIMITS.membersPage;
  }

  /** Every member, in pages of at most LIMITS.membersPage (`room.members`). */
  memberPages(): EventOf<'room.members'>[] {
    const all = [...this.members.values()];
    const of = Math.max(1, Math.ceil(all.length / LIMITS.membersPage));
    return Array.from({ length: of }, (_, index) => ({
      participants: all.slice(index * LIMITS.membersPage, (index + 1) * LIMITS.membersPage).map((m) => m.snapshot()),
      page: { index, of },
    }));
  }

  get audienceSize(): number {
    return this.audience.length;
  }

  // ---- stage and audience ----

  add(p: Participant): void {
    this.members.set(p.participantId, p);
    if (isOnStage(p.role)) this.stage.add(p);
    else this.enterAudience(p);
  }

  /** False when it was not a member. */
  remove(p: Participant): boolean {
    if (!this.members.delete(p.participantId)) return false;
    if (!this.stage.delete(p)) this.leaveAudience(p);
    return true;
  }

  /** After a change of role: moves it between stage and audience; true when it moved. */
  restage(p: Participant): boolean {
    const onStage = isOnStage(p.role);
    if (!this.members.has(p.participantId) || this.stage.has(p) === onStage) return false;
    if (onStage) {
      this.leaveAudience(p);
      this.stage.add(p);
    } else {
      this.stage.delete(p);
      this.enterAudience(p);
    }
    return true;
  }

  /** Listeners after the cursor (a joinedSeq), in joinedSeq order: a member that stays is on exactly one page. */
  audiencePage(after: number | undefined, limit: number): { members: ParticipantSnapshot[]; next: number | null } {
    const start = after === undefined ? 0 : this.firstAfter(after);
    const page = this.audience.slice(start, start + limit);
    const next = start + page.length < this.audience.length ? page.at(-1)!.joinedSeq : null;
    return { members: page.map((m) => m.snapshot()), next };
  }

  /** Index of the first listener whose joinedSeq is above `seq` (binary search: the audience is kept sorted). */
  private firstAfter(seq: number): number {
    let lo = 0;
    let hi = this.audience.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.audience[mid]!.joinedSeq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // Lobby admissions and moves off stage insert in the middle: joinedSeq was given before.
  private enterAudience(p: Participant): void {
    this.audience.splice(this.firstAfter(p.joinedSeq), 0, p);
    this.audienceCount.set(this.audience.length);
  }

  private leaveAudience(p: Participant): void {
    const i = this.firstAfter(p.joinedSeq - 1);
    if (this.audience[i] !== p) return;
    this.audience.splice(i, 1);
    this.audienceCount.set(this.audience.length);
  }

  // ---- fan-out ----

  /** To every member but `except`. */
  broadcast<T extends EventType>(event: T, payload: EventOf<T>, except?: Participant): void {
    this.sendTo(this.members.values(), event, payload, except);
  }

  /** To every member but those whose participant ids are in `except`. */
  broadcastBut<T extends EventType>(event: T, payload: EventOf<T>, except: ReadonlySet<string>): void {
    this.sendTo(
      [...this.members.values()].filter((m) => !except.has(m.participantId)),
      event,
      payload,
    );
  }

  /** To the stage (and `also`, when given) but `except`. */
  sendToStage<T extends EventType>(event: T, payload: EventOf<T>, options: { also?: Participant; except?: Participant } = {}): void {
    const also = options.also && this.members.has(options.also.participantId) && !this.stage.has(options.also) ? [options.also] : [];
    this.sendTo([...this.stage, ...also], event, payload, options.except);
  }

  /**
   * An event about one member: to everyone while it is on stage (or with `everyone`, when it moves on or off), else
   * to the stage and to itself, so that no listener is told about another.
   */
  sendAbout<T extends EventType>(p: Participant, event: T, payload: EventOf<T>, options: { everyone?: boolean; except?: Participant } = {}): void {
    if (options.everyone || this.stage.has(p)) this.broadcast(event, payload, options.except);
    else this.sendToStage(event, payload, { also: p, except: options.except });
  }

  /** Connected members at once, through one encoding; those in their disconnect grace through their outbox. */
  private sendTo<T extends EventType>(targets: Iterable<Participant>, event: T, payload: EventOf<T>, except?: Participant): void {
    const connected: string[] = [];
    for (const m of targets) {
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
    this.stage.clear();
    this.audience.length = 0;
    this.audienceCount.stop();
    this.lobby.clear();
    this.router.close();
    this.closeFanout();
  }

  /** Closes every fan-out router; their piped producers and the consumers on them close with them. */
  closeFanout(): void {
    for (const entry of this.fanout.values()) entry.router.then((r) => r.close()).catch(() => undefined);
    this.fanout.clear();
  }
}
