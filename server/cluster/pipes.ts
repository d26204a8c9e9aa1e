// Relay-to-relay media: SRTP PipeTransports between a room's origin router and a relay's edge router.
import type { types } from 'mediasoup';
import { z } from 'zod';
import type { RelayConfig } from '../config.ts';
import { rtcAnnouncedAddress, rtcListenIp } from '../media/listen.ts';

/** One end of a pipe as the other relay needs it: where to send, and the SRTP key to send with. */
export const pipeEnd = z.object({
  ip: z.string().max(64),
  port: z.number().int().min(1).max(65535),
  srtpParameters: z.object({ cryptoSuite: z.string().max(64), keyBase64: z.string().max(256) }),
});
export type PipeEnd = z.infer<typeof pipeEnd>;

/**
 * A pipe transport on `router`, on the relay's media address and port range. SRTP is on: relay-to-relay traffic
 * crosses networks, and SFrame hides the audio but not the RTP headers a pipe could otherwise have forged.
 */
export async function createPipe(router: types.Router, config: RelayConfig): Promise<{ transport: types.PipeTransport; end: PipeEnd }> {
  const transport = await router.createPipeTransport({
    listenInfo: {
      protocol: 'udp',
      ip: rtcListenIp(config),
      announcedAddress: rtcAnnouncedAddress(config),
      portRange: { min: config.rtcMinPort, max: config.rtcMaxPort },
    },
    enableSrtp: true,
  });
  const end: PipeEnd = {
    ip: rtcAnnouncedAddress(config),
    port: transport.tuple.localPort,
    srtpParameters: transport.srtpParameters as PipeEnd['srtpParameters'],
  };
  return { transport, end };
}

export async function connectPipe(transport: types.PipeTransport, remote: PipeEnd): Promise<void> {
  await transport.connect({ ip: remote.ip, port: remote.port, srtpParameters: remote.srtpParameters as types.SrtpParameters });
}
