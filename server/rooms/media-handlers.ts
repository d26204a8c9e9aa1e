// Media handlers: a member's transports, microphone and consumers on this relay, placed by media/placement.ts.
import type { types } from 'mediasoup';
import { SignalingError } from '../../protocol/errors.ts';
import * as stage from '../../protocol/stage.ts';
import { webRtcTransportListen } from '../media/listen.ts';
import { turnIceServers } from '../media/turn.ts';
import type { Handlers } from './handler.ts';
import type { RoomService } from './room-service.ts';

/** Requests about a member's media; bound to the room service (`this`), whose helpers they share. */
export function mediaHandlers(this: RoomService) {
  return {
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
  } satisfies Partial<Handlers>;
}
