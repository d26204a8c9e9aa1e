import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { resumeHash } from '../../server/rooms/participant.ts';
import type { JoinResult } from '../../protocol/messages.ts';
import { startClusterRelay, TEST_HEARTBEAT_MS } from '../helpers/cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, DECISION, fakePackage, newRoom, OPUS_RTP_PARAMETERS, sealedTitle, STREAM_CERTIFICATE, type TestClient, type TestRoom } from '../helpers/relay.ts';

let redis: TestRedis;
let a: Relay;
let b: Relay;
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  // A grace, so that a member whose socket closes can resume as itself.
  a = await startClusterRelay(redis.url, { disconnectGraceMs: 30_000 });
  b = await startClusterRelay(redis.url, { disconnectGraceMs: 30_000 });
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([a?.close(), b?.close()]);
  await redis?.stop();
});

async function member(relay: Relay): Promise<TestClient> {
  const c = await connect(relay);
  clients.push(c);
  return c;
}

/** A room held by relay A, its host there, once A has written the room's join view for edges. */
async function roomOnA(): Promise<{ room: TestRoom; host: TestClient; created: JoinResult }> {
  const room = await newRoom();
  const host = await member(a);
  const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
  await expect.poll(async () => (await redis.command('HEXISTS', `teahouse:room:${room.keys.roomId}`, 'join')).trim()).toBe('1');
  return { room, host, created };
}

const forwardedJoins = (relay: Relay) => {
  const { forwardedHere } = relay.cluster!.joins();
  return (forwardedHere['room.join'] ?? 0) + (forwardedHere['room.peek'] ?? 0);
};

describe('listeners’ joins answered by the relay they reach', () => {
  it('twenty listeners open the link and join through B: no request reaches the origin, which is told of them in a few messages and tells the host of each', async () => {
    const { room, host, created } = await roomOnA();
    const forwardedBefore = forwardedJoins(a);
    const takenBefore = a.cluster!.joins().takenFromEdges;
    const answeredBefore = b.cluster!.joins().answeredHere;
    const batchesBefore = b.cluster!.joins().batchesSent;
    const seen = new Set<string>();
    host.socket.on('peer.joined', ({ participant }: { participant: { participantId: string } }) => seen.add(participant.participantId));

    const listeners = await Promise.all(Array.from({ length: 20 }, () => member(b)));
    const joined = await Promise.all(
      listeners.map(async (l, i) => {
        expect(await l.req('room.peek', { roomId: room.keys.roomId })).toEqual({ exists: true, locked: false, sealedTitle: created.room.sealedTitle, routerRtpCapabilities: created.routerRtpCapabilities });
        const reply = await l.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `Listener ${i}`) });
        if ('lobby' in reply) throw new Error('unexpected lobby');
        return reply;
      }),
    );

    // Every reply is what the origin would have given: the stage (the host) and itself, the origin's capabilities.
    for (const reply of joined) {
      expect(reply.role).toBe('listener');
      expect(reply.room.participants.map((p) => p.participantId)).toEqual([created.participantId, reply.participantId]);
      expect(reply.routerRtpCapabilities).toEqual(created.routerRtpCapabilities);
      expect(reply.keyBatchMs).toBe(created.keyBatchMs);
    }
    await expect.poll(() => seen.size).toBe(20);
    expect([...seen].sort()).toEqual(joined.map((j) => j.participantId).sort());
    expect(a.rooms.get(room.keys.roomId)!.members.size).toBe(21);

    // Counted at both ends: the origin got no join or peek, B answered all twenty and told A in at most twenty messages.
    expect(forwardedJoins(a)).toBe(forwardedBefore);
    expect(a.cluster!.joins().takenFromEdges - takenBefore).toBe(20);
    expect(b.cluster!.joins().answeredHere - answeredBefore).toBe(20);
    const batches = b.cluster!.joins().batchesSent - batchesBefore;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(20);
  });

  it('a listener admitted by B is a member like any other: it gets its key package, raises its hand, leaves, and comes back through A by its token', async () => {
    const { room, host } = await roomOnA();
    const listener = await member(b);
    const announcement = announce(room, 'Listener');
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await expect.poll(() => a.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);

    const pkg = listener.next('key.package');
    await host.req('key.packages', { epoch: 1, packages: [{ to: joined.participantId, package: fakePackage('listener1') }] });
    expect(await pkg).toMatchObject({ epoch: 1, package: fakePackage('listener1') });

    const raised = host.next('peer.updated');
    await listener.req('hand.raise', {});
    expect((await raised).participant).toMatchObject({ participantId: joined.participantId });

    // Its page reloads and resumes through the origin's own relay: A knows it by its token's hash alone.
    listener.close();
    const again = await member(a);
    const resumed = await again.req('room.join', { roomId: room.keys.roomId, announcement, resumeToken: joined.resumeToken, newPage: true });
    expect(resumed.participantId).toBe(joined.participantId);

    const left = host.next('peer.left');
    await again.req('room.leave', {});
    expect(await left).toMatchObject({ participantId: joined.participantId, reason: 'left' });
  });

  it('a kicked identity is refused by B from the view, a locked room’s join goes to the origin’s lobby, and a socket closed before the origin hears of it leaves no member', async () => {
    const { room, host } = await roomOnA();
    const listener = await member(b);
    const identityAnnouncement = announce(room, 'Kicked');
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement: identityAnnouncement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await expect.poll(() => a.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);
    await host.req('member.kick', { participantId: joined.participantId, decision: DECISION });
    await expect.poll(async () => (await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'meta')).includes('"banned":["')).toBe(true);

    const forwardedBefore = forwardedJoins(a);
    const back = await member(b);
    await expect(back.req('room.join', { roomId: room.keys.roomId, announcement: identityAnnouncement })).rejects.toMatchObject({ code: 'IDENTITY_BANNED' });
    expect(forwardedJoins(a)).toBe(forwardedBefore);

    // One that closes its socket at once: B tells the origin it is gone only after the origin took it in.
    const brief = await member(b);
    const briefJoin = await brief.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Brief') });
    if ('lobby' in briefJoin) throw new Error('unexpected lobby');
    brief.close();
    await expect.poll(() => a.rooms.get(room.keys.roomId)!.members.get(briefJoin.participantId)?.graceTimer ?? null).not.toBe(null);

    await host.req('room.lock', { locked: true, decision: DECISION });
    await expect.poll(async () => (await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'meta')).includes('"locked":true')).toBe(true);
    const visitor = await member(b);
    expect(await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Visitor') })).toMatchObject({ lobby: true });
    expect(forwardedJoins(a)).toBe(forwardedBefore + 1);
  });

  it('a newcomer shown a stale stage is told what changed by the origin: the speaker it was not shown, and its microphone', async () => {
    const { room, created } = await roomOnA();
    // A's writes that follow the room's creation are over first (a rewrite would put the host back).
    await new Promise((resolve) => setTimeout(resolve, TEST_HEARTBEAT_MS * 3));
    // The view B reads shows an empty stage, as if written before the host came: a lagging (or lying) directory.
    const view = JSON.parse(await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'join')) as { stage: unknown[] };
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      await client.hSet(`teahouse:room:${room.keys.roomId}`, 'join', JSON.stringify({ ...view, stage: [] }));
    } finally {
      await client.quit();
    }
    // Meanwhile the host has a microphone at the origin (RTP over a PlainTransport, owned as producer.create would).
    const origin = a.rooms.get(room.keys.roomId)!;
    const input = await origin.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, appData: { streamCertificate: STREAM_CERTIFICATE } });
    origin.members.get(created.participantId)!.producers.set(producer.id, producer);

    const listener = await member(b);
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Late') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    expect(joined.room.participants.map((p) => p.participantId)).toEqual([joined.participantId]);
    const told = (event: string, match: (payload: Record<string, unknown>) => boolean) => listener.received.some((r) => r.event === event && match(r.payload as Record<string, unknown>));
    await expect.poll(() => told('peer.updated', (p) => (p.participant as { participantId: string }).participantId === created.participantId)).toBe(true);
    await expect.poll(() => told('producer.added', (p) => p.producerId === producer.id && p.participantId === created.participantId)).toBe(true);
    input.close();
  });

  it('the token of a listener B admitted never crosses Redis: the origin is told its hash', async () => {
    const monitor = await redis.monitor();
    try {
      const { room } = await roomOnA();
      const listener = await member(b);
      const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Listener') });
      if ('lobby' in joined) throw new Error('unexpected lobby');
      await expect.poll(() => a.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);
      const traffic = await monitor.settled();
      expect(traffic).toContain(resumeHash(joined.resumeToken));
      expect(traffic).not.toContain(joined.resumeToken);
    } finally {
      monitor.stop();
    }
  });
});
