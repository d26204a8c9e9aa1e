// Stage handlers: hands, invitations, moves on and off the stage, mutes, moderators and kicks, each enforcing protocol/stage.ts and passing the signed decision on.
import { SignalingError } from '../../protocol/errors.ts';
import * as stage from '../../protocol/stage.ts';
import type { Handlers } from './handler.ts';
import type { RoomService } from './room-service.ts';

/** Requests that change roles and the stage; bound to the room service (`this`), whose helpers they share. */
export function stageHandlers(this: RoomService) {
  return {
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
  } satisfies Partial<Handlers>;
}
