// The relay's rooms: their members, resume tokens and lifecycle, and the helpers the request handlers (rooms/*-handlers.ts) share.
import type { types } from 'mediasoup';
import { announcementSignKey } from '../../crypto/announcement.ts';
import { SignalingError } from '../../protocol/errors.ts';
import type { JoinResult, Role } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { clientRtpCapabilities } from '../media/codecs.ts';
import { certificateOf } from '../media/endpoint.ts';
import type { MediaPlacement } from '../media/placement.ts';
import type { TokenBucket } from '../signaling/rate-limit.ts';
import type { Session as Connection } from '../signaling/session.ts';
import { Participant, resumeHash } from './participant.ts';
import { Room, type Multicast } from './room.ts';
import * as stage from '../../protocol/stage.ts';

/** A signaling connection as the room service sees it: at most one member of one room. */
export type Session = Connection<Participant, Room>;

/** What restoreRoom needs of a room's directory record (cluster/record.ts), blobs and ids only. */
interface RoomCopy {
  sealedTitle: string;
  locked: boolean;
  banned: string[];
  formerIds: string[];
  members: { participantId: string; role: Role; announcement: string; joinedSeq: number; handRaisedSeq: number | null; muted: boolean; resumeHash: string }[];
}

export class RoomService {
  readonly rooms = new Map<string, Room>();
  /** Room ids replaced by link rotation: memory-only, so a rotated link is refused while this process lives. */
  readonly revoked = new Set<string>();
  /** Resume tokens of present members, with their room (whose id may have changed by rotation since). */
  readonly resumable = new Map<string, { p: Participant; room: Room }>();
  /**
   * Members known by the hash of their token until they are back (cluster mode): of rooms taken over from a dead
   * relay, and listeners an edge relay admitted (their token never came here).
   */
  readonly restored = new Map<string, { p: Participant; room: Room }>();
  /** Each member's allowance of room messages (reactions, chat): opaque to the relay, so counted, never read. */
  readonly messageBuckets = new WeakMap<Participant, TokenBucket>();

  readonly config: RelayConfig;
  readonly placement: MediaPlacement;

  readonly multicast: Multicast;
  /** The clock TURN credentials expire by. */
  readonly now: () => number;

  constructor(config: RelayConfig, placement: MediaPlacement, multicast: Multicast, now: () => number = Date.now) {
    this.multicast = multicast;
    this.now = now;
    this.config = config;
    this.placement = placement;
  }

  // ---- helpers, shared with the request handlers (rooms/*-handlers.ts) ----

  member(session: Session): { room: Room; me: Participant } {
    const room = session.room;
    const me = session.participant;
    if (!room || !me || !room.members.has(me.participantId)) throw new SignalingError('NOT_IN_ROOM', 'join a room first');
    return { room, me };
  }

  other(room: Room, participantId: string): Participant {
    const p = room.members.get(participantId);
    if (!p) throw new SignalingError('NOT_FOUND', 'no such participant in this room');
    return p;
  }

  /**
   * The member a resume token names, if it is still present, announces the same keys, and the link it holds names
   * its room now or did before a rotation (a member whose socket dropped during a rotation comes back as itself).
   */
  resumeTarget(token: string, roomId: string, announcement: string): { p: Participant; room: Room } | null {
    const entry = this.resumable.get(token) ?? (this.restored.size > 0 ? this.restored.get(resumeHash(token)) : undefined);
    if (!entry) return null;
    const { p, room } = entry;
    if (this.rooms.get(room.id) !== room || room.members.get(p.participantId) !== p || p.announcement !== announcement) return null;
    if (room.id !== roomId && !room.formerIds.has(roomId)) return null;
    if (p.keptResumeHash !== null) {
      // Back after its room moved here: its own token names it again, and the hash is no longer needed.
      this.restored.delete(p.keptResumeHash);
      p.keptResumeHash = null;
      p.resumeToken = token;
      this.resumable.set(token, entry);
    }
    return entry;
  }

  checkRoomId(roomId: string): void {
    if (this.revoked.has(roomId)) throw new SignalingError('LINK_REVOKED', 'the host replaced this link with a new one; ask them for it');
  }

  joinResult(room: Room, p: Participant): JoinResult {
    return {
      participantId: p.participantId,
      resumeToken: p.resumeToken,
      role: p.role,
      room: room.snapshot(p),
      routerRtpCapabilities: clientRtpCapabilities(room.router) as unknown as Record<string, unknown>,
      keyBatchMs: this.config.keyBatchMs,
    };
  }

  /**
   * Binds a participant to a connection. On a resume the old connection loses it at once: the relay may learn of
   * that connection's death only after the ping timeout, and its late disconnect must not start a grace timer on
   * a member who is already back.
   */
  attach(session: Session, p: Participant, room: Room): void {
    const stale = p.session;
    p.detach();
    if (stale && stale !== session) stale.socket.disconnect?.(true);
    session.participant = p;
    session.room = room;
    p.session = session;
    p.socket = session.socket;
  }

  /** After an await: a kick, a room end or a worker death may have happened meanwhile on another connection. */
  stillMember(room: Room, me: Participant): boolean {
    return this.rooms.get(room.id) === room && room.members.get(me.participantId) === me;
  }

  /** The relay cannot verify an announcement (it lacks authKey) but must read its signing key to enforce kicks. */
  signKeyOf(announcement: string): string {
    const key = announcementSignKey(announcement);
    if (!key) throw new SignalingError('BAD_REQUEST', 'announcement: not a Teahouse announcement');
    return key;
  }

  admitMember(room: Room, p: Participant): void {
    room.add(p);
    this.resumable.set(p.resumeToken, { p, room });
    this.placement.entered(room, p);
    room.sendAbout(p, 'peer.joined', { participant: p.snapshot() }, { except: p });
  }

  /**
   * Cluster mode: a listener an edge relay admitted and answered itself (cluster/edge-joins.ts), taken in here as a
   * join would be. Its token stays with it and its relay: this relay knows it by the token's hash, as a member of a
   * room taken over, and recognises it when the member resumes.
   */
  admitFromEdge(session: Session, room: Room, newcomer: { participantId: string; announcement: string; resumeHash: string }): Participant {
    const p = new Participant({ role: 'listener', announcement: newcomer.announcement, joinedSeq: room.nextSeq(), socket: session.socket, participantId: newcomer.participantId });
    p.keptResumeHash = newcomer.resumeHash;
    this.attach(session, p, room);
    room.add(p);
    this.restored.set(newcomer.resumeHash, { p, room });
    this.placement.entered(room, p);
    room.sendAbout(p, 'peer.joined', { participant: p.snapshot() }, { except: p });
    return p;
  }

  /** Each package to its member alone, with the commit's header when there is one to send with it; returns who got one. */
  deliverPackages(room: Room, packages: { to: string; package: string }[], from: string, epoch: number, commit: string | null): Set<string> {
    const reached = new Set<string>();
    for (const { to, package: pkg } of packages) {
      const member = room.members.get(to);
      if (!member) continue;
      reached.add(to);
      if (commit !== null) member.send('key.commit', { from, commit, epoch, package: pkg });
      else member.send('key.package', { from, epoch, package: pkg });
    }
    return reached;
  }

  /**
   * Passes a stage decision on unread to the stage, who act on it only if the signature and authority hold. Listeners
   * act on none (a mute targets a speaker) and could not check one signed by a listener they were never shown.
   */
  decided(room: Room, by: Participant, decision: string): void {
    room.sendToStage('stage.decision', { by: by.participantId, decision }, { except: by });
  }

  /** After any change to a member: told as its own event (docs/protocol.md §9); a move on or off stage to everyone. */
  updated(room: Room, p: Participant): void {
    const moved = room.restage(p);
    room.sendAbout(p, 'peer.updated', { participant: p.snapshot() }, { everyone: moved });
    // On stage it may have to distribute keys, to members whose announcements it verifies itself: it gets them all.
    if (moved && room.stage.has(p)) this.sendMembers(room, p);
  }

  /**
   * The whole list, page by page, to a member on stage. One in its disconnect grace is owed it instead, and gets it,
   * as of then, when it resumes: 10,000 members are about 5 MB, more than its outbox holds.
   */
  sendMembers(room: Room, p: Participant): void {
    p.membersOwed = !p.socket;
    if (p.membersOwed) return;
    for (const page of room.memberPages()) p.send('room.members', page);
  }

  /**
   * Makes a producer on the room's router a member's microphone and announces it: one made here from the member's
   * send transport, or (cluster mode) one piped in from the relay the member is connected to.
   */
  async adoptProducer(room: Room, me: Participant, producer: types.Producer): Promise<void> {
    // The role may have changed while mediasoup worked: re-check before anyone hears it.
    if (!stage.canProduce(me.role) || !this.stillMember(room, me)) {
      producer.close();
      throw new SignalingError('FORBIDDEN', 'no longer on stage');
    }
    me.producers.set(producer.id, producer);
    producer.on('transportclose', () => me.producers.delete(producer.id));
    if (me.muted) await producer.pause();
    // Listeners on fan-out routers hear it only once it is piped there: announce it after.
    await this.placement.producerAdded(room, producer);
    room.broadcast('producer.added', { producerId: producer.id, participantId: me.participantId, streamCertificate: certificateOf(producer) }, me);
    this.updated(room, me);
  }

  /** Closes a member's producers the moment it leaves the stage. */
  closeProducers(room: Room, p: Participant): void {
    for (const producer of p.producers.values()) {
      producer.close();
      room.broadcast('producer.removed', { producerId: producer.id, participantId: p.participantId });
    }
    p.producers.clear();
  }

  /** A member's page was loaded again: what the old page held at the relay goes, announced as on a leave. */
  dropMedia(room: Room, p: Participant): void {
    if (p.producers.size > 0) {
      this.closeProducers(room, p);
      this.updated(room, p);
    }
    this.placement.receiveLost(room, p);
  }

  setPaused(_room: Room, p: Participant, paused: boolean): Promise<void>[] {
    p.muted = paused;
    return [...p.producers.values()].map((producer) => (paused ? producer.pause() : producer.resume()));
  }

  /** Removes a participant (left, kicked, disconnected too long, room ended); the room goes when it is empty. */
  removeParticipant(p: Participant, room: Room, reason: 'left' | 'kicked' | 'disconnected'): void {
    if (p.graceTimer) clearTimeout(p.graceTimer);
    this.resumable.delete(p.resumeToken);
    if (p.keptResumeHash !== null) this.restored.delete(p.keptResumeHash);
    if (room.lobby.delete(p.participantId)) {
      room.notifyModerators('lobby.updated', { lobby: room.lobbyEntries() });
    } else {
      const onStage = room.stage.has(p);
      if (room.remove(p)) {
        this.closeProducers(room, p);
        this.placement.left(p);
        room.sendAbout(p, 'peer.left', { participantId: p.participantId, reason }, { everyone: onStage });
      }
    }
    p.closeMedia();
    p.detach();
    if (room.members.size === 0) this.closeRoom(room);
  }

  /** `ended`: false when the room moved to another relay (cluster mode), where its lobby visitors queue again. */
  closeRoom(room: Room, ended = true): void {
    if (ended) for (const p of room.lobby.values()) p.send('room.ended', {});
    for (const p of [...room.members.values(), ...room.lobby.values()]) {
      this.resumable.delete(p.resumeToken);
      if (p.keptResumeHash !== null) this.restored.delete(p.keptResumeHash);
      p.detach();
    }
    for (const p of room.members.values()) this.placement.left(p);
    room.close();
    this.rooms.delete(room.id);
  }

  // ---- connection lifecycle ----

  /** The socket dropped: keep the member for the grace period so a reconnect is the same member, with no rekey. */
  disconnected(session: Session): void {
    const p = session.participant;
    const room = session.room;
    if (!p || !room) return;
    p.socket = null;
    if (room.lobby.has(p.participantId) || this.config.disconnectGraceMs === 0) {
      this.removeParticipant(p, room, 'disconnected');
      return;
    }
    // A closed tab leaves after the short away grace; a reload comes back within it as the same member.
    this.startGrace(p, room, p.away ? Math.min(this.config.disconnectGraceMs, this.config.awayGraceMs) : this.config.disconnectGraceMs);
  }

  private startGrace(p: Participant, room: Room, graceMs: number): void {
    p.graceTimer = setTimeout(() => {
      if (this.rooms.get(room.id) === room) this.removeParticipant(p, room, 'disconnected');
    }, graceMs);
    p.graceTimer.unref?.();
  }

  /**
   * Cluster mode: a room whose origin relay died, made again here from its directory record on a router of this
   * relay. Every member is in its disconnect grace, resumable by the token whose hash the record kept, and finds
   * a media reset first in what it missed: its transports, producers and consumers died with the other relay.
   * The lobby is not kept: a visitor's connection to it is gone, and a lobby visitor who reconnects queues again.
   */
  restoreRoom(roomId: string, record: RoomCopy, router: types.Router, worker: types.Worker): Room {
    if (this.rooms.has(roomId)) throw new SignalingError('ROOM_EXISTS', 'a room with this id already exists');
    const room = new Room({ id: roomId, sealedTitle: record.sealedTitle, router, worker, multicast: this.multicast });
    room.locked = record.locked;
    for (const key of record.banned) room.banned.add(key);
    for (const id of record.formerIds) {
      room.formerIds.add(id);
      this.revoked.add(id);
    }
    this.rooms.set(roomId, room);
    for (const m of record.members) {
      const p = new Participant({ role: m.role, announcement: m.announcement, joinedSeq: m.joinedSeq, socket: null, participantId: m.participantId });
      p.handRaisedSeq = m.handRaisedSeq;
      p.muted = m.muted;
      p.keptResumeHash = m.resumeHash;
      room.seqAtLeast(Math.max(m.joinedSeq, m.handRaisedSeq ?? 0));
      room.add(p);
      this.restored.set(m.resumeHash, { p, room });
      this.placement.entered(room, p);
      p.send('room.mediaReset', {});
      this.startGrace(p, room, this.config.disconnectGraceMs);
    }
    if (room.members.size === 0) this.closeRoom(room);
    return room;
  }

  /** A member's receive media died with a fan-out router: it is told to make new transports; its producers are closed. */
  private resetMedia(room: Room, p: Participant): void {
    this.closeProducers(room, p);
    this.placement.receiveLost(room, p);
    p.send('room.mediaReset', {});
  }

  /** A worker died and was replaced: the affected rooms get new routers; clients re-create their transports. */
  async workerReplaced(dead: types.Worker, fresh: types.Worker): Promise<void> {
    for (const room of [...this.rooms.values()]) {
      const loss = this.placement.workerDied(room, dead);
      if (!loss) continue;
      if (!loss.whole) {
        for (const p of loss.members) this.resetMedia(room, p);
        continue;
      }
      try {
        if (!(await this.placement.rehome(room, fresh, () => this.rooms.get(room.id) === room))) continue;
      } catch {
        // Without media the room is useless: end it plainly rather than leave members on a closed router.
        if (this.rooms.get(room.id) === room) {
          room.broadcast('room.ended', {});
          this.closeRoom(room);
        }
        continue;
      }
      room.broadcast('room.mediaReset', {});
    }
  }

  roleCounts(): Record<Role, number> {
    const counts: Record<Role, number> = { host: 0, moderator: 0, speaker: 0, listener: 0 };
    for (const room of this.rooms.values()) for (const m of room.members.values()) counts[m.role]++;
    return counts;
  }
}
