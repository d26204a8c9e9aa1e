// Splice benchmark: what an edge's Node process pays for each RTP packet it splices (server/cluster/splice.ts).
import { createSocket, type Socket } from 'node:dgram';
import { cpus, loadavg } from 'node:os';
import * as mediasoup from 'mediasoup';
import { SplicedProducer } from '../server/cluster/splice.ts';
import { MEDIA_CODECS } from '../server/media/codecs.ts';
import { opusPacket } from '../test/helpers/audio-flow.ts';
import { OPUS_RTP_PARAMETERS } from '../test/helpers/relay.ts';
import { median, writeJson, type Table } from './report.ts';
import { workerCpuMs } from './worker-cpu.ts';

/** Packets a second through each path: twenty speakers' 50 a second, what one edge carries for a busy room. */
const PACKETS_PER_SECOND = 1_000;
/** An SFrame audio packet as it travels: 12 bytes of RTP header, 117 of payload (docs/performance.md, bandwidth). */
const PACKET_BYTES = 12 + 117;

type Path = 'spliced' | 'direct';

interface Window {
  path: Path;
  sent: number;
  delivered: number;
  nodeCpuUs: number;
  workerCpuUs: number;
}

async function udp(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/**
 * One router, one input producer fed over UDP, and two ways out to a UDP sink: a consumer of a SplicedProducer (the
 * packets pass through this Node process, as on an edge) or a consumer of the input producer itself (they stay in
 * the worker). The two take turns for `seconds` each; what differs between them is the splice.
 */
export async function runSpliceBench(opts: { quick: boolean }): Promise<Table[]> {
  const seconds = opts.quick ? 3 : 10;
  const rounds = opts.quick ? 2 : 5;
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const sockets: Socket[] = [];
  try {
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const input = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS });
    const direct = await router.createDirectTransport();
    const source = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const spliced = await SplicedProducer.make(direct, crypto.randomUUID(), source, false);
    const sender = await udp();
    sockets.push(sender);

    /** A sink consuming `producerId` through a PlainTransport, counting what arrives while `counting`. */
    const sinkOf = async (producerId: string) => {
      const sink = await udp();
      sockets.push(sink);
      const output = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
      await output.connect({ ip: '127.0.0.1', port: sink.address().port });
      const consumer = await output.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: true });
      const count = { n: 0 };
      sink.on('message', () => count.n++);
      return { consumer, count };
    };
    const sinks: Record<Path, Awaited<ReturnType<typeof sinkOf>>> = { spliced: await sinkOf(spliced.producer.id), direct: await sinkOf(producer.id) };

    let seq = 0;
    const ssrc = OPUS_RTP_PARAMETERS.encodings[0]!.ssrc;
    const send = () => sender.send(opusPacket(seq++, ssrc, PACKET_BYTES - 12), input.tuple.localPort, '127.0.0.1');
    /** Sends at the rate for `ms`, 10 packets every 10 ms; returns how many. */
    const sendFor = async (ms: number) => {
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < ms) {
        for (let i = 0; i < PACKETS_PER_SECOND / 100; i++) send();
        sent += PACKETS_PER_SECOND / 100;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return sent;
    };
    // Warm-up: the input's comedia tuple, both paths once.
    for (const path of ['spliced', 'direct'] as const) {
      await (path === 'spliced' ? source.resume() : source.pause());
      await sinks[path].consumer.resume();
      await sendFor(500);
      await sinks[path].consumer.pause();
    }

    const windows: Window[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const path of round % 2 === 0 ? (['spliced', 'direct'] as const) : (['direct', 'spliced'] as const)) {
        const sink = sinks[path];
        // The splice's own source stops too outside its windows: its RTP would otherwise still reach this process.
        await (path === 'spliced' ? source.resume() : source.pause());
        await sink.consumer.resume();
        await sendFor(200);
        sink.count.n = 0;
        const node0 = process.cpuUsage();
        const worker0 = await workerCpuMs(worker);
        const sent = await sendFor(seconds * 1_000);
        const node = process.cpuUsage(node0);
        const workerUs = ((await workerCpuMs(worker)) - worker0) * 1_000;
        await new Promise((resolve) => setTimeout(resolve, 100));
        windows.push({ path, sent, delivered: sink.count.n, nodeCpuUs: node.user + node.system, workerCpuUs: workerUs });
        await sink.consumer.pause();
      }
    }

    const perPacket = (path: Path, key: 'nodeCpuUs' | 'workerCpuUs') => median(windows.filter((w) => w.path === path).map((w) => w[key] / w.sent));
    const nodeSplice = perPacket('spliced', 'nodeCpuUs') - perPacket('direct', 'nodeCpuUs');
    const workerSplice = perPacket('spliced', 'workerCpuUs') - perPacket('direct', 'workerCpuUs');
    const delivered = (path: Path) => windows.filter((w) => w.path === path).reduce((a, w) => a + w.delivered, 0) / windows.filter((w) => w.path === path).reduce((a, w) => a + w.sent, 0);
    const load = loadavg()[0]!;
    writeJson('splice', { quick: opts.quick, packetsPerSecond: PACKETS_PER_SECOND, packetBytes: PACKET_BYTES, seconds, windows, nodeSpliceUsPerPacket: nodeSplice, workerSpliceUsPerPacket: workerSplice, load });
    return [
      {
        title: `Splicing a piped-in stream on an edge (server/cluster/splice.ts): ${PACKETS_PER_SECOND} packets/s of ${PACKET_BYTES} bytes, µs of CPU per packet`,
        columns: ['path', 'Node process', 'mediasoup worker', 'delivered', 'windows'],
        rows: [
          [
            'spliced: DirectTransport consumer → this process → DirectTransport producer → consumer',
            perPacket('spliced', 'nodeCpuUs'),
            perPacket('spliced', 'workerCpuUs'),
            delivered('spliced'),
            windows.filter((w) => w.path === 'spliced').length,
          ],
          ['direct: consumer of the producer itself (in the worker only)', perPacket('direct', 'nodeCpuUs'), perPacket('direct', 'workerCpuUs'), delivered('direct'), windows.filter((w) => w.path === 'direct').length],
          ['the splice costs (spliced − direct)', nodeSplice, workerSplice, null, null],
        ],
        notes: [
          `Medians over ${rounds} windows of ${seconds} s per path, the paths taking turns; the Node column includes this benchmark's own sending, the same in both paths, so only the difference is the splice's.`,
          `An edge splices each producer of a room it carries once, whatever its listeners: 20 speakers are 1,000 packets a second, ${((nodeSplice * PACKETS_PER_SECOND) / 1_000).toFixed(1)} ms of the Node process per second at the cost above.`,
          `Load average ${load.toFixed(1)} on ${cpus().length} cores when it ended.`,
        ],
      },
    ];
  } finally {
    for (const socket of sockets) socket.close();
    worker.close();
  }
}
