// The relay's room logic: every signaling request's effect on rooms, members and stage, and on their media (placed by media/placement.ts).
import type { types } from 'mediasoup';
import { announcementSignKey } from '../../crypto/announcement.ts';
import { SignalingError } from '../../protocol/errors.ts';
import { ROOM_MESSAGE_CHARS, ROOM_MESSAGE_RATE, type JoinResult, type ReplyOf, type RequestOf, type RequestType, type Role } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { clientRtpCapabilities } from '../media/codecs.ts';
import { webRtcTransportListen } from '../media/listen.ts';
import { turnIceServers } from '../media/turn.ts';
import type { MediaPlacement } from '../media/placement.ts';
import { TokenBucket } from '../signaling/rate-limit.ts';
import { resumeHash, type RoomRecord } from '../cluster/record.ts';
import { Participant, type OutboundSocket } from './participant.ts';
import { Room, type Multicast } from './room.ts';
import * as stage from '../../protocol/stage.ts';

/** What the relay knows about one signaling connection. */
export interface Session {
  socket: OutboundSocket;
  participant: Participant | null;
  room: Room | null;
  roomCreations: number[];
  /** Run once the current request's reply has been sent: events that must follow the reply, not precede it. */
  afterReply: (() => void) | null;
}

type Handler<T extends RequestType> = (session: Session, payload: RequestOf<T>) => Promise<ReplyOf<T>> | ReplyOf<T>;

export class RoomService {
  readonly rooms = new Map<string, Room>();
  /** Room ids replaced by link rotation: memory-only, so a rotated link is refused while this process lives. */
  private readonly revoked = new Set<string>();
  /** Resume tokens of present members, with their room (whose id may have changed by rotation since). */
  private readonly resumable = new Map<string, { p: Participant; room: Room }>();
  /** Members of rooms taken over from a dead relay (cluster mode), by the hash of their token, until they are back. */
  private readonly restored = new Map<string, { p: Participant; room: Room }>();
  /** Each member's allowance of room messages (reactions, chat): opaque to the relay, so counted, never read. */
  private readonly messageBuckets = new WeakMap<Participant, TokenBucket>();

  private readonly config: RelayConfig;
  private readonly placement: MediaPlacement;

  private readonly multicast: Multicast;
  /** The clock TURN credentials expire by. */
  private readonly now: () => number;

  constructor(config: RelayConfig, placement: MediaPlacement, multicast: Multicast, now: () => number = Date.now) {
    this.multicast = multicast;
    this.now = now;
    this.config = config;
    this.placement = placement;
  }

  // ---- helpers ----

  private member(session: Session): { room: Room; me: Participant } {
    const room = session.room;
    const me = session.participant;
    if (!room || !me || !room.members.has(me.participantId)) throw new SignalingError('NOT_IN_ROOM', 'join a room first');
    return { room, me };
  }

  private other(room: Room, participantId: string): Participant {
    const p = room.members.get(participantId);
    if (!p) throw new SignalingError('NOT_FOUND', 'no such participant in this room');
    return p;
  }

  /**
   * The member a resume token names, if it is still present, announces the same keys, and the link it holds names
   * its room now or did before a rotation (a member whose socket dropped during a rotation comes back as itself).
   */
  private resumeTarget(token: string, roomId: string, announcement: string): { p: Participant; room: Room } | null {
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

  private checkRoomId(roomId: string): void {
    if (this.revoked.has(roomId)) throw new SignalingError('LINK_REVOKED', 'the host replaced this link with a new one; ask them for it');
  }

  private joinResult(room: Room, p: Participant): JoinResult {
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
  private attach(session: Session, p: Participant, room: Room): void {
    const stale = p.session;
    p.detach();
    if (stale && stale !== session) stale.socket.disconnect?.(true);
    session.participant = p;
    session.room = room;
    p.session = session;
    p.socket = session.socket;
  }

  /** After an await: a kick, a room end or a worker death may have happened meanwhile on another connection. */
  private stillMember(room: Room, me: Participant): boolean {
    return this.rooms.get(room.id) === room && room.members.get(me.participantId) === me;
  }

  /** The relay cannot verify an announcement (it lacks authKey) but must read its signing key to enforce kicks. */
  private signKeyOf(announcement: string): string {
    const key = announcementSignKey(announcement);
    if (!key) throw new SignalingError('BAD_REQUEST', 'announcement: not a Teahouse announcement');
    return key;
  }

  private admitMember(room: Room, p: Participant): void {
    room.add(p);
    this.resumable.set(p.resumeToken, { p, room });
    this.placement.entered(room, p);
    room.sendAbout(p, 'peer.joined', { participant: p.snapshot() }, { except: p });
  }

  /** Each package to its member alone, with the commit's header when there is one to send with it; returns who got one. */
  private deliverPackages(room: Room, packages: { to: string; package: string }[], from: string, epoch: number, commit: string | null): Set<string> {
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
  private decided(room: Room, by: Participant, decision: string): void {
    room.sendToStage('stage.decision', { by: by.participantId, decision }, { except: by });
  }

  /** After any change to a member: told as its own event (docs/protocol.md §9); a move on or off stage to everyone. */
  private updated(room: Room, p: Participant): void {
    const moved = room.restage(p);
    room.sendAbout(p, 'peer.updated', { participant: p.snapshot() }, { everyone: moved });
    // On stage it may have to distribute keys, to members whose announcements it verifies itself: it gets them all.
    if (moved && room.stage.has(p)) p.send('room.members', { participants: [...room.members.values()].map((m) => m.snapshot()) });
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
    room.broadcast('producer.added', { producerId: producer.id, participantId: me.participantId }, me);
    this.updated(room, me);
  }

  /** Closes a member's producers the moment it leaves the stage. */
  private closeProducers(room: Room, p: Participant): void {
    for (const producer of p.producers.values()) {
      producer.close();
      room.broadcast('producer.removed', { producerId: producer.id, participantId: p.participantId });
    }
    p.producers.clear();
  }

  private setPaused(room: Room, p: Participant, paused: boolean): Promise<void>[] {
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

  private closeRoom(room: Room): void {
    for (const p of room.lobby.values()) p.send('room.ended', {});
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
  restoreRoom(roomId: string, record: RoomRecord, router: types.Router, worker: types.Worker): Room {
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

  // ---- requests ----

  readonly handlers: { [T in RequestType]: Handler<T> } = {
    'room.peek': (_session, { roomId }) => {
      this.checkRoomId(roomId);
      const room = this.rooms.get(roomId);
      return {
        exists: Boolean(room),
        sealedTitle: room?.sealedTitle ?? null,
        locked: room?.locked ?? false,
        routerRtpCapabilities: room ? (clientRtpCapabilities(room.router) as unknown as Record<string, unknown>) : null,
      };
    },

    'room.create': async (session, { roomId, announcement, sealedTitle, locked }) => {
      if (session.participant) throw new SignalingError('ALREADY_IN_ROOM', 'leave your current room first');
      this.checkRoomId(roomId);
      if (this.rooms.has(roomId)) throw new SignalingError('ROOM_EXISTS', 'a room with this id already exists');
      this.signKeyOf(announcement);
      if (this.rooms.size >= this.config.maxRooms) throw new SignalingError('TOO_MANY_ROOMS', 'this relay is at its room limit; try again later');
      const now = Date.now();
      session.roomCreations = session.roomCreations.filter((t) => now - t < 60_000);
      if (session.roomCreations.length >= this.config.roomsPerConnectionPerMinute) {
        throw new SignalingError('RATE_LIMITED', `at most ${this.config.roomsPerConnectionPerMinute} rooms per minute per connection`);
      }
      session.roomCreations.push(now);
      const { router, worker } = await this.placement.roomRouter();
      if (this.rooms.has(roomId)) {
        router.close();
        throw new SignalingError('ROOM_EXISTS', 'a room with this id already exists');
      }
      const room = new Room({ id: roomId, sealedTitle, router, worker, multicast: this.multicast });
      room.locked = locked ?? false;
      this.rooms.set(roomId, room);
      const host = new Participant({ role: 'host', announcement, joinedSeq: room.nextSeq(), socket: session.socket });
      this.attach(session, host, room);
      this.admitMember(room, host);
      return this.joinResult(room, host);
    },

    'room.join': (session, { roomId, announcement, resumeToken }) => {
      if (session.participant) throw new SignalingError('ALREADY_IN_ROOM', 'leave your current room first');
      const resumed = resumeToken ? this.resumeTarget(resumeToken, roomId, announcement) : null;
      if (resumed?.p.outboxOverflowed) {
        // It missed too much to go on as itself: it leaves (the others rekey) and may join below as a newcomer.
        this.removeParticipant(resumed.p, resumed.room, 'disconnected');
      } else if (resumed) {
        const { p: previous, room } = resumed;
        if (previous.graceTimer) clearTimeout(previous.graceTimer);
        previous.graceTimer = null;
        previous.away = false;
        this.attach(session, previous, room);
        // What it missed follows the reply, in order: commits, joins, leaves, even a link rotation.
        session.afterReply = () => previous.flushOutbox();
        return this.joinResult(room, previous);
      }
      this.checkRoomId(roomId);
      const room = this.rooms.get(roomId);
      if (!room) throw new SignalingError('ROOM_NOT_FOUND', 'no room with this link is open on this relay');
      if (room.banned.has(this.signKeyOf(announcement))) throw new SignalingError('IDENTITY_BANNED', 'you were removed from this room');
      if (room.size >= this.config.maxParticipantsPerRoom) throw new SignalingError('ROOM_FULL', `this room is full (${this.config.maxParticipantsPerRoom} participants)`);
      const p = new Participant({ role: 'listener', announcement, joinedSeq: room.nextSeq(), socket: session.socket });
      this.attach(session, p, room);
      if (room.locked) {
        room.lobby.set(p.participantId, p);
        room.notifyModerators('lobby.updated', { lobby: room.lobbyEntries() });
        return { lobby: true as const, participantId: p.participantId };
      }
      this.admitMember(room, p);
      return this.joinResult(room, p);
    },

    'room.away': (session) => {
      this.member(session).me.away = true;
      return {};
    },

    'room.leave': (session) => {
      const p = session.participant;
      const room = session.room;
      if (!p || !room) throw new SignalingError('NOT_IN_ROOM', 'not in a room');
      this.removeParticipant(p, room, 'left');
      return {};
    },

    'room.lock': (session, { locked, decision }) => {
      const { room, me } = this.member(session);
      if (!stage.isModerating(me.role)) throw new SignalingError('FORBIDDEN', 'only the host and moderators can lock the room');
      room.locked = locked;
      room.broadcast('room.updated', { locked });
      this.decided(room, me, decision);
      return {};
    },

    'room.end': (session) => {
      const { room, me } = this.member(session);
      stage.checkHostOnly(me, 'end the room');
      room.broadcast('room.ended', {});
      this.closeRoom(room);
      return {};
    },

    'room.rotate': (session, { newRoomId, sealedTitle }) => {
      const { room, me } = this.member(session);
      stage.checkHostOnly(me, 'rotate the link');
      if (this.rooms.has(newRoomId) || this.revoked.has(newRoomId)) throw new SignalingError('ROOM_EXISTS', 'that room id is taken');
      this.rooms.delete(room.id);
      this.revoked.add(room.id);
      room.formerIds.add(room.id);
      room.id = newRoomId;
      room.sealedTitle = sealedTitle;
      this.rooms.set(newRoomId, room);
      room.broadcast('room.rotated', { newRoomId }, me);
      for (const p of [...room.lobby.values()]) this.removeParticipant(p, room, 'left');
      return {};
    },

    'transport.create': async (session, { direction }) => {
      const { room, me } = this.member(session);
      if (direction === 'send' && !stage.canProduce(me.role)) throw new SignalingError('FORBIDDEN', 'listeners do not send audio');
      if (me.transports.size >= 4) throw new SignalingError('INVALID_STATE', 'too many transports');
      const target = direction === 'recv' ? await this.placement.receiveTarget(room) : this.placement.sendTarget(room);
      const transport = await target.router.createWebRtcTransport({
        ...webRtcTransportListen(this.config, target.webRtcServer),
        initialAvailableOutgoingBitrate: 600_000,
        appData: { direction },
      });
      if (!this.stillMember(room, me)) {
        transport.close();
        throw new SignalingError('NOT_IN_ROOM', 'no longer in the room');
      }
      me.transports.set(transport.id, transport);
      if (direction === 'recv') this.placement.receiving(me, target);
      return {
        transportId: transport.id,
        iceParameters: transport.iceParameters as unknown as Record<string, unknown>,
        iceCandidates: transport.iceCandidates as unknown as Record<string, unknown>[],
        dtlsParameters: transport.dtlsParameters as unknown as Record<string, unknown>,
      };
    },

    // Members only: a TURN server is an open relay to whoever holds a credential.
    'turn.credentials': (session) => {
      this.member(session);
      return { iceServers: turnIceServers(this.config, this.now()) };
    },

    'transport.connect': async (session, { transportId, dtlsParameters }) => {
      const { me } = this.member(session);
      const transport = me.transports.get(transportId);
      if (!transport) throw new SignalingError('NOT_FOUND', 'no such transport');
      try {
        await transport.connect({ dtlsParameters: dtlsParameters as types.DtlsParameters });
      } catch (error) {
        if (transport.closed) throw new SignalingError('INVALID_STATE', 'the transport closed meanwhile');
        // An unknown fingerprint algorithm or a second connect: the client's mistake, not an INTERNAL failure to log.
        throw new SignalingError('BAD_REQUEST', `dtlsParameters refused: ${(error as Error).message}`);
      }
      return {};
    },

    'transport.restartIce': async (session, { transportId }) => {
      const { me } = this.member(session);
      const transport = me.transports.get(transportId);
      if (!transport) throw new SignalingError('NOT_FOUND', 'no such transport');
      return { iceParameters: (await transport.restartIce()) as unknown as Record<string, unknown> };
    },

    'producer.create': async (session, { transportId, rtpParameters }) => {
      const { room, me } = this.member(session);
      if (!stage.canProduce(me.role)) throw new SignalingError('FORBIDDEN', 'only the host, moderators and speakers may send audio');
      const transport = me.transports.get(transportId);
      if (!transport || transport.appData.direction !== 'send') throw new SignalingError('NOT_FOUND', 'no such send transport');
      if (me.producers.size >= 1) throw new SignalingError('INVALID_STATE', 'one microphone per participant');
      const params = rtpParameters as unknown as types.RtpParameters;
      params.headerExtensions = (params.headerExtensions ?? []).filter((e) => e.uri !== 'urn:ietf:params:rtp-hdrext:ssrc-audio-level');
      let producer: types.Producer;
      try {
        producer = await transport.produce({ kind: 'audio', rtpParameters: params });
      } catch (error) {
        throw new SignalingError('BAD_REQUEST', `rtpParameters refused: ${(error as Error).message}`);
      }
      await this.adoptProducer(room, me, producer);
      return { producerId: producer.id };
    },

    'producer.pause': async (session, { producerId }) => {
      const { room, me } = this.member(session);
      if (!me.producers.has(producerId)) throw new SignalingError('NOT_FOUND', 'no such producer');
      await Promise.all(this.setPaused(room, me, true));
      this.updated(room, me);
      return {};
    },

    'producer.resume': async (session, { producerId }) => {
      const { room, me } = this.member(session);
      if (!me.producers.has(producerId)) throw new SignalingError('NOT_FOUND', 'no such producer');
      await Promise.all(this.setPaused(room, me, false));
      this.updated(room, me);
      return {};
    },

    'producer.close': (session, { producerId }) => {
      const { room, me } = this.member(session);
      const producer = me.producers.get(producerId);
      if (!producer) throw new SignalingError('NOT_FOUND', 'no such producer');
      producer.close();
      me.producers.delete(producerId);
      room.broadcast('producer.removed', { producerId, participantId: me.participantId });
      this.updated(room, me);
      return {};
    },

    'consumer.create': async (session, { producerId, rtpCapabilities }) => {
      const { room, me } = this.member(session);
      const owner = [...room.members.values()].find((m) => m.producers.has(producerId));
      if (!owner) throw new SignalingError('NOT_FOUND', 'no such producer in this room');
      const caps = rtpCapabilities as unknown as types.RtpCapabilities;
      const router = this.placement.consumeRouter(room, me);
      if (!router.canConsume({ producerId, rtpCapabilities: caps })) throw new SignalingError('BAD_REQUEST', 'these capabilities cannot receive this producer');
      // The newest receive transport: the one on me.recvRouter.
      const transport = [...me.transports.values()].filter((t) => t.appData.direction === 'recv').at(-1);
      if (!transport) throw new SignalingError('INVALID_STATE', 'create a receive transport first');
      const consumer = await transport.consume({ producerId, rtpCapabilities: caps, paused: true });
      if (!this.stillMember(room, me)) {
        consumer.close();
        throw new SignalingError('NOT_IN_ROOM', 'no longer in the room');
      }
      me.consumers.set(consumer.id, consumer);
      const forget = () => me.consumers.delete(consumer.id);
      consumer.on('transportclose', forget);
      consumer.on('producerclose', forget);
      return {
        consumerId: consumer.id,
        producerId,
        participantId: owner.participantId,
        kind: 'audio' as const,
        rtpParameters: consumer.rtpParameters as unknown as Record<string, unknown>,
      };
    },

    'consumer.resume': async (session, { consumerId }) => {
      const { me } = this.member(session);
      const consumer = me.consumers.get(consumerId);
      if (!consumer) throw new SignalingError('NOT_FOUND', 'no such consumer');
      await consumer.resume();
      return {};
    },

    'key.commit': (session, { commit, epoch, packages, to, withPackages }) => {
      const { room, me } = this.member(session);
      if (!stage.isOnStage(me.role)) throw new SignalingError('FORBIDDEN', 'only the host, moderators and speakers distribute keys');
      const resentTo = to ? this.other(room, to) : null;
      // Each addressed member its header and own package in one event, the others the header alone: one event per
      // member, linear in the room, and nobody receives another member's key material. Never to the lobby.
      const header = { from: me.participantId, commit, epoch };
      // Kept until the next fresh epoch, not cleared by a ratchet: a distributor may send one while the fresh epoch's
      // later packages are still on their way, and those must still carry their header.
      if (withPackages) room.packagedHeader = header;
      const reached = this.deliverPackages(room, packages, me.participantId, epoch, commit);
      if (withPackages) return {};
      if (resentTo) {
        if (!reached.has(resentTo.participantId)) resentTo.send('key.commit', header);
      } else room.broadcastBut('key.commit', header, reached.add(me.participantId));
      return {};
    },

    'key.packages': (session, { epoch, packages }) => {
      const { room, me } = this.member(session);
      if (!stage.isOnStage(me.role)) throw new SignalingError('FORBIDDEN', 'only the host, moderators and speakers distribute keys');
      const header = room.packagedHeader;
      this.deliverPackages(room, packages, me.participantId, epoch, header?.from === me.participantId && header.epoch === epoch ? header.commit : null);
      return {};
    },

    'hand.raise': (session) => {
      const { room, me } = this.member(session);
      stage.raiseHand(me, room.nextSeq());
      this.updated(room, me);
      return {};
    },

    'hand.lower': (session) => {
      const { room, me } = this.member(session);
      stage.lowerHand(me);
      this.updated(room, me);
      return {};
    },

    'stage.invite': (session, { participantId, decision }) => {
      const { room, me } = this.member(session);
      const target = this.other(room, participantId);
      stage.invite(me, target);
      target.send('stage.invited', { by: me.participantId, decision });
      return {};
    },

    'stage.respond': (session, { accept, decision }) => {
      const { room, me } = this.member(session);
      if (accept && !decision) throw new SignalingError('BAD_REQUEST', 'stage.respond: accepting needs the signed acceptance in "decision"');
      stage.respondToInvite(me, accept, room.speakersOnStage, this.config.maxSpeakers);
      this.updated(room, me);
      if (accept && decision) this.decided(room, me, decision);
      return {};
    },

    'stage.leave': (session, { decision }) => {
      const { room, me } = this.member(session);
      stage.leaveStage(me);
      this.closeProducers(room, me);
      this.updated(room, me);
      this.decided(room, me, decision);
      return {};
    },

    'stage.moveToAudience': (session, { participantId, decision }) => {
      const { room, me } = this.member(session);
      const target = this.other(room, participantId);
      stage.moveToAudience(me, target);
      this.closeProducers(room, target);
      this.updated(room, target);
      this.decided(room, me, decision);
      return {};
    },

    'stage.mute': async (session, { participantId, decision }) => {
      const { room, me } = this.member(session);
      const target = this.other(room, participantId);
      stage.mute(me, target);
      await Promise.all(this.setPaused(room, target, true));
      this.updated(room, target);
      this.decided(room, me, decision);
      return {};
    },

    'role.setModerator': (session, { participantId, moderator, decision }) => {
      const { room, me } = this.member(session);
      const target = this.other(room, participantId);
      stage.setModerator(me, target, moderator, room.speakersOnStage, this.config.maxSpeakers);
      this.updated(room, target);
      if (moderator) target.send('lobby.updated', { lobby: room.lobbyEntries() });
      this.decided(room, me, decision);
      return {};
    },

    'member.kick': (session, { participantId, decision }) => {
      const { room, me } = this.member(session);
      const target = this.other(room, participantId);
      stage.checkKick(me, target);
      room.banned.add(this.signKeyOf(target.announcement));
      target.send('member.kicked', {});
      this.removeParticipant(target, room, 'kicked');
      this.decided(room, me, decision);
      return {};
    },

    'epoch.challenge': (session, { to, nonce }) => {
      const { room, me } = this.member(session);
      this.other(room, to).send('epoch.challenge', { from: me.participantId, nonce });
      return {};
    },

    /** Each offer goes to its stage member alone; one to a listener (or nobody) is dropped, the rest still go. */
    'key.kem': (session, { offers }) => {
      const { room, me } = this.member(session);
      for (const { to, offer } of offers) {
        const target = room.members.get(to);
        if (target && target !== me && target.role !== 'listener') target.send('key.kem', { from: me.participantId, offer });
      }
      return {};
    },

    'key.resend': (session, { to }) => {
      const { room, me } = this.member(session);
      this.other(room, to).send('key.resend', { from: me.participantId });
      return {};
    },

    'epoch.confirm': (session, { to, confirmation }) => {
      const { room, me } = this.member(session);
      this.other(room, to).send('epoch.confirm', { from: me.participantId, confirmation });
      return {};
    },

    /** After a link rotation every member re-announces under the new room keys, so newcomers can verify them. */
    'member.reannounce': (session, { announcement }) => {
      const { room, me } = this.member(session);
      if (this.signKeyOf(announcement) !== this.signKeyOf(me.announcement)) {
        throw new SignalingError('FORBIDDEN', 'a member re-announces its own identity key only');
      }
      me.announcement = announcement;
      this.updated(room, me);
      return {};
    },

    'lobby.admit': (session, { participantId, decision }) => {
      const { room, me } = this.member(session);
      if (!stage.isModerating(me.role)) throw new SignalingError('FORBIDDEN', 'only the host and moderators admit visitors');
      const visitor = room.lobby.get(participantId);
      if (!visitor) throw new SignalingError('NOT_FOUND', 'nobody with that id is waiting');
      if (room.members.size >= this.config.maxParticipantsPerRoom) throw new SignalingError('ROOM_FULL', 'this room is full');
      room.lobby.delete(participantId);
      // Before the admission itself, so the distributor holds the signed admission when the newcomer's join arrives.
      this.decided(room, me, decision);
      this.admitMember(room, visitor);
      visitor.send('lobby.admitted', this.joinResult(room, visitor));
      room.notifyModerators('lobby.updated', { lobby: room.lobbyEntries() });
      return {};
    },

    'lobby.decline': (session, { participantId }) => {
      const { room, me } = this.member(session);
      if (!stage.isModerating(me.role)) throw new SignalingError('FORBIDDEN', 'only the host and moderators decline visitors');
      const visitor = room.lobby.get(participantId);
      if (!visitor) throw new SignalingError('NOT_FOUND', 'nobody with that id is waiting');
      visitor.send('lobby.declined', {});
      this.removeParticipant(visitor, room, 'left');
      return {};
    },

    'audience.page': (session, { after, limit }) => {
      const { room } = this.member(session);
      return room.audiencePage(after, limit);
    },

    /** Forwarded to every member as it came and stored nowhere: a newcomer sees messages from its join on. */
    'room.message': (session, { message }) => {
      const { room, me } = this.member(session);
      const largest = ROOM_MESSAGE_CHARS.at(-1)!;
      if (message.length > largest) throw new SignalingError('MESSAGE_TOO_LARGE', `a room message is at most ${largest} characters`);
      if (!(ROOM_MESSAGE_CHARS as readonly number[]).includes(message.length)) {
        throw new SignalingError('BAD_REQUEST', `room.message: message: a room message is ${ROOM_MESSAGE_CHARS.join(', ')} characters long`);
      }
      let bucket = this.messageBuckets.get(me);
      if (!bucket) this.messageBuckets.set(me, (bucket = new TokenBucket(ROOM_MESSAGE_RATE.perSecond, ROOM_MESSAGE_RATE.burst)));
      if (!bucket.take()) throw new SignalingError('RATE_LIMITED', `at most ${ROOM_MESSAGE_RATE.perSecond} room messages per second`);
      // Listeners are not told about other listeners, so a listener's message carries its (self-proving) announcement.
      room.broadcast('room.message', { from: me.participantId, message, ...(me.role === 'listener' ? { announcement: me.announcement } : {}) }, me);
      return {};
    },
  };

  roleCounts(): Record<Role, number> {
    const counts: Record<Role, number> = { host: 0, moderator: 0, speaker: 0, listener: 0 };
    for (const room of this.rooms.values()) for (const m of room.members.values()) counts[m.role]++;
    return counts;
  }
}
