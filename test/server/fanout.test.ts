import { afterEach, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, startTestRelay, type TestClient } from '../helpers/relay.ts';

let relay: Relay | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await relay?.close();
  relay = undefined;
});

/** A room on a two-worker relay whose router takes two receivers before it spreads, with a producing host. */
async function spreadingRoom() {
  relay = await startTestRelay({ workers: 2, listenersPerRouter: 2 });
  const room = await newRoom();
  const host = await connect(relay);
  clients.push(host);
  await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Big') });
  const send = await host.req('transport.create', { direction: 'send' });
  const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
  const state = relay.rooms.get(room.keys.roomId)!;
  const caps = state.router.rtpCapabilities as unknown as Record<string, unknown>;
  const listeners: { client: TestClient; id: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const client = await connect(relay);
    clients.push(client);
    const joined = await client.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `L${i}`) });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await client.req('transport.create', { direction: 'recv' });
    listeners.push({ client, id: joined.participantId });
  }
  return { relay, room, host, send, producerId, state, caps, listeners };
}

describe('one room over several workers', () => {
  it('spreads receivers to a router on the other worker once its own carries listenersPerRouter, with every producer piped there', async () => {
    const { relay, host, send, producerId, state, caps, listeners } = await spreadingRoom();
    const [first, second, third, fourth] = listeners.map((l) => state.members.get(l.id)!);
    expect(first!.recvRouter).toBe(state.router);
    expect(second!.recvRouter).toBe(state.router);
    expect(state.fanout.size).toBe(1);
    const [otherWorker] = [...state.fanout.keys()];
    expect(otherWorker).not.toBe(state.worker);
    expect(relay.workers()).toContain(otherWorker);
    const fanoutRouter = await state.fanout.get(otherWorker!)!.router;
    expect(third!.recvRouter).toBe(fanoutRouter);
    expect(fourth!.recvRouter).toBe(fanoutRouter);
    expect(third!.loadWorker).toBe(otherWorker);

    // The host's producer existed before the fan-out router: it was piped in, so spread listeners consume it.
    for (const { client } of listeners) expect(await client.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId });
    expect([...fourth!.consumers.values()][0]!.closed).toBe(false);

    // Muting pauses the piped copy too.
    await host.req('producer.pause', { producerId });
    await expect.poll(() => [...fourth!.consumers.values()][0]!.producerPaused).toBe(true);
    expect([...first!.consumers.values()][0]!.producerPaused).toBe(true);

    // A producer made after the spread is piped before anyone is told of it.
    await host.req('producer.close', { producerId });
    await expect.poll(() => fourth!.consumers.size).toBe(0);
    const announced = listeners[3]!.client.next('producer.added');
    const again = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    expect((await announced).producerId).toBe(again.producerId);
    expect(fanoutRouter.canConsume({ producerId: again.producerId, rtpCapabilities: state.router.rtpCapabilities })).toBe(true);
    expect(await listeners[3]!.client.req('consumer.create', { producerId: again.producerId, rtpCapabilities: caps })).toMatchObject({ producerId: again.producerId });
  });

  it('a dead fan-out worker resets only the members receiving through it, and they come back', async () => {
    const { relay, producerId, state, caps, listeners, host } = await spreadingRoom();
    const [otherWorker] = [...state.fanout.keys()];
    const onOrigin = listeners.filter((l) => state.members.get(l.id)!.recvRouter === state.router);
    const spread = listeners.filter((l) => !onOrigin.includes(l));
    expect(spread).toHaveLength(2);

    const resets = spread.map((l) => l.client.next('room.mediaReset'));
    process.kill(otherWorker!.pid, 'SIGKILL');
    await Promise.all(resets);
    await expect.poll(() => relay.workers().some((w) => w.pid === otherWorker!.pid)).toBe(false);

    const events = [...host.received, ...onOrigin.flatMap((l) => l.client.received)].map((r) => r.event);
    expect(events).not.toContain('room.mediaReset');
    expect(events).not.toContain('peer.left');
    expect(state.members.size).toBe(5);
    expect(state.fanout.has(otherWorker!)).toBe(false);
    for (const l of spread) expect(state.members.get(l.id)!.transports.size).toBe(0);

    // They re-create their receive transports (the replacement worker takes them) and consume again.
    for (const l of spread) {
      await l.client.req('transport.create', { direction: 'recv' });
      expect(await l.client.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId });
    }
    for (const l of onOrigin) expect(await l.client.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId });
  });
});
