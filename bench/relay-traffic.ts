// Relay-to-relay traffic against the cluster's size: Redis bytes (in and out) per join and per commit of one room over R relays.
import { startClusterRelay } from '../test/helpers/cluster.ts';
import { startRedis, type TestRedis } from '../test/helpers/redis.ts';
import { announce, connect, fakePackage, newRoom, sealedTitle, type TestClient } from '../test/helpers/relay.ts';
import type { Relay } from '../server/index.ts';

export interface TrafficRow {
  relays: number;
  members: number;
  /** Redis bytes in plus out, per join through an edge and per commit to every member. */
  bytesPerJoin: number;
  bytesPerCommit: number;
}

/** Everything Redis received and sent so far: the relays' traffic, measured where it crosses, whatever the code. */
export async function redisBytes(redis: TestRedis): Promise<number> {
  const info = await redis.command('INFO', 'stats');
  const read = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1] ?? 0);
  return read('total_net_input_bytes') + read('total_net_output_bytes');
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 1_500));

/**
 * One room held by the first relay with its host there; `members` listeners join through the other relays (with one
 * relay, through it). Beats and directory writes go on meanwhile, as in production: short runs keep them small.
 */
async function measure(relayCount: number, members: number): Promise<TrafficRow> {
  const redis = await startRedis();
  const relays: Relay[] = [];
  const clients: TestClient[] = [];
  try {
    for (let i = 0; i < relayCount; i++) relays.push(await startClusterRelay(redis.url, { clusterHeartbeatMs: 60_000 }));
    const room = await newRoom();
    const host = await connect(relays[0]!);
    clients.push(host);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Traffic') });
    const ids: string[] = [];
    await settle();
    const beforeJoins = await redisBytes(redis);
    for (let i = 0; i < members; i++) {
      const edge = relays[relayCount === 1 ? 0 : 1 + (i % (relayCount - 1))]!;
      const c = await connect(edge);
      clients.push(c);
      const joined = await c.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `L${i}`) });
      ids.push(joined.participantId);
    }
    await settle();
    const afterJoins = await redisBytes(redis);
    const commits = 5;
    for (let epoch = 1; epoch <= commits; epoch++) {
      const arrived = clients.slice(1).map((c) => c.next('key.commit'));
      await host.req('key.commit', { commit: 'Y29tbWl0', epoch, packages: ids.map((to, i) => ({ to, package: fakePackage(`p${i}`) })) });
      await Promise.all(arrived);
    }
    await settle();
    const afterCommits = await redisBytes(redis);
    return { relays: relayCount, members, bytesPerJoin: Math.round((afterJoins - beforeJoins) / members), bytesPerCommit: Math.round((afterCommits - afterJoins) / commits) };
  } finally {
    for (const c of clients) c.close();
    await Promise.allSettled(relays.map((r) => r.close()));
    await redis.stop();
  }
}

export async function runRelayTraffic(members = 60): Promise<TrafficRow[]> {
  const rows: TrafficRow[] = [];
  for (const relays of [1, 2, 3, 4]) rows.push(await measure(relays, members));
  return rows;
}
