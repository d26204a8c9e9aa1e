// The room directory in Redis: which relay holds each room's origin, the room's record and each relay's load, all expiring.
import type { RedisClient } from './redis.ts';
import type { RelayLoad, RoomRecord } from './record.ts';

const PREFIX = 'teahouse:';
const originKey = (roomId: string) => `${PREFIX}origin:${roomId}`;
const roomKey = (roomId: string) => `${PREFIX}room:${roomId}`;
const relayKey = (relayId: string) => `${PREFIX}relay:${relayId}`;

/**
 * Every entry expires after `ttlMs` unless its relay refreshes it (every heartbeat): a relay that dies leaves
 * nothing behind for longer than that.
 */
export class RoomDirectory {
  private readonly redis: RedisClient;
  private readonly relayId: string;
  private readonly ttlMs: number;

  constructor(redis: RedisClient, relayId: string, ttlMs: number) {
    this.redis = redis;
    this.relayId = relayId;
    this.ttlMs = ttlMs;
  }

  /** Takes a room id for this relay; false when a live relay already holds a room with that id. */
  async claim(roomId: string): Promise<boolean> {
    return (await this.redis.set(originKey(roomId), this.relayId, { condition: 'NX', expiration: { type: 'PX', value: this.ttlMs } })) === 'OK';
  }

  async originOf(roomId: string): Promise<string | null> {
    return this.redis.get(originKey(roomId));
  }

  /** Drops a room this relay held (closed, or its creation failed); never another relay's entry. */
  async release(roomId: string): Promise<void> {
    if ((await this.originOf(roomId)) !== this.relayId) return;
    await this.redis.del([originKey(roomId), roomKey(roomId)]);
  }

  /** Refreshes this relay's rooms and load in one round trip. */
  async publish(rooms: Map<string, RoomRecord>, load: RelayLoad): Promise<void> {
    const multi = this.redis.multi();
    for (const [roomId, record] of rooms) {
      multi.set(originKey(roomId), this.relayId, { expiration: { type: 'PX', value: this.ttlMs } });
      multi.set(roomKey(roomId), JSON.stringify(record), { expiration: { type: 'PX', value: this.ttlMs } });
    }
    multi.set(relayKey(this.relayId), JSON.stringify(load), { expiration: { type: 'PX', value: this.ttlMs } });
    await multi.exec();
  }

  async isAlive(relayId: string): Promise<boolean> {
    return (await this.redis.exists(relayKey(relayId))) === 1;
  }

  async leave(): Promise<void> {
    await this.redis.del(relayKey(this.relayId));
  }
}
