// Room handlers: create, join, resume and leave a room, its lock, end and link rotation, the lobby, the audience list and room messages.
import { SignalingError } from '../../protocol/errors.ts';
import { ROOM_MESSAGE_CHARS, ROOM_MESSAGE_RATE } from '../../protocol/messages.ts';
import * as stage from '../../protocol/stage.ts';
import { clientRtpCapabilities } from '../media/codecs.ts';
import { TokenBucket } from '../signaling/rate-limit.ts';
import type { Handlers } from './handler.ts';
import { prepareReceive } from './media-handlers.ts';
import { Participant } from './participant.ts';
import { Room } from './room.ts';
import type { RoomService } from './room-service.ts';

/** Requests about a room as a whole and who is in it; bound to the room service (`this`), whose helpers they share. */
export function roomHandlers(this: RoomService) {
  return {
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

    'room.join': async (session, { roomId, announcement, resumeToken, newPage, receive }) => {
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
        // The old page's media died with it: its producer would refuse the new page's microphone ("one microphone per
        // participant") and its transports would count against the new page's four.
        if (newPage) this.dropMedia(room, previous);
        // What it missed follows the reply, in order: commits, joins, leaves, even a link rotation.
        session.afterReply = () => {
          previous.flushOutbox();
          // The list its reply could not hold, or one that came while it was away: in pages, after what it missed.
          if (room.stage.has(previous) && (previous.membersOwed || !room.listsEveryone(previous))) this.sendMembers(room, previous);
          previous.membersOwed = false;
        };
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
      const result = this.joinResult(room, p);
      if (!receive) return result;
      // The receive side made now saves the newcomer two round trips before it hears anyone. Made after the
      // admission, so a member's allowance and placement apply as to any transport; the snapshot is taken before it.
      // Meanwhile what the room sends this member waits in its outbox and follows the reply, as for a resume: the
      // page never gets an event of the room before its join reply. Capabilities that cannot receive the room (or a
      // member gone meanwhile) leave `receive` out: the client asks as before.
      p.socket = null;
      try {
        result.receive = await prepareReceive.call(this, room, p, receive.rtpCapabilities).catch(() => undefined);
      } finally {
        p.socket = session.socket;
        session.afterReply = () => p.flushOutbox();
      }
      return result;
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
  } satisfies Partial<Handlers>;
}
