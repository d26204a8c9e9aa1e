// Media handlers: a member's transports, microphone and consumers on this relay, placed by media/placement.ts, made by media/endpoint.ts.
import { SignalingError } from '../../protocol/errors.ts';
import * as stage from '../../protocol/stage.ts';
import { certificateOf, connectTransport, consume, createTransport, produce, restartIce, resumeConsumer } from '../media/endpoint.ts';
import { turnIceServers } from '../media/turn.ts';
import type { JoinResult } from '../../protocol/messages.ts';
import type { Handlers } from './handler.ts';
import type { Participant } from './participant.ts';
import type { Room } from './room.ts';
import type { RoomService } from './room-service.ts';

/**
 * What room.join's `receive` asks for, made for a member just admitted: its receive transport, TURN servers and a
 * paused consumer of every producer in the room, as transport.create, turn.credentials and consumer.create make them.
 */
export async function prepareReceive(this: RoomService, room: Room, me: Participant, rtpCapabilities: Record<string, unknown>): Promise<NonNullable<JoinResult['receive']>> {
  const { target, reply: transport } = await createTransport(
    this.config,
    me,
    'recv',
    () => this.placement.receiveTarget(room),
    () => this.stillMember(room, me),
  );
  this.placement.receiving(me, target);
  const consumers = [];
  for (const owner of room.members.values()) {
    if (owner === me) continue;
    for (const [producerId, producer] of owner.producers) {
      consumers.push(await consume(me, this.placement.consumeRouter(room, me), { producerId, rtpCapabilities }, owner.participantId, certificateOf(producer), () => this.stillMember(room, me)));
    }
  }
  return { transport, iceServers: turnIceServers(this.config, this.now()), consumers };
}

/** Requests about a member's media; bound to the room service (`this`), whose helpers they share. */
export function mediaHandlers(this: RoomService) {
  return {
    'transport.create': async (session, { direction }) => {
      const { room, me } = this.member(session);
      if (direction === 'send' && !stage.canProduce(me.role)) throw new SignalingError('FORBIDDEN', 'listeners do not send audio');
      const place = async () => (direction === 'recv' ? await this.placement.receiveTarget(room) : this.placement.sendTarget(room));
      const { target, reply } = await createTransport(this.config, me, direction, place, () => this.stillMember(room, me));
      if (direction === 'recv') this.placement.receiving(me, target);
      return reply;
    },

    // Members only: a TURN server is an open relay to whoever holds a credential.
    'turn.credentials': (session) => {
      this.member(session);
      return { iceServers: turnIceServers(this.config, this.now()) };
    },

    'transport.connect': (session, payload) => connectTransport(this.member(session).me, payload),

    'transport.restartIce': (session, payload) => restartIce(this.member(session).me, payload),

    'producer.create': async (session, payload) => {
      const { room, me } = this.member(session);
      if (!stage.canProduce(me.role)) throw new SignalingError('FORBIDDEN', 'only the host, moderators and speakers may send audio');
      const producer = await produce(me, payload);
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

    'consumer.create': (session, payload) => {
      const { room, me } = this.member(session);
      const owner = [...room.members.values()].find((m) => m.producers.has(payload.producerId));
      if (!owner) throw new SignalingError('NOT_FOUND', 'no such producer in this room');
      const certificate = certificateOf(owner.producers.get(payload.producerId));
      return consume(me, this.placement.consumeRouter(room, me), payload, owner.participantId, certificate, () => this.stillMember(room, me));
    },

    'consumer.resume': (session, payload) => resumeConsumer(this.member(session).me, payload),
  } satisfies Partial<Handlers>;
}
