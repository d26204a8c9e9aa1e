// The room directory in Redis: which relay holds each room's origin, the room's record and each relay's load, all expiring.
import type { RedisClient } from './redis.ts';
import { parseJoinView, type JoinView } from './join-view.ts';
import { fieldDelta, RECORD_FIELDS, recordFields, recordFromFields, type RelayLoad, type RoomRecord } from './record.ts';

const PREFIX = 'teahouse:';
const originKey = (roomId: string) => `${PREFIX}origin:${roomId}`;
const roomKey = (roomId: string) => `${PREFIX}room:${roomId}`;
export const relayKey = (relayId: string): string => `${PREFIX}relay:${relayId}`;

/**
 * publish, in one step: KEYS[1] is this relay's load entry, then the origin entry of each former id, then the origin
 * and record entries of each room; ARGV: relay id, room ttl, relay ttl, load, the number of former ids, the record and
 * origin key prefixes (a former id's record, join view included, goes: only its origin entry answers for it), then per room
 * 'full' or 'delta', the number of fields set and of fields deleted, the fields and values set, the fields deleted.
 * A delta to a record that is not there (expired, or Redis lost it) is not applied: the room is returned as missing,
 * and written in full.
 */
const PUBLISH = `
local me, px = ARGV[1], ARGV[2]
local function hold(key)
  local holder = redis.call('GET', key)
  if holder and holder ~= me then return false end
  redis.call('SET', key, me, 'PX', px)
  return true
end
local function chunked(cmd, key, first, count, width)
  for j = 0, count - 1, 500 do
    local n = math.min(500, count - j)
    redis.call(cmd, key, unpack(ARGV, first + j * width, first + (j + n) * width - 1))
  end
end
local lost, missing = {}, {}
local former = tonumber(ARGV[5])
for i = 2, former + 1 do
  if not hold(KEYS[i]) then table.insert(lost, KEYS[i])
  else
    -- A former id keeps naming this relay, but its record (and join view) must not answer for it any more.
    redis.call('DEL', ARGV[6] .. string.sub(KEYS[i], #ARGV[7] + 1))
  end
end
local a = 8
for i = former + 2, #KEYS, 2 do
  local full, nset, ndel = ARGV[a] == 'full', tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  if not hold(KEYS[i]) then
    table.insert(lost, KEYS[i])
  elseif not full and redis.call('EXISTS', KEYS[i + 1]) == 0 then
    table.insert(missing, KEYS[i])
  else
    if full then redis.call('DEL', KEYS[i + 1]) end
    chunked('HSET', KEYS[i + 1], a, nset, 2)
    chunked('HDEL', KEYS[i + 1], a + 2 * nset, ndel, 1)
    redis.call('PEXPIRE', KEYS[i + 1], px)
  end
  a = a + 2 * nset + ndel
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
return {lost, missing}
`;

/**
 * A room's origin, whether it lives, and its join view's fields, in one round trip for an edge answering a join: the
 * stage field (a few KB) only when its hash is not the one the edge holds (ARGV[6]).
 */
const JOIN_VIEW = `
local origin = redis.call('GET', KEYS[1])
if not origin then return false end
local alive = redis.call('EXISTS', ARGV[1] .. origin)
local f = redis.call('HMGET', KEYS[2], ARGV[2], ARGV[3], ARGV[4])
local view = ''
if f[3] and f[3] ~= ARGV[6] then view = redis.call('HGET', KEYS[2], ARGV[5]) or '' end
return {origin, alive, f[1] or '', f[2] or '', f[3] or '', view}
`;

/** Stage fields this relay read lately, by room: most joins of a room find the stage unchanged since the last. */
const VIEWS_KEPT = 1_000;

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
  /** Join views' stage fields as read (joinView), by room, with the hash they were written under. */
  private readonly views = new Map<string, { hash: string; view: string }>();
  /** Each room's record as this relay last wrote it, field by field: the next write sends only what changed. */
  private readonly written = new Map<string, Map<string, string>>();

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
    const [holder, fields] = await Promise.all([this.redis.get(originKey(roomId)), this.redis.hGetAll(roomKey(roomId))]);
    if (holder === null || holder === this.relayId || (await this.isAlive(holder))) return null;
    const record = recordFromFields(fields);
    return record ? { deadRelay: holder, record } : null;
  }

  /**
   * Makes this relay the room's origin if the entry still names the dead relay and that relay's own entry is still
   * missing, in one step: of the relays that noticed the death at once, exactly one takes the room, and the others
   * find it there; a relay that beat again meanwhile keeps its room.
   */
  async takeOver(roomId: string, deadRelay: string): Promise<boolean> {
    const swapped = await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end", {
      keys: [originKey(roomId), relayKey(deadRelay)],
      arguments: [deadRelay, this.relayId, String(this.roomTtlMs)],
    });
    return swapped === 'OK';
  }

  /** The live relay holding a room; null when none does (never was, closed, or its relay died). */
  async originOf(roomId: string): Promise<string | null> {
    const origin = await this.redis.get(originKey(roomId));
    return origin !== null && (origin === this.relayId || (await this.isAlive(origin))) ? origin : null;
  }

  /**
   * The room as its live origin last wrote it for an edge to answer a join (join-view.ts); null when there is no live
   * origin or no view (the request then goes the way it always did: to the origin, or to take the room over).
   */
  async joinView(roomId: string): Promise<JoinView | null> {
    const kept = this.views.get(roomId);
    const found = (await this.redis.eval(JOIN_VIEW, {
      keys: [originKey(roomId), roomKey(roomId)],
      arguments: [relayKey(''), RECORD_FIELDS.meta, RECORD_FIELDS.count, RECORD_FIELDS.viewHash, RECORD_FIELDS.view, kept?.hash ?? ''],
    })) as [string, number, string, string, string, string] | null;
    if (!found || found[1] !== 1) return null;
    const [origin, , meta, count, hash, fresh] = found;
    let view = kept && kept.hash === hash ? kept.view : fresh;
    if (fresh && hash) {
      if (this.views.size >= VIEWS_KEPT) this.views.delete(this.views.keys().next().value!);
      this.views.set(roomId, { hash, view: fresh });
      view = fresh;
    }
    return parseJoinView(roomId, origin, { meta: meta || null, view: view || null, count: count || null });
  }

  /**
   * Drops a room this relay held (closed, given up, or its creation failed); never another relay's entry. Checked and
   * deleted in one step: a relay taking the room over in between (this one stalled) keeps its entries.
   */
  async release(roomId: string): Promise<void> {
    this.written.delete(roomId);
    await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end", { keys: [originKey(roomId), roomKey(roomId)], arguments: [this.relayId] });
  }

  /**
   * Refreshes this relay's rooms and load in one round trip. `formerIds` (ids a room had before a link rotation)
   * keep naming this relay, so that the old link is refused here as revoked and a member holding it resumes here.
   * An entry is written only while it names this relay or nobody: a relay wrongly taken for dead (a long pause) finds
   * its rooms taken over and leaves them to their new origin, rather than taking them back so that two relays hold
   * one room. Returns the room ids it no longer holds.
   */
  async publish(rooms: Map<string, RoomRecord>, formerIds: string[], load: RelayLoad): Promise<string[]> {
    const fields = new Map([...rooms].map(([roomId, record]) => [roomId, recordFields(record)]));
    const { lost, missing } = await this.write(fields, formerIds, load);
    // Expired or lost by Redis while this relay held the room: written whole, at once.
    if (missing.length > 0) {
      for (const roomId of missing) this.written.delete(roomId);
      lost.push(...(await this.write(new Map(missing.map((roomId) => [roomId, fields.get(roomId)!])), [], load)).lost);
    }
    return lost;
  }

  private async write(rooms: Map<string, Map<string, string>>, formerIds: string[], load: RelayLoad): Promise<{ lost: string[]; missing: string[] }> {
    const records = [...rooms];
    const args = records.flatMap(([roomId, after]) => {
      const before = this.written.get(roomId);
      const { set, del } = fieldDelta(before ?? new Map(), after);
      return [before ? 'delta' : 'full', String(set.length), String(del.length), ...set.flat(), ...del];
    });
    const [lost, missing] = (await this.redis.eval(PUBLISH, {
      keys: [relayKey(this.relayId), ...formerIds.map(originKey), ...records.flatMap(([roomId]) => [originKey(roomId), roomKey(roomId)])],
      arguments: [this.relayId, String(this.roomTtlMs), String(this.ttlMs), JSON.stringify(load), String(formerIds.length), roomKey(''), originKey(''), ...args],
    })) as [string[], string[]];
    const roomIdOf = (key: string) => key.slice(originKey('').length);
    const skipped = new Set([...lost, ...missing].map(roomIdOf));
    for (const [roomId, after] of records) {
      if (skipped.has(roomId)) this.written.delete(roomId);
      else this.written.set(roomId, after);
    }
    return { lost: lost.map(roomIdOf), missing: missing.map(roomIdOf) };
  }

  async isAlive(relayId: string): Promise<boolean> {
    return (await this.redis.exists(relayKey(relayId))) === 1;
  }

  async leave(): Promise<void> {
    await this.redis.del(relayKey(this.relayId));
  }
}
