// A synthetic Opus stream through a room's router: RTP from a UDP socket into a PlainTransport, counted at a DirectTransport.
import { createSocket } from 'node:dgram';
import type { types } from 'mediasoup';
import { OPUS_RTP_PARAMETERS } from './relay.ts';

export interface AudioFlow {
  /** Packets handed to the UDP socket so far. */
  readonly sent: number;
  /** Packets the relay forwarded to the tap so far. */
  readonly received: number;
  close(): void;
}

/** One 20 ms Opus frame's worth of RTP: payload type 111, a fixed SSRC, sequence and timestamp advancing. */
export function opusPacket(index: number, ssrc: number, payloadBytes = 80): Buffer {
  const packet = Buffer.alloc(12 + payloadBytes, 0x5a);
  packet[0] = 0x80;
  packet[1] = 111;
  packet.writeUInt16BE(index & 0xffff, 2);
  packet.writeUInt32BE((index * 960) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  // TOC byte: CELT fullband 20 ms, mono, one frame.
  packet[12] = 0xf8;
  return packet;
}

export async function startAudioFlow(router: types.Router, intervalMs = 20): Promise<AudioFlow> {
  const input = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS });
  const tap = await router.createDirectTransport();
  const consumer = await tap.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  let sent = 0;
  let received = 0;
  consumer.on('rtp', () => received++);
  const socket = createSocket('udp4');
  const ssrc = OPUS_RTP_PARAMETERS.encodings[0]!.ssrc;
  const timer = setInterval(() => {
    socket.send(opusPacket(sent, ssrc), input.tuple.localPort, '127.0.0.1');
    sent++;
  }, intervalMs);
  return {
    get sent() {
      return sent;
    },
    get received() {
      return received;
    },
    close() {
      clearInterval(timer);
      socket.close();
      tap.close();
      input.close();
    },
  };
}
