// The room directory against a real Redis: a relay taken for dead does not take back a room another relay took over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomDirectory } from '../../server/cluster/directory.ts';
import type { RoomRecord } from '../../server/cluster/record.ts';
import { connectRedis, type RedisClient } from '../../server/cluster/redis.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

let redis: TestRedis;
const clients: RedisClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await redis?.stop();
});

const ROOM = 'R'.repeat(22);
const FORMER = 'F'.repeat(22);
const LOAD = { rooms: 1, members: 1, edgeMembers: 0, pipes: 0 };
const record = (origin: string): RoomRecord => ({ origin, sealedTitle: 'x'.repeat(40), locked: false, members: [], lobby: [], banned: [], formerIds: [FORMER] });

async function relay(id: string): Promise<RoomDirectory> {
  const client = await connectRedis(redis.url);
  clients.push(client);
  return new RoomDirectory(client, id, 60_000, 60_000);
}
const holder = async (roomId: string) => (await redis.command('GET', `teahouse:origin:${roomId}`)).trim();

describe('room directory', () => {
  it('a relay wrongly taken for dead finds its room taken over at its next beat, and leaves it to the new origin', async () => {
    const a = await relay('relay-a');
    const b = await relay('relay-b');
    expect(await a.claim(ROOM)).toBe(true);
    expect(await a.publish(new Map([[ROOM, record('relay-a')]]), [FORMER], LOAD)).toEqual([]);
    expect(await holder(ROOM)).toBe('relay-a');

    // A pauses past its entry's lifetime: B sees it dead and takes the room over.
    await redis.command('DEL', 'teahouse:relay:relay-a');
    expect(await b.takeOver(ROOM, 'relay-a')).toBe(true);
    expect(await b.takeOver(FORMER, 'relay-a')).toBe(true);
    expect(await b.publish(new Map([[ROOM, record('relay-b')]]), [FORMER], LOAD)).toEqual([]);

    // A wakes up and beats: it is alive again, but the room and its former id stay B's, with B's record.
    expect((await a.publish(new Map([[ROOM, record('relay-a')]]), [FORMER], LOAD)).sort()).toEqual([FORMER, ROOM].sort());
    expect(await a.isAlive('relay-a')).toBe(true);
    expect(await holder(ROOM)).toBe('relay-b');
    expect(await holder(FORMER)).toBe('relay-b');
    expect(JSON.parse(await redis.command('GET', `teahouse:room:${ROOM}`)).origin).toBe('relay-b');
    expect(await a.originOf(ROOM)).toBe('relay-b');
  });

  it('an entry that expired (or a Redis that lost everything) is written again by the relay that holds the room', async () => {
    const a = await relay('relay-c');
    const room = 'C'.repeat(22);
    await a.publish(new Map([[room, record('relay-c')]]), [], LOAD);
    await redis.command('FLUSHALL');
    expect(await a.publish(new Map([[room, record('relay-c')]]), [], LOAD)).toEqual([]);
    expect(await holder(room)).toBe('relay-c');
    expect(await a.isAlive('relay-c')).toBe(true);
  });
});
