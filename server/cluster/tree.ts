// A room's media tree in the directory: which relay each edge takes the room's media from, so that a relay feeds at most PIPE_CHILDREN others.
import { relayKey } from './directory.ts';
import { chooseParent } from './parent.ts';
import type { RedisClient } from './redis.ts';

export const treeKey = (roomId: string): string => `teahouse:tree:${roomId}`;

/**
 * Takes a place under ARGV[2] for relay ARGV[1] if it has fewer than ARGV[3] live children, in one step: two edges
 * choosing at once cannot both take a parent's last place. ARGV[4]: the key's lifetime; ARGV[5]: '1' to take it
 * whatever the count (the origin, when nothing in reach has room).
 */
const RESERVE = `
local me, parent, bound, px, force = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if force ~= '1' then
  local entries, n = redis.call('HGETALL', KEYS[1]), 0
  for i = 1, #entries, 2 do
    if entries[i] ~= me and entries[i + 1] == parent and redis.call('EXISTS', KEYS[2] .. entries[i]) == 1 then n = n + 1 end
  end
  if n >= bound then return 0 end
end
redis.call('HSET', KEYS[1], me, parent)
redis.call('PEXPIRE', KEYS[1], px)
return 1
`;

/** Tries before an edge takes the origin over the bound: each lost race re-reads the tree. */
const TRIES = 3;

/**
 * Every relay that carries a room's media as an edge has a field in `teahouse:tree:<roomId>` naming its parent;
 * the origin is the root and has none. Children are counted from these fields, and a relay's subtree found by
 * following them, so nothing kept there can go stale apart from the entries themselves, which their relays rewrite
 * at each beat (a Redis restart loses them for one beat) and remove when they stop carrying the room; a dead relay's
 * entry is skipped by liveness and expires with the room's other entries.
 */
export class MediaTree {
  private readonly redis: RedisClient;
  private readonly relayId: string;
  private readonly bound: number;
  private readonly ttlMs: number;

  constructor(redis: RedisClient, relayId: string, bound: number, ttlMs: number) {
    this.redis = redis;
    this.relayId = relayId;
    this.bound = bound;
    this.ttlMs = ttlMs;
  }

  /** Chooses this relay's parent for a room held by `origin` and takes the place; `avoid` are relays that just let it go. */
  async attach(roomId: string, origin: string, avoid: ReadonlySet<string> = new Set()): Promise<string> {
    for (let i = 0; i < TRIES; i++) {
      const parents = new Map(Object.entries(await this.redis.hGetAll(treeKey(roomId))));
      const relays = [...new Set([...parents.keys(), ...parents.values()])];
      const live = await Promise.all(relays.map((r) => this.redis.exists(relayKey(r))));
      const alive = new Set(relays.filter((_, j) => live[j] === 1));
      const parent = chooseParent({ origin, me: this.relayId, bound: this.bound, parents, alive, avoid });
      if (await this.reserve(roomId, parent, false)) return parent;
    }
    await this.reserve(roomId, origin, true);
    return origin;
  }

  private async reserve(roomId: string, parent: string, force: boolean): Promise<boolean> {
    const taken = await this.redis.eval(RESERVE, {
      keys: [treeKey(roomId), relayKey('')],
      arguments: [this.relayId, parent, String(this.bound), String(this.ttlMs), force ? '1' : '0'],
    });
    return taken === 1;
  }

  /** This relay no longer carries the room: its place goes, and its children choose again. */
  async detach(roomId: string): Promise<void> {
    await this.redis.hDel(treeKey(roomId), this.relayId);
  }

  /** The beat: this relay's places written again (Redis may have restarted) and kept from expiring. */
  async refresh(places: [roomId: string, parent: string][]): Promise<void> {
    if (places.length === 0) return;
    const multi = this.redis.multi();
    for (const [roomId, parent] of places) multi.hSet(treeKey(roomId), this.relayId, parent).pExpire(treeKey(roomId), this.ttlMs);
    await multi.exec();
  }
}
