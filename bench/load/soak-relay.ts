// The soak benchmark's relay, forked so that its memory, handles and event loop are its own: it samples them on request.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { types } from 'mediasoup';
import { startRelay, type Relay } from '../../server/index.ts';

export type SoakCommand =
  | { id: number; type: 'start' }
  /** The speaker's producer: RTP into a PlainTransport on the room's router, owned by a member as producer.create would. */
  | { id: number; type: 'speaker'; roomId: string; participantId: string; ssrc: number }
  | { id: number; type: 'sample' }
  /** Which of these members hold a live, unpaused consumer of the producer, and how many packets the producer has had. */
  | { id: number; type: 'hears'; roomId: string; producerId: string; participantIds: string[] }
  | { id: number; type: 'stop' };

export interface SoakSample {
  rssMb: number;
  heapUsedMb: number;
  /** Memory outside V8's heap that V8 knows of (Buffers, ArrayBuffers): where an RSS that grows with a flat heap would show. */
  externalMb: number;
  /** What V8 has reserved for its heap, used or not: a heap that grows by reservation shows here, not in heapUsed. */
  heapTotalMb: number;
  /** The part of external held by ArrayBuffers (socket and crypto buffers). */
  arrayBuffersMb: number;
  /** What V8 itself holds from malloc (compiler zones, parser, its own tables), outside its heap and external. */
  v8MallocedMb: number;
  /** The relay's anonymous resident pages (malloc, V8, thread stacks), from /proc/self/smaps_rollup; null off Linux. */
  anonMb: number | null;
  /** Its file-backed resident pages (the node binary, libraries, code touched for the first time); null off Linux. */
  fileMb: number | null;
  /** The mediasoup workers' own RSS, summed (separate processes, not in rssMb); null off Linux. */
  workerRssMb: number | null;
  /** Event-loop delay since the previous sample, mean and 99th percentile. */
  lagMeanMs: number;
  lagP99Ms: number;
  /** process.getActiveResourcesInfo(): sockets, timers and the like the relay holds open. */
  handles: number;
  /** What the mediasoup workers hold, from their own dumps (C++ side), not from the relay's maps. */
  routers: number;
  transports: number;
  consumers: number;
  /** Every object the workers answer requests for (routers, transports, producers, consumers…). */
  workerObjects: number;
  /** The relay's own view: members in its rooms. */
  members: number;
}

export type SoakReply =
  | { id: number; type: 'started'; url: string }
  | { id: number; type: 'speaker'; port: number; producerId: string }
  | { id: number; type: 'sample'; sample: SoakSample }
  | { id: number; type: 'hears'; hearing: string[]; packets: number }
  | { id: number; type: 'stopped' }
  | { id: number; type: 'error'; message: string };

let relay: Relay | null = null;
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const MB = 1024 * 1024;

/** A `Name:   123 kB` field of a /proc file, in MB; null where /proc cannot be read (not Linux). */
function procKb(path: string, field: string): number | null {
  try {
    const match = readFileSync(path, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function sample(): Promise<SoakSample> {
  // Without a collection first, the heap's size says when V8 last collected, not what the relay keeps.
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  let routers = 0;
  let transports = 0;
  let consumers = 0;
  let workerObjects = 0;
  const routerObjects = new Map<string, types.Router>();
  for (const room of relay!.rooms.values()) {
    routerObjects.set(room.router.id, room.router);
    for (const fan of room.fanout.values()) {
      const router = await fan.router;
      routerObjects.set(router.id, router);
    }
  }
  for (const worker of relay!.workers()) {
    const dump = await worker.dump();
    routers += dump.routerIds.length;
    workerObjects += dump.channelMessageHandlers.channelRequestHandlers.length;
  }
  for (const router of routerObjects.values()) {
    const dump = await router.dump();
    transports += dump.transportIds.length;
    consumers += dump.mapConsumerIdProducerId.length;
  }
  const rollup = '/proc/self/smaps_rollup';
  const rss = procKb(rollup, 'Rss');
  const anon = procKb(rollup, 'Anonymous');
  const workerRss = relay!.workers().map((w) => procKb(`/proc/${w.pid}/status`, 'VmRSS'));
  const result: SoakSample = {
    rssMb: memory.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    externalMb: memory.external / MB,
    heapTotalMb: memory.heapTotal / MB,
    arrayBuffersMb: memory.arrayBuffers / MB,
    v8MallocedMb: getHeapStatistics().malloced_memory / MB,
    anonMb: anon,
    fileMb: rss === null || anon === null ? null : rss - anon,
    workerRssMb: workerRss.includes(null) ? null : workerRss.reduce<number>((a, b) => a + b!, 0),
    lagMeanMs: lag.mean / 1e6,
    lagP99Ms: lag.percentile(99) / 1e6,
    handles: process.getActiveResourcesInfo().length,
    routers,
    transports,
    consumers,
    workerObjects,
    members: [...relay!.rooms.values()].reduce((sum, room) => sum + room.members.size, 0),
  };
  lag.reset();
  return result;
}

async function handle(command: SoakCommand): Promise<SoakReply> {
  const { id } = command;
  switch (command.type) {
    case 'start': {
      relay = await startRelay({ port: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', rtcPort: 0 });
      return { id, type: 'started', url: relay.url };
    }
    case 'speaker': {
      const room = relay!.rooms.get(command.roomId);
      const owner = room?.members.get(command.participantId);
      if (!room || !owner) throw new Error('the speaker belongs to a room on this relay');
      const ingress = await room.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
      const producer = await ingress.produce({
        kind: 'audio',
        rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: command.ssrc }] },
      });
      owner.producers.set(producer.id, producer);
      return { id, type: 'speaker', port: ingress.tuple.localPort, producerId: producer.id };
    }
    case 'sample':
      return { id, type: 'sample', sample: await sample() };
    case 'hears': {
      const room = relay!.rooms.get(command.roomId);
      const hearing = command.participantIds.filter((participantId) => {
        const member = room?.members.get(participantId);
        return [...(member?.consumers.values() ?? [])].some((c) => c.producerId === command.producerId && !c.closed && !c.paused && !c.producerPaused);
      });
      let packets = 0;
      for (const member of room?.members.values() ?? []) {
        const producer = member.producers.get(command.producerId);
        if (producer) for (const stat of await producer.getStats()) packets += stat.packetCount;
      }
      return { id, type: 'hears', hearing, packets };
    }
    case 'stop': {
      await relay?.close();
      return { id, type: 'stopped' };
    }
  }
}

process.on('message', (command: SoakCommand) => {
  handle(command).then(
    (reply) => process.send!(reply, () => command.type === 'stop' && process.exit(0)),
    (error: Error) => process.send!({ id: command.id, type: 'error', message: error.message } satisfies SoakReply),
  );
});
