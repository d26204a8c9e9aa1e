// One cluster relay of the cluster benchmark, run as a forked child so that its CPU is its own: it starts a relay on
// the bench's Redis, and on request attaches the speaker and SRTP listeners to a room's router here and reports its CPU.
import { randomBytes } from 'node:crypto';
import { cpuUsage } from 'node:process';
import type { types } from 'mediasoup';
import { startRelay, type Relay } from '../../server/index.ts';

/** What Chromium negotiates with mediasoup over DTLS, as in the capacity benchmark. */
const LISTENER_SRTP = { suite: 'AEAD_AES_256_GCM', keyAndSaltBytes: 32 + 12 } as const;
/** Relays of one bench each get a port range of their own, so that two processes never race for one port. */
const PORTS_PER_RELAY = 10_000;
const FIRST_PORT = 20_000;
/** Listener transports are made this many at a time: as many as the capacity bench, so setup takes seconds, not minutes. */
const BATCH = 50;

export type RelayCommand =
  /** `heartbeatMs`: the cluster's beat (CLUSTER_HEARTBEAT_MS), longer where Redis bytes are counted, so beats do not blur them. */
  | { id: number; type: 'start'; redisUrl: string; index: number; heartbeatMs?: number; edgeJoins?: 'on' | 'off' }
  /** The speaker's producer: RTP into a PlainTransport on the origin room's router, owned by a member as producer.create would. */
  | { id: number; type: 'speaker'; roomId: string; participantId: string; ssrc: number }
  /** Listeners on the room's router here: the origin's, or this relay's edge router (piped from the origin). */
  | { id: number; type: 'listeners'; roomId: string; producerId: string; ports: number[]; count: number }
  | { id: number; type: 'clear' }
  | { id: number; type: 'cpu' }
  | { id: number; type: 'stop' };

export type RelayReply =
  | { id: number; type: 'started'; url: string; relayId: string }
  | { id: number; type: 'speaker'; port: number; producerId: string }
  | { id: number; type: 'listeners'; total: number }
  | { id: number; type: 'cleared' }
  /** Milliseconds of CPU so far: this Node process (signaling, cluster bus) and its mediasoup workers (media). */
  | { id: number; type: 'cpu'; nodeMs: number; workerMs: number }
  | { id: number; type: 'stopped' }
  | { id: number; type: 'error'; message: string };

let relay: Relay | null = null;
let ports = { min: FIRST_PORT, max: FIRST_PORT + PORTS_PER_RELAY - 1 };
const listeners: types.PlainTransport[] = [];

async function routerOf(roomId: string): Promise<types.Router> {
  const room = relay!.rooms.get(roomId);
  if (room) return room.router;
  const edge = relay!.cluster?.edgeRouter(roomId);
  if (!edge) throw new Error('no router for this room here: neither its origin nor an edge with a receiving member');
  return edge;
}

async function addListener(router: types.Router, producerId: string, port: number): Promise<void> {
  // SRTP protect per listener is what each listener costs the relay; the load process reads the clear RTP header.
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: ports },
    rtcpMux: true,
    comedia: false,
    enableSrtp: true,
    srtpCryptoSuite: LISTENER_SRTP.suite,
  });
  listeners.push(transport);
  const keyBase64 = randomBytes(LISTENER_SRTP.keyAndSaltBytes).toString('base64');
  await transport.connect({ ip: '127.0.0.1', port, srtpParameters: { cryptoSuite: LISTENER_SRTP.suite, keyBase64 } });
  await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities });
}

async function handle(command: RelayCommand): Promise<RelayReply> {
  const { id } = command;
  switch (command.type) {
    case 'start': {
      const min = FIRST_PORT + command.index * PORTS_PER_RELAY;
      ports = { min, max: min + PORTS_PER_RELAY - 1 };
      relay = await startRelay({
        port: 0,
        host: '127.0.0.1',
        workers: 1,
        logLevel: 'silent',
        rtcPort: 0,
        rtcMinPort: ports.min,
        rtcMaxPort: ports.max,
        redisUrl: command.redisUrl,
        ...(command.heartbeatMs ? { clusterHeartbeatMs: command.heartbeatMs } : {}),
        ...(command.edgeJoins ? { edgeJoins: command.edgeJoins } : {}),
      });
      return { id, type: 'started', url: relay.url, relayId: relay.cluster!.relayId };
    }
    case 'speaker': {
      const room = relay!.rooms.get(command.roomId);
      const owner = room?.members.get(command.participantId);
      if (!room || !owner) throw new Error('the speaker belongs to a room on this relay');
      const ingress = await room.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: ports }, rtcpMux: true, comedia: true });
      const producer = await ingress.produce({
        kind: 'audio',
        rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: command.ssrc }] },
      });
      // The origin pipes a producer to an edge only if a member of the room owns it.
      owner.producers.set(producer.id, producer);
      return { id, type: 'speaker', port: ingress.tuple.localPort, producerId: producer.id };
    }
    case 'listeners': {
      const router = await routerOf(command.roomId);
      let made = 0;
      while (made < command.count) {
        const batch = Math.min(BATCH, command.count - made);
        await Promise.all(Array.from({ length: batch }, (_, i) => addListener(router, command.producerId, command.ports[(made + i) % command.ports.length]!)));
        made += batch;
      }
      return { id, type: 'listeners', total: listeners.length };
    }
    case 'clear': {
      for (const transport of listeners.splice(0)) transport.close();
      return { id, type: 'cleared' };
    }
    case 'cpu': {
      const node = cpuUsage();
      const workers = await Promise.all(relay!.workers().map((w) => w.getResourceUsage()));
      return { id, type: 'cpu', nodeMs: (node.user + node.system) / 1000, workerMs: workers.reduce((sum, u) => sum + u.ru_utime + u.ru_stime, 0) };
    }
    case 'stop': {
      await relay?.close();
      return { id, type: 'stopped' };
    }
  }
}

process.on('message', (command: RelayCommand) => {
  handle(command).then(
    (reply) => process.send!(reply, () => command.type === 'stop' && process.exit(0)),
    (error: Error) => process.send!({ id: command.id, type: 'error', message: error.message } satisfies RelayReply),
  );
});
