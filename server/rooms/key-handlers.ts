// Key handlers: commits, packages, epoch challenges and confirmations, passed from member to member unread.
import { SignalingError } from '../../protocol/errors.ts';
import * as stage from '../../protocol/stage.ts';
import type { Handlers } from './handler.ts';
import type { RoomService } from './room-service.ts';

/** Requests that carry key material between members; bound to the room service (`this`), whose helpers they share. */
export function keyHandlers(this: RoomService) {
  return {
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
  } satisfies Partial<Handlers>;
}
