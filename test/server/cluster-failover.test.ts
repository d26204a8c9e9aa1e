import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { spawnClusterRelay, startClusterRelay, TEST_HEARTBEAT_MS, type RelayProcess } from '../helpers/cluster.ts';
import { alive } from '../helpers/process.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, sealedTitle, type TestClient } from '../helpers/relay.ts';

/** Long enough for a page to reconnect to another relay; what a member whose relay died has to come back as itself. */
const GRACE_MS = 4_000;

let redis: TestRedis;
let a: Relay;
let c: Relay;
const children: RelayProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS });
  c = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS });
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.allSettled(children.map((child) => child.kill('SIGKILL')));
  await Promise.allSettled([a?.close(), c?.close()]);
  await redis?.stop();
});

async function member(relay: { url: string }): Promise<TestClient> {
  const client = await connect(relay);
  clients.push(client);
  return client;
}

describe('a relay’s death and a Redis restart', () => {
  it('a listener whose relay is SIGKILLed resumes through another relay as the same member, and hears the host again', async () => {
    const b = await spawnClusterRelay(redis.url);
    children.push(b);
    const room = await newRoom();
    const host = await member(a);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const send = await host.req('transport.create', { direction: 'send' });
    const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS });
    const caps = a.rooms.get(room.keys.roomId)!.router.rtpCapabilities as unknown as Record<string, unknown>;

    const announcement = announce(room, 'Listener');
    const listener = await member(b);
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await listener.req('transport.create', { direction: 'recv' });
    await listener.req('consumer.create', { producerId, rtpCapabilities: caps });
    const bystander = await member(b);
    const stays = await bystander.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Bystander') });
    if ('lobby' in stays) throw new Error('unexpected lobby');
    expect(a.cluster!.pipes()).toBe(1);

    const bystanderLeft = host.next('peer.left', GRACE_MS + 10_000);
    await b.kill('SIGKILL');
    expect(alive(b.pid)).toBe(false);

    // A notices within three missed beats: the pipe to the dead relay goes, its members are in their grace.
    await expect.poll(() => a.cluster!.pipes(), { timeout: TEST_HEARTBEAT_MS * 10 }).toBe(0);
    expect(a.rooms.get(room.keys.roomId)!.members.size).toBe(3);

    // The page reconnects, here to relay C, and resumes with its token.
    const back = await member(c);
    const resumed = await back.req('room.join', { roomId: room.keys.roomId, announcement, resumeToken: joined.resumeToken });
    if ('lobby' in resumed) throw new Error('unexpected lobby');
    expect(resumed.participantId).toBe(joined.participantId);
    await back.req('transport.create', { direction: 'recv' });
    expect(await back.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId });
    expect(c.cluster!.pipes()).toBe(1);

    // The member who did not come back leaves when its grace runs out; the resumed one never left.
    expect(await bystanderLeft).toMatchObject({ participantId: stays.participantId, reason: 'disconnected' });
    const lefts = host.received.filter((r) => r.event === 'peer.left').map((r) => (r.payload as { participantId: string }).participantId);
    expect(lefts).toEqual([stays.participantId]);
    expect(a.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);
  }, 30_000);

  it('when the origin relay is SIGKILLed, the other relays close its members’ sockets and the room can be rebuilt on them under the same id', async () => {
    const origin = await spawnClusterRelay(redis.url);
    children.push(origin);
    const room = await newRoom();
    const hostAnnouncement = announce(room, 'Host');
    const host = await member(origin);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: hostAnnouncement, sealedTitle: sealedTitle(room, 'T') });
    const listener = await member(c);
    const listenerAnnouncement = announce(room, 'Listener');
    await listener.req('room.join', { roomId: room.keys.roomId, announcement: listenerAnnouncement });
    const dropped = new Promise<void>((resolve) => listener.socket.once('disconnect', () => resolve()));

    await origin.kill('SIGKILL');
    await dropped;

    // The pages rebuild the room (client/src/session/rebuild.ts) through the relays that live: same room id.
    const again = await member(c);
    await again.req('room.create', { roomId: room.keys.roomId, announcement: hostAnnouncement, sealedTitle: sealedTitle(room, 'T') });
    expect(c.rooms.has(room.keys.roomId)).toBe(true);
    const back = await member(a);
    const rejoined = await back.req('room.join', { roomId: room.keys.roomId, announcement: listenerAnnouncement });
    if ('lobby' in rejoined) throw new Error('unexpected lobby');
    expect(rejoined.room.participants).toHaveLength(2);
    expect((await redis.command('GET', `teahouse:origin:${room.keys.roomId}`)).trim()).toBe(c.cluster!.relayId);
  }, 30_000);

  it('a Redis restart during a room: relays reconnect, the directory comes back, and a join through another relay works', async () => {
    const room = await newRoom();
    const host = await member(a);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const before = await member(c);
    await before.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Before') });

    await redis.restart();
    // Redis lost everything; the next heartbeats write the directory again.
    await expect.poll(async () => (await redis.command('GET', `teahouse:origin:${room.keys.roomId}`)).trim(), { timeout: 10_000 }).toBe(a.cluster!.relayId);

    const after = await member(c);
    const seen = host.next('peer.joined');
    const joined = await after.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'After') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    expect((await seen).participant.participantId).toBe(joined.participantId);
    // Events still cross relays: the listener who joined before the restart is told the audience grew (listeners are
    // told the count, not each other: protocol §9).
    expect(before.socket.connected).toBe(true);
    await expect.poll(() => before.received.some((r) => r.event === 'room.audience' && (r.payload as { count: number }).count === 2), { timeout: 10_000 }).toBe(true);
  }, 30_000);
});
