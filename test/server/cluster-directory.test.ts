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

/** A room's record with `n` members, as an origin writes it (each member ~330 bytes of JSON, as in a real room). */
function withMembers(origin: string, n: number): RoomRecord {
  const members = Array.from({ length: n }, (_, i) => ({
    participantId: `p${String(i).padStart(21, '0')}`,
    role: 'listener' as const,
    announcement: 'a'.repeat(200),
    joinedSeq: i + 1,
    handRaisedSeq: null,
    muted: false,
    resumeHash: 'h'.repeat(43),
  }));
  return { ...record(origin), members };
}

/** Bytes Redis received while `write` ran: what a directory write costs, measured where it lands. */
async function bytesInto(write: () => Promise<unknown>): Promise<number> {
  const received = async () => Number(/total_net_input_bytes:(\d+)/.exec(await redis.command('INFO', 'stats'))?.[1]);
  const before = await received();
  await write();
  // The INFO command itself is counted too: the same few bytes before and after.
  return (await received()) - before;
}

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
    expect(JSON.parse(await redis.command('HGET', `teahouse:room:${ROOM}`, 'meta')).origin).toBe('relay-b');
    expect(await a.originOf(ROOM)).toBe('relay-b');

    // A gives its copy up and drops the room and its former id from its entries at its next beat: B's stay.
    await a.release(ROOM);
    await a.release(FORMER);
    expect([await holder(ROOM), await holder(FORMER)]).toEqual(['relay-b', 'relay-b']);
    expect(JSON.parse(await redis.command('HGET', `teahouse:room:${ROOM}`, 'meta')).origin).toBe('relay-b');
  });

  it('an entry that expired (or a Redis that lost everything) is written again, whole, by the relay that holds the room', async () => {
    const a = await relay('relay-c');
    const room = 'C'.repeat(22);
    await a.publish(new Map([[room, withMembers('relay-c', 3)]]), [], LOAD);
    await redis.command('FLUSHALL');
    // Only one member changed since the last write, yet the record taken over must hold all three.
    const changed = withMembers('relay-c', 3);
    changed.members[1]!.muted = true;
    expect(await a.publish(new Map([[room, changed]]), [], LOAD)).toEqual([]);
    expect(await holder(room)).toBe('relay-c');
    expect(await a.isAlive('relay-c')).toBe(true);
    await redis.command('DEL', 'teahouse:relay:relay-c');
    expect((await (await relay('relay-d')).orphan(room))?.record).toEqual(changed);
  });

  it('a join or a leave rewrites its member’s field only, not the room’s whole record; the record taken over is the room as it is', async () => {
    const a = await relay('relay-e');
    const room = 'E'.repeat(22);
    const before = withMembers('relay-e', 1000);
    await a.publish(new Map([[room, before]]), [], LOAD);
    const joined = withMembers('relay-e', 1001);
    const sent = await bytesInto(() => a.publish(new Map([[room, joined]]), [], LOAD));
    // One member's field (~330 bytes) and the script's frame, where the whole record is ~330 KB.
    expect(sent).toBeLessThan(3_000);
    const left = { ...joined, members: joined.members.filter((_, i) => i !== 500) };
    expect(await bytesInto(() => a.publish(new Map([[room, left]]), [], LOAD))).toBeLessThan(3_000);
    await redis.command('DEL', 'teahouse:relay:relay-e');
    expect((await (await relay('relay-f')).orphan(room))?.record).toEqual(left);
  });
});
