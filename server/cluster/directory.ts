// The room directory in Redis: which relay holds each room's origin, the room's record and each relay's load, all expiring.
import type { RedisClient } from './redis.ts';
import { roomRecordSchema, type RelayLoad, type RoomRecord } from './record.ts';

const PREFIX = 'teahouse:';
const originKey = (roomId: string) => `${PREFIX}origin:${roomId}`;
const roomKey = (roomId: string) => `${PREFIX}room:${roomId}`;
const relayKey = (relayId: string) => `${PREFIX}relay:${relayId}`;

/**
 * publish, in one step: KEYS[1] is this relay's load entry, then the origin entry of each former id, then the origin
 * and record entries of each room; ARGV: relay id, room ttl, relay ttl, load, the number of former ids, the records.
 */
const PUBLISH = `
local me, px = ARGV[1], ARGV[2]
local function hold(key)
  local holder = redis.call('GET', key)
  if holder and holder ~= me then return false end
  redis.call('SET', key, me, 'PX', px)
  return true
end
local lost = {}
local former = tonumber(ARGV[5])
for i = 2, former + 1 do
  if not hold(KEYS[i]) then table.insert(lost, KEYS[i]) end
end
local record = 6
for i = former + 2, #KEYS, 2 do
  if hold(KEYS[i]) then redis.call('SET', KEYS[i + 1], ARGV[record], 'PX', px) else table.insert(lost, KEYS[i]) end
  record = record + 1
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
return lost
`;

/** A room whose origin relay died, as the relay that takes it over gets it. */
export interface Orphan {
  deadRelay: string;
  record: RoomRecord;
}

/**
 * Every entry expires unless its relay refreshes it (every heartbeat): a relay's own entry after `ttlMs`, its rooms'
 * entries after `roomTtlMs`, which also covers the members' disconnect grace, so that another relay can still take
 * a room over from the record while its members come back.
 */
export class RoomDirectory {
  private readonly redis: RedisClient;
  private readonly relayId: string;
  private readonly ttlMs: number;
  private readonly roomTtlMs: number;

  constructor(redis: RedisClient, relayId: string, ttlMs: number, roomTtlMs: number) {
    this.redis = redis;
    this.relayId = relayId;
    this.ttlMs = ttlMs;
    this.roomTtlMs = Math.max(ttlMs, roomTtlMs);
  }

  /**
   * Takes a room id for this relay; false when a live relay already holds a room with that id. A room whose relay
   * died may be taken at once (its pages rebuild it here), before its entry expires.
   */
  async claim(roomId: string): Promise<boolean> {
    const px = { type: 'PX' as const, value: this.roomTtlMs };
    if ((await this.redis.set(originKey(roomId), this.relayId, { condition: 'NX', expiration: px })) === 'OK') return true;
    const holder = await this.redis.get(originKey(roomId));
    if (holder === null || holder === this.relayId || (await this.isAlive(holder))) return false;
    // Replaced only if it still names the dead relay: of two relays racing for it, one wins.
    return this.takeOver(roomId, holder);
  }

  /** A room whose origin relay is dead but whose record is still here: one that can be taken over. */
  async orphan(roomId: string): Promise<Orphan | null> {
    const [holder, raw] = await Promise.all([this.redis.get(originKey(roomId)), this.redis.get(roomKey(roomId))]);
    if (holder === null || raw === null || holder === this.relayId || (await this.isAlive(holder))) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return null;
    }
    const record = roomRecordSchema.safeParse(parsed);
    return record.success ? { deadRelay: holder, record: record.data } : null;
  }

  /**
   * Makes this relay the room's origin if the entry still names the dead relay, in one step: of the relays that
   * noticed the death at once, exactly one takes the room, and the others find it there.
   */
  async takeOver(roomId: string, deadRelay: string): Promise<boolean> {
    const swapped = await this.redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end",
      { keys: [originKey(roomId)], arguments: [deadRelay, this.relayId, String(this.roomTtlMs)] },
    );
    return swapped === 'OK';
  }

  /** The live relay holding a room; null when none does (never was, closed, or its relay died). */
  async originOf(roomId: string): Promise<string | null> {
    const origin = await this.redis.get(originKey(roomId));
    return origin !== null && (origin === this.relayId || (await this.isAlive(origin))) ? origin : null;
  }

  /** Drops a room this relay held (closed, or its creation failed); never another relay's entry. */
  async release(roomId: string): Promise<void> {
    if ((await this.originOf(roomId)) !== this.relayId) return;
    await this.redis.del([originKey(roomId), roomKey(roomId)]);
  }

  /**
   * Refreshes this relay's rooms and load in one round trip. `formerIds` (ids a room had before a link rotation)
   * keep naming this relay, so that the old link is refused here as revoked and a member holding it resumes here.
   * An entry is written only while it names this relay or nobody: a relay wrongly taken for dead (a long pause) finds
   * its rooms taken over and leaves them to their new origin, rather than taking them back so that two relays hold
   * one room. Returns the room ids it no longer holds.
   */
  async publish(rooms: Map<string, RoomRecord>, formerIds: string[], load: RelayLoad): Promise<string[]> {
    const records = [...rooms];
    const lost = (await this.redis.eval(PUBLISH, {
      keys: [relayKey(this.relayId), ...formerIds.map(originKey), ...records.flatMap(([roomId]) => [originKey(roomId), roomKey(roomId)])],
      arguments: [this.relayId, String(this.roomTtlMs), String(this.ttlMs), JSON.stringify(load), String(formerIds.length), ...records.map(([, record]) => JSON.stringify(record))],
    })) as string[];
    return lost.map((key) => key.slice(originKey('').length));
  }

  async isAlive(relayId: string): Promise<boolean> {
    return (await this.redis.exists(relayKey(relayId))) === 1;
  }

  async leave(): Promise<void> {
    await this.redis.del(relayKey(this.relayId));
  }
}
