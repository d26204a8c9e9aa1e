// This relay's rooms in the cluster's directory: each room's record written within a round trip of a change, and all at each beat.
import type { Logger } from 'pino';
import type { RoomService } from '../rooms/room-service.ts';
import type { RoomDirectory } from './directory.ts';
import { joinViewFields } from './join-view.ts';
import { roomRecord, type RoomRecord } from './record.ts';
import type { Room } from '../rooms/room.ts';

export class RecordWriter {
  /** Rooms (and former ids of rotated rooms) this relay has entries for: those gone are released at the next beat. */
  private readonly published = new Set<string>();
  private readonly dirty = new Set<string>();
  private closing = false;
  private flushing: Promise<void> | null = null;

  private readonly directory: RoomDirectory;
  private readonly service: RoomService;
  private readonly relayId: string;
  private readonly log: Logger;
  /** This relay's edge members and pipes, published beside its rooms. */
  private readonly load: () => { edgeMembers: number; pipes: number };
  /** A room (or a former id of one) another relay holds now: this relay's copy must go. */
  private readonly lost: (roomId: string) => void;

  constructor(directory: RoomDirectory, service: RoomService, relayId: string, log: Logger, load: () => { edgeMembers: number; pipes: number }, lost: (roomId: string) => void) {
    this.directory = directory;
    this.service = service;
    this.relayId = relayId;
    this.log = log;
    this.load = load;
    this.lost = lost;
  }

  /** A room changed: its record in the directory follows within a round trip. */
  touched(roomId: string): void {
    // A stopping relay's rooms close under it: their records stay as last written, for the relays taking them over.
    if (this.closing) return;
    this.dirty.add(roomId);
    this.scheduleFlush();
  }

  /**
   * One write at a time; a room that changed while one was under way is written right after it, not at the next
   * beat (a member who joined just before the relay died would otherwise be missing from the record taken over).
   */
  private scheduleFlush(): void {
    this.flushing ??= Promise.resolve()
      .then(() => this.flush())
      .catch((error: Error) => this.log.warn({ err: error.name }, 'directory write failed; the next beat writes again'))
      .finally(() => {
        this.flushing = null;
        if (this.dirty.size > 0 && !this.closing) this.scheduleFlush();
      });
  }

  private async flush(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    const records = new Map<string, RoomRecord>();
    const former: string[] = [];
    for (const id of ids) {
      const room = this.service.rooms.get(id);
      if (!room) continue;
      records.set(id, this.recordOf(room));
      former.push(...room.formerIds);
    }
    await this.sync(
      records,
      former,
      ids.filter((id) => !records.has(id) && !former.includes(id)),
    );
  }

  private async sync(records: Map<string, RoomRecord>, former: string[], gone: string[]): Promise<void> {
    for (const id of [...records.keys(), ...former]) this.published.add(id);
    const lost = await this.directory.publish(records, former, {
      rooms: this.service.rooms.size,
      members: [...this.service.rooms.values()].reduce((n, r) => n + r.members.size, 0),
      ...this.load(),
    });
    // Taken for dead and taken over meanwhile: the directory keeps naming the new origin, where newcomers go, and
    // the copy here goes, or two relays would hold the room for good, each with some of its members.
    if (lost.length > 0) this.log.warn({ rooms: lost.length }, 'rooms taken over by another relay while this one was thought dead: given up');
    for (const id of lost) this.lost(id);
    for (const id of gone) {
      this.published.delete(id);
      await this.directory.release(id);
    }
  }

  /** The room and its join view, with which an edge answers a listener's join without this relay (edge-joins.ts). */
  private recordOf(room: Room): RoomRecord {
    return { ...roomRecord(room, this.relayId), join: joinViewFields(room, this.service.config.keyBatchMs) };
  }

  private allRecords(): { records: Map<string, RoomRecord>; former: string[] } {
    const records = new Map<string, RoomRecord>();
    const former: string[] = [];
    for (const [id, room] of this.service.rooms) {
      records.set(id, this.recordOf(room));
      former.push(...room.formerIds);
    }
    return { records, former };
  }

  /** The beat: every entry of this relay refreshed, and those of closed or rotated rooms dropped. */
  async beat(): Promise<void> {
    const { records, former } = this.allRecords();
    await this.sync(
      records,
      former,
      [...this.published].filter((id) => !records.has(id) && !former.includes(id)),
    );
  }

  /** Stopping: no more writes after the one under way but a last one of every room, kept for the relays taking them over. */
  async close(): Promise<void> {
    this.closing = true;
    await this.flushing;
    const { records, former } = this.allRecords();
    await this.sync(records, former, []).catch((error: Error) => this.log.warn({ err: error.name }, 'last directory write failed'));
  }
}
