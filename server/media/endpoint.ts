// A member's media endpoint on this relay (transports, microphone, consumers): the same code for a relay alone and a cluster edge.
import type { types } from 'mediasoup';
import { SignalingError } from '../../protocol/errors.ts';
import type { ReplyOf, RequestOf } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { webRtcTransportListen } from './listen.ts';
import type { MediaEndpoint } from './media-state.ts';

/** Where a new transport goes: the router, and the WebRtcServer of its worker (null with RTC_PORTS=range). */
interface Place {
  router: types.Router;
  webRtcServer: types.WebRtcServer | null;
}

/**
 * Makes a transport where `place` says, after checking the member's allowance (a page re-creates its transports on a
 * media reset, never more than four at once). `stillThere` is asked after the await: a kick or a leave may have come.
 */
export async function createTransport<T extends Place>(
  config: RelayConfig,
  endpoint: MediaEndpoint,
  direction: 'send' | 'recv',
  place: () => T | Promise<T>,
  stillThere: () => boolean,
): Promise<{ target: T; reply: ReplyOf<'transport.create'> }> {
  if (endpoint.transports.size >= 4) throw new SignalingError('INVALID_STATE', 'too many transports');
  const target = await place();
  const transport = await target.router.createWebRtcTransport({
    ...webRtcTransportListen(config, target.webRtcServer),
    initialAvailableOutgoingBitrate: 600_000,
    appData: { direction },
  });
  if (!stillThere()) {
    transport.close();
    throw new SignalingError('NOT_IN_ROOM', 'no longer in the room');
  }
  endpoint.transports.set(transport.id, transport);
  return {
    target,
    reply: {
      transportId: transport.id,
      iceParameters: transport.iceParameters as unknown as Record<string, unknown>,
      iceCandidates: transport.iceCandidates as unknown as Record<string, unknown>[],
      dtlsParameters: transport.dtlsParameters as unknown as Record<string, unknown>,
    },
  };
}

export async function connectTransport(endpoint: MediaEndpoint, { transportId, dtlsParameters }: RequestOf<'transport.connect'>): Promise<ReplyOf<'transport.connect'>> {
  const transport = endpoint.transports.get(transportId);
  if (!transport) throw new SignalingError('NOT_FOUND', 'no such transport');
  try {
    await transport.connect({ dtlsParameters: dtlsParameters as types.DtlsParameters });
  } catch (error) {
    if (transport.closed) throw new SignalingError('INVALID_STATE', 'the transport closed meanwhile');
    // An unknown fingerprint algorithm or a second connect: the client's mistake, not an INTERNAL failure to log.
    throw new SignalingError('BAD_REQUEST', `dtlsParameters refused: ${(error as Error).message}`);
  }
  return {};
}

export async function restartIce(endpoint: MediaEndpoint, { transportId }: RequestOf<'transport.restartIce'>): Promise<ReplyOf<'transport.restartIce'>> {
  const transport = endpoint.transports.get(transportId);
  if (!transport) throw new SignalingError('NOT_FOUND', 'no such transport');
  return { iceParameters: (await transport.restartIce()) as unknown as Record<string, unknown> };
}

/**
 * Makes the member's one microphone on its send transport, without the audio-level header extension (clients refuse
 * it anyway). Who may send, and who hears it, the caller decides: the room service, or the origin through a pipe.
 */
export async function produce(endpoint: MediaEndpoint, { transportId, rtpParameters, streamCertificate }: RequestOf<'producer.create'>): Promise<types.Producer> {
  const transport = endpoint.transports.get(transportId);
  if (!transport || transport.appData.direction !== 'send') throw new SignalingError('NOT_FOUND', 'no such send transport');
  if (endpoint.producers.size >= 1) throw new SignalingError('INVALID_STATE', 'one microphone per participant');
  const params = rtpParameters as unknown as types.RtpParameters;
  params.headerExtensions = (params.headerExtensions ?? []).filter((e) => e.uri !== 'urn:ietf:params:rtp-hdrext:ssrc-audio-level');
  try {
    return await transport.produce({ kind: 'audio', rtpParameters: params, appData: { streamCertificate } });
  } catch (error) {
    throw new SignalingError('BAD_REQUEST', `rtpParameters refused: ${(error as Error).message}`);
  }
}

/** The stream certificate a producer was made with (kept in its appData, here or at the origin), passed on unread. */
export function certificateOf(producer: types.Producer | undefined): string | undefined {
  const certificate = producer?.appData.streamCertificate;
  return typeof certificate === 'string' ? certificate : undefined;
}

/** The member's newest receive transport: the one on the router its consumers go on. */
export function receiveTransport(endpoint: MediaEndpoint): types.WebRtcTransport {
  const transport = [...endpoint.transports.values()].filter((t) => t.appData.direction === 'recv').at(-1);
  if (!transport) throw new SignalingError('INVALID_STATE', 'create a receive transport first');
  return transport;
}

/**
 * A paused consumer of `producerId` (owned by `participantId`, certified by `streamCertificate`) on `router`, for the
 * member's newest receive transport.
 */
export async function consume(
  endpoint: MediaEndpoint,
  router: types.Router,
  { producerId, rtpCapabilities }: RequestOf<'consumer.create'>,
  participantId: string,
  streamCertificate: string | undefined,
  stillThere: () => boolean,
): Promise<ReplyOf<'consumer.create'>> {
  const caps = rtpCapabilities as unknown as types.RtpCapabilities;
  if (!router.canConsume({ producerId, rtpCapabilities: caps })) throw new SignalingError('BAD_REQUEST', 'these capabilities cannot receive this producer');
  const consumer = await receiveTransport(endpoint).consume({ producerId, rtpCapabilities: caps, paused: true });
  if (!stillThere()) {
    consumer.close();
    throw new SignalingError('NOT_IN_ROOM', 'no longer in the room');
  }
  endpoint.consumers.set(consumer.id, consumer);
  const forget = () => endpoint.consumers.delete(consumer.id);
  consumer.on('transportclose', forget);
  consumer.on('producerclose', forget);
  return { consumerId: consumer.id, producerId, participantId, kind: 'audio' as const, rtpParameters: consumer.rtpParameters as unknown as Record<string, unknown>, streamCertificate };
}

export async function resumeConsumer(endpoint: MediaEndpoint, { consumerId }: RequestOf<'consumer.resume'>): Promise<ReplyOf<'consumer.resume'>> {
  const consumer = endpoint.consumers.get(consumerId);
  if (!consumer) throw new SignalingError('NOT_FOUND', 'no such consumer');
  await consumer.resume();
  return {};
}
