// A room's media tree: with PIPE_CHILDREN=1, a third relay takes the room's media from the edge the origin already feeds, and from another parent when that edge goes.
import { createSocket, type Socket } from 'node:dgram';
import type { types } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { spawnClusterRelay, startClusterRelay, type RelayProcess } from '../helpers/cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, DECISION, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, type TestClient } from '../helpers/relay.ts';
import { rtpPayload } from '../helpers/rtp.ts';

let redis: TestRedis;
let a: Relay;
let c: Relay;
const extra: Relay[] = [];
const children: RelayProcess[] = [];
const clients: TestClient[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startClusterRelay(redis.url, { pipeChildren: 1 });
  c = await startClusterRelay(redis.url, { pipeChildren: 1 });
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.close();
  for (const socket of sockets) socket.close();
  await Promise.allSettled(children.map((child) => child.kill('SIGKILL')));
  await Promise.allSettled([a?.close(), c?.close(), ...extra.map((r) => r.close())]);
  await redis?.stop();
});

async function member(relay: { url: string }): Promise<TestClient> {
  const client = await connect(relay);
  clients.push(client);
  return client;
}

async function udp(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

/** A room on A whose host's microphone is RTP sent into A's router, and a way to send a burst of it. */
async function hostOnA() {
  const room = await newRoom();
  const roomId = room.keys.roomId;
  const host = await member(a);
  const created = await host.req('room.create', { roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Tree') });
  const state = a.rooms.get(roomId)!;
  const input = await state.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, appData: { streamCertificate: STREAM_CERTIFICATE } });
  state.members.get(created.participantId)!.producers.set(producer.id, producer);
  const source = await udp();
  let seq = 0;
  /** 20 packets of 40 bytes, each filled with one byte value, under the SSRC OPUS_RTP_PARAMETERS names. */
  const speak = async (fill: number) => {
    for (let i = 0; i < 20; i++) {
      const packet = Buffer.alloc(12 + 40, fill);
      packet[0] = 0x80;
      packet[1] = 111;
      packet.writeUInt16BE(seq & 0xffff, 2);
      packet.writeUInt32BE(seq * 960, 4);
      packet.writeUInt32BE(11111111, 8);
      seq++;
      source.send(packet, input.tuple.localPort, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { room, roomId, host, created, producer, caps: state.router.rtpCapabilities as unknown as Record<string, unknown>, speak };
}

/** A listener on `relay` consuming the host, as a page does. */
async function listen(relay: { url: string }, room: Awaited<ReturnType<typeof hostOnA>>, name: string) {
  const listener = await member(relay);
  const joined = await listener.req('room.join', { roomId: room.roomId, announcement: announce(room.room, name) });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  await listener.req('transport.create', { direction: 'recv' });
  const consumer = await listener.req('consumer.create', { producerId: room.producer.id, rtpCapabilities: room.caps });
  // The speaker's stream certificate reaches a listener unchanged on any level of the tree.
  expect(consumer).toMatchObject({ producerId: room.producer.id, participantId: room.created.participantId, streamCertificate: STREAM_CERTIFICATE });
  await listener.req('consumer.resume', { consumerId: consumer.consumerId });
  return { listener, participantId: joined.participantId, consumerId: consumer.consumerId };
}

/** What reaches C's router for its listeners: a PlainTransport there consumes the host like a listener and hands the RTP to a UDP sink. */
async function tapOnC(roomId: string, producerId: string): Promise<{ got: Buffer[] }> {
  const router = await c.cluster!.edgeRouter(roomId)!;
  const output = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
  const sink = await udp();
  await output.connect({ ip: '127.0.0.1', port: sink.address().port });
  await output.consume({ producerId, rtpCapabilities: router.rtpCapabilities });
  const got: Buffer[] = [];
  sink.on('message', (packet) => got.push(packet));
  return { got };
}

/** The host speaks until C's tap has the burst: every payload intact (SFrame bytes are the relays' to carry, not to touch). */
async function hearsOnC(room: Awaited<ReturnType<typeof hostOnA>>, tap: { got: Buffer[] }, fill: number): Promise<void> {
  const heard = () => tap.got.filter((packet) => rtpPayload(packet)[0] === fill);
  await expect
    .poll(async () => {
      await room.speak(fill);
      return heard().length;
    })
    .toBeGreaterThanOrEqual(18);
  for (const packet of heard()) {
    expect(rtpPayload(packet).length).toBe(40);
    expect([...new Set(rtpPayload(packet))]).toEqual([fill]);
  }
}

/** C's listener still has the consumer it made before B went: it hears again without asking for anything. */
function stillConsuming(consumerId: string): boolean {
  for (const m of c.cluster!.edgeMedia()) {
    const consumer = m.consumers.get(consumerId) as types.Consumer | undefined;
    if (consumer) return !consumer.closed;
  }
  return false;
}

const tree = async (roomId: string) => {
  const flat = (await redis.command('HGETALL', `teahouse:tree:${roomId}`)).trim().split('\n').filter(Boolean);
  return Object.fromEntries(flat.flatMap((value, i) => (i % 2 === 0 ? [[value, flat[i + 1]]] : [])));
};

describe('a room’s media tree with one child per relay', () => {
  it('C takes the host from B, which the origin A already feeds; when B closes, C takes it from A and its listener hears again', async () => {
    const b = await startClusterRelay(redis.url, { pipeChildren: 1 });
    extra.push(b);
    const room = await hostOnA();
    await listen(b, room, 'On B');
    expect(b.cluster!.treeParent(room.roomId)).toBe(a.cluster!.relayId);
    const onC = await listen(c, room, 'On C');

    // A has room for one child and feeds B: C's media comes through B, and A sends the room's streams once.
    expect(c.cluster!.treeParent(room.roomId)).toBe(b.cluster!.relayId);
    expect(b.cluster!.feeds()).toEqual([c.cluster!.relayId]);
    expect(a.cluster!.feeds()).toEqual([]);
    expect(a.cluster!.pipes()).toBe(1);
    expect(c.cluster!.pipes()).toBe(1);
    expect(await tree(room.roomId)).toEqual({ [b.cluster!.relayId]: a.cluster!.relayId, [c.cluster!.relayId]: b.cluster!.relayId });
    // The pipe from B to C carries the host's producer under its id, piped in at B from A.
    expect((await b.cluster!.pipedProducers()).map((p) => p?.id)).toEqual([room.producer.id]);
    expect((await c.cluster!.pipedProducers()).map((p) => p?.id)).toEqual([room.producer.id]);
    const tap = await tapOnC(room.roomId, room.producer.id);
    await hearsOnC(room, tap, 1);

    // B goes: it leaves the tree and lets C go; C takes the room from A, into the same producer, so its listener's
    // consumer (and the tap) carry on.
    await b.close();
    await expect.poll(() => c.cluster!.treeParent(room.roomId)).toBe(a.cluster!.relayId);
    await hearsOnC(room, tap, 2);
    expect(stillConsuming(onC.consumerId)).toBe(true);
    expect(await tree(room.roomId)).toEqual({ [c.cluster!.relayId]: a.cluster!.relayId });
    // A mute at the origin still reaches C's listener, through the new pipe.
    const [copy] = await c.cluster!.pipedProducers();
    await room.producer.pause();
    await expect.poll(() => copy!.paused).toBe(true);
    await room.producer.resume();
    await expect.poll(() => copy!.paused).toBe(false);
  });

  it('when the middle relay is SIGKILLed, C notices its death before its directory entry expires, takes the room from A and its listener hears again', async () => {
    // B beats slowly, so that its entry outlives it by up to 15 s: C must notice by B's channel, not by the beats.
    const b = await spawnClusterRelay(redis.url, { PIPE_CHILDREN: '1', CLUSTER_HEARTBEAT_MS: '5000' });
    children.push(b);
    // A still feeds C the first test's room.
    const aPipes = a.cluster!.pipes();
    const cPipes = c.cluster!.pipes();
    const room = await hostOnA();
    // The host is muted while the tree is made: its unmute must reach C through both pipes, not only the flag.
    await room.producer.pause();
    await listen(b, room, 'On B');
    const onC = await listen(c, room, 'On C');
    const [copy] = (await c.cluster!.pipedProducers()).filter((p) => p?.id === room.producer.id);
    expect(copy!.paused).toBe(true);
    await room.producer.resume();
    await expect.poll(() => copy!.paused).toBe(false);
    const placed = await tree(room.roomId);
    const bId = Object.keys(placed).find((relay) => relay !== c.cluster!.relayId)!;
    expect(placed).toEqual({ [bId]: a.cluster!.relayId, [c.cluster!.relayId]: bId });
    expect(c.cluster!.treeParent(room.roomId)).toBe(bId);
    expect(a.cluster!.pipes()).toBe(aPipes + 1);
    const tap = await tapOnC(room.roomId, room.producer.id);
    await hearsOnC(room, tap, 3);

    await b.kill('SIGKILL');
    await expect.poll(() => c.cluster!.treeParent(room.roomId), { timeout: 5_000 }).toBe(a.cluster!.relayId);
    expect((await redis.command('EXISTS', `teahouse:relay:${bId}`)).trim()).toBe('1');
    await hearsOnC(room, tap, 4);
    expect(stillConsuming(onC.consumerId)).toBe(true);
    expect(c.cluster!.pipes()).toBe(cPipes + 1);
  }, 30_000);

  it('a speaker on C, under B, sends through a pipe of its own to the origin: the host on A and a listener on B hear it, and the origin’s mute reaches it', async () => {
    const b = await startClusterRelay(redis.url, { pipeChildren: 1 });
    extra.push(b);
    const room = await hostOnA();
    const onB = await listen(b, room, 'On B');
    const onC = await listen(c, room, 'Speaker on C');
    expect(c.cluster!.treeParent(room.roomId)).toBe(b.cluster!.relayId);
    const cPipes = c.cluster!.pipes();

    const invited = onC.listener.next('stage.invited');
    await room.host.req('stage.invite', { participantId: onC.participantId, decision: DECISION });
    await invited;
    await onC.listener.req('stage.respond', { accept: true, decision: DECISION });
    const send = await onC.listener.req('transport.create', { direction: 'send' });
    const added = room.host.next('producer.added');
    const { producerId } = await onC.listener.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    expect(await added).toEqual({ producerId, participantId: onC.participantId, streamCertificate: STREAM_CERTIFICATE });
    // Its pipe up goes to the origin, beside the one from B: the origin adopts the copy as the speaker's microphone.
    expect(c.cluster!.pipes()).toBe(cPipes + 1);
    const atOrigin = a.rooms.get(room.roomId)!.members.get(onC.participantId)!.producers.get(producerId)!;
    expect(atOrigin).toBeDefined();
    await room.host.req('transport.create', { direction: 'recv' });
    expect(await room.host.req('consumer.create', { producerId, rtpCapabilities: room.caps })).toMatchObject({ producerId, participantId: onC.participantId, streamCertificate: STREAM_CERTIFICATE });
    // B takes it from A, as any producer of the room.
    expect(await onB.listener.req('consumer.create', { producerId, rtpCapabilities: room.caps })).toMatchObject({ producerId, participantId: onC.participantId, streamCertificate: STREAM_CERTIFICATE });
    expect((await b.cluster!.pipedProducers()).map((p) => p?.id)).toContain(producerId);

    const own = c.cluster!.speakerProducers().find((p) => p.id === producerId)!;
    await room.host.req('stage.mute', { participantId: onC.participantId, decision: DECISION });
    await expect.poll(() => atOrigin.paused).toBe(true);
    await expect.poll(() => own.paused).toBe(true);
  });
});
