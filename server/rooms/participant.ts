// One member of a room on the relay: its role and stage state, its socket, and its mediasoup transports.
import { createHash, randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import type { EventOf, EventType, ParticipantSnapshot, Role } from '../../protocol/messages.ts';
import type { StageMember } from '../../protocol/stage.ts';
import type { MemberMedia } from '../media/media-state.ts';
import type { OutboundSocket, Session } from '../signaling/session.ts';

/**
 * What a member in its disconnect grace may miss before resuming is pointless: past this it could not catch up
 * (a commit for 1,000 members is about 150 KB), so its resume fails and it joins afresh.
 */
export const OUTBOX_LIMITS = { events: 1_000, bytes: 4 * 1024 * 1024 } as const;

export const newId = (bytes = 12): string => randomBytes(bytes).toString('base64url');

/** How a member's resume token is kept where tokens must not be (the cluster's directory): the member's own token finds it. */
export const resumeHash = (token: string): string => createHash('sha256').update(token).digest('base64url');

export class Participant implements StageMember, MemberMedia {
  readonly participantId: string;
  /** Replaced by the member's own token when it resumes into a room taken over from a dead relay (cluster mode). */
  resumeToken = newId(24);
  /**
   * A member of a room taken over from a dead relay, until it is back: all the directory kept of its token is this
   * hash, which the new origin recognises it by (and publishes again, should it die too).
   */
  keptResumeHash: string | null = null;
  role: Role;
  handRaisedSeq: number | null = null;
  muted = false;
  invitedBy: string | null = null;
  socket: OutboundSocket | null;
  /** The connection this participant belongs to; cleared when the participant is removed. */
  session: Session<Participant> | null = null;
  graceTimer: ReturnType<typeof setTimeout> | null = null;
  /** The page said it is going away: if it does not come back within the away grace, it left. */
  away = false;
  readonly transports = new Map<string, types.WebRtcTransport>();
  readonly producers = new Map<string, types.Producer>();
  readonly consumers = new Map<string, types.Consumer>();
  /** The router of this member's receive transport: the room's own, or a fan-out router on another worker. */
  recvRouter: types.Router | null = null;
  /** The worker this member's load is counted on: where its receive transport (most of its cost) lives. */
  loadWorker: types.Worker | null = null;
  announcement: string;
  readonly joinedSeq: number;

  constructor(options: { role: Role; announcement: string; joinedSeq: number; socket: OutboundSocket | null; participantId?: string }) {
    this.participantId = options.participantId ?? newId();
    this.role = options.role;
    this.announcement = options.announcement;
    this.joinedSeq = options.joinedSeq;
    this.socket = options.socket;
  }

  /** Events for a member whose socket dropped wait here, so a resume is seamless: no missed commit, no rekey. */
  private outbox: { event: string; payload: unknown }[] = [];
  private outboxBytes = 0;
  /** Set when the outbox overflowed: the member can no longer resume as itself. */
  outboxOverflowed = false;
  /** The room's member list came while its socket was gone: it is sent afresh on resuming, not kept in the outbox. */
  membersOwed = false;

  send<T extends EventType>(event: T, payload: EventOf<T>): void {
    if (this.socket) {
      this.socket.emit(event, payload);
      return;
    }
    if (this.outboxOverflowed) return;
    this.outboxBytes += JSON.stringify(payload).length;
    this.outbox.push({ event, payload });
    if (this.outbox.length > OUTBOX_LIMITS.events || this.outboxBytes > OUTBOX_LIMITS.bytes) {
      this.outboxOverflowed = true;
      this.outbox = [];
      this.outboxBytes = 0;
    }
  }

  /** Delivers, in order, what the member missed while its socket was gone. */
  flushOutbox(): void {
    const pending = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    for (const { event, payload } of pending) this.socket?.emit(event, payload);
  }

  snapshot(): ParticipantSnapshot {
    return {
      participantId: this.participantId,
      role: this.role,
      announcement: this.announcement,
      joinedSeq: this.joinedSeq,
      handRaisedSeq: this.handRaisedSeq,
      muted: this.muted,
      producerIds: [...this.producers.keys()],
    };
  }

  /** Detaches this participant from its connection, which may then join or create another room. */
  detach(): void {
    if (this.session?.participant === this) {
      this.session.participant = null;
      this.session.room = null;
    }
    this.session = null;
  }

  /** Closes every transport (and with them producers and consumers). */
  closeMedia(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    this.recvRouter = null;
  }
}
