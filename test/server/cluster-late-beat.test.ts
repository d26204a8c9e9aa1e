// A relay whose heartbeat comes late (its process paused past its directory entry's expiry) loses no notice told to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { spawnClusterRelay, startClusterRelay, TEST_HEARTBEAT_MS, type RelayProcess } from '../helpers/cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, fakePackage, newRoom, sealedTitle, type TestClient } from '../helpers/relay.ts';

let redis: TestRedis;
let origin: Relay;
let edge: RelayProcess;
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  // The origin looks for dead peers every 5 s and gives one up at its second look: the edge's pause below is not a death.
  origin = await startClusterRelay(redis.url, { clusterHeartbeatMs: 5_000, disconnectGraceMs: 30_000 });
  // The edge beats every TEST_HEARTBEAT_MS: its directory entry lapses three beats into a pause.
  edge = await spawnClusterRelay(redis.url, { DISCONNECT_GRACE_MS: '30000' });
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (edge) process.kill(edge.pid, 'SIGCONT');
  await edge?.kill('SIGKILL');
  await origin?.close();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a relay paused past its directory entry', () => {
  it('gets, once it runs again, the key package the origin sent its member meanwhile', async () => {
    const room = await newRoom();
    const host = await connect(origin);
    const listener = await connect(edge);
    clients.push(host, listener);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Listener') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await expect.poll(() => origin.rooms.get(room.keys.roomId)?.members.has(joined.participantId)).toBe(true);

    // The edge's id, from its inbox (its directory entry may already have lapsed once on a loaded machine).
    const inboxes = (await redis.command('KEYS', 'teahouse:inbox:*'))
      .split('\n')
      .map((k) => k.trim())
      .filter(Boolean);
    expect(inboxes).toHaveLength(2);
    const edgeId = inboxes.find((k) => k !== `teahouse:inbox:${origin.cluster!.relayId}`)!.slice('teahouse:inbox:'.length);

    const pkg = listener.next('key.package');
    // SIGSTOP, not a busy loop here: the edge's own process stands still, as a starved or swapped-out one does.
    process.kill(edge.pid, 'SIGSTOP');
    await sleep(TEST_HEARTBEAT_MS * 4);
    // Its directory entry has lapsed: to the directory it looks dead, though its peers have not given it up yet.
    expect((await redis.command('EXISTS', `teahouse:relay:${edgeId}`)).trim()).toBe('0');
    await host.req('key.packages', { epoch: 1, packages: [{ to: joined.participantId, package: fakePackage('late') }] });
    await sleep(TEST_HEARTBEAT_MS);
    process.kill(edge.pid, 'SIGCONT');

    expect(await pkg).toMatchObject({ epoch: 1, package: fakePackage('late') });
    expect(origin.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);
  }, 30_000);
});
