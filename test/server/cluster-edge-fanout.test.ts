// An edge spreads a remote room over its workers as the origin does: LISTENERS_PER_ROUTER receivers per router, the rest on fan-out routers fed from the edge's own.
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startClusterRelay } from '../helpers/cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, sealedTitle, type TestClient } from '../helpers/relay.ts';
import { rtpPayload } from '../helpers/rtp.ts';

let redis: TestRedis;
let origin: Relay;
let edge: Relay;
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  origin = await startClusterRelay(redis.url);
  edge = await startClusterRelay(redis.url, { workers: 2, listenersPerRouter: 1 });
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([origin?.close(), edge?.close()]);
  await redis?.stop();
});

async function member(relay: Relay): Promise<TestClient> {
  const c = await connect(relay);
  clients.push(c);
  return c;
}

describe('an edge over several workers', () => {
  it('puts its second listener of a remote room on another worker, pipes the host there once, and the audio, a mute and the leave follow', async () => {
    const room = await newRoom();
    const roomId = room.keys.roomId;
    const host = await member(origin);
    const created = await host.req('room.create', { roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Spread') });
    const state = origin.rooms.get(roomId)!;
    // The host's microphone: RTP into the origin's router over a PlainTransport, owned by the host.
    const input = await state.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS });
    state.members.get(created.participantId)!.producers.set(producer.id, producer);
    const caps = state.router.rtpCapabilities as unknown as Record<string, unknown>;

    const listeners: TestClient[] = [];
    for (let i = 0; i < 3; i++) {
      const listener = await member(edge);
      const joined = await listener.req('room.join', { roomId, announcement: announce(room, `L${i}`) });
      if ('lobby' in joined) throw new Error('unexpected lobby');
      await listener.req('transport.create', { direction: 'recv' });
      const consumer = await listener.req('consumer.create', { producerId: producer.id, rtpCapabilities: caps });
      expect(consumer).toMatchObject({ producerId: producer.id, participantId: created.participantId });
      listeners.push(listener);
    }

    const home = await edge.cluster!.edgeRouter(roomId)!;
    const fanout = edge.cluster!.edgeFanout(roomId);
    expect(fanout.size).toBe(1);
    const [otherWorker, fanoutRouterPromise] = [...fanout][0]!;
    const fanoutRouter = await fanoutRouterPromise;
    expect(edge.workers()).toContain(otherWorker);
    expect(fanoutRouter).not.toBe(home);
    // One pipe from the origin however many workers the listeners are spread over.
    expect(origin.cluster!.pipes()).toBe(1);
    expect(edge.cluster!.pipes()).toBe(1);
    expect(fanoutRouter.canConsume({ producerId: producer.id, rtpCapabilities: fanoutRouter.rtpCapabilities })).toBe(true);

    // What reaches the fan-out router: a PlainTransport there consumes the copy and hands RTP to a UDP sink.
    const output = await fanoutRouter.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    await output.connect({ ip: '127.0.0.1', port: sink.address().port });
    const tap = await output.consume({ producerId: producer.id, rtpCapabilities: fanoutRouter.rtpCapabilities });
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    const src = createSocket('udp4');
    for (let i = 0; i < 20; i++) {
      const packet = Buffer.alloc(12 + 40, i + 1);
      packet[0] = 0x80;
      packet[1] = 111;
      packet.writeUInt16BE(i, 2);
      packet.writeUInt32BE(i * 960, 4);
      packet.writeUInt32BE(11111111, 8); // the SSRC OPUS_RTP_PARAMETERS names
      src.send(packet, input.tuple.localPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect.poll(() => got.length).toBeGreaterThanOrEqual(18);
    for (const packet of got) expect(rtpPayload(packet).length).toBe(40);
    src.close();
    sink.close();

    // A mute on the origin reaches the copy on the fan-out router.
    await producer.pause();
    await expect.poll(() => tap.producerPaused).toBe(true);
    await producer.resume();
    await expect.poll(() => tap.producerPaused).toBe(false);
    output.close();

    // The last listener's leave takes the pipe and every router of the room on the edge with it.
    for (const listener of listeners) await listener.req('room.leave', {});
    await expect.poll(() => edge.cluster!.pipes()).toBe(0);
    await expect.poll(() => fanoutRouter.closed).toBe(true);
    expect(edge.cluster!.edgeFanout(roomId).size).toBe(0);
    input.close();
  });
});
