// A big room's member list: in pages no bigger than a bound far under a member's outbox, and owed, not queued, to a member away.
import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { events, LIMITS } from '../../protocol/messages.ts';
import type { RelayConfig } from '../../server/config.ts';
import type { MediaPlacement } from '../../server/media/placement.ts';
import { OUTBOX_LIMITS, Participant } from '../../server/rooms/participant.ts';
import { Room } from '../../server/rooms/room.ts';
import { RoomService } from '../../server/rooms/room-service.ts';
import type { OutboundSocket } from '../../server/signaling/session.ts';

const MEMBERS = 10_000;

/** A room of simulated members: the host on stage, the rest listeners, announcements of `announcementChars`. */
function bigRoom(announcementChars: number): { room: Room; host: Participant } {
  const room = new Room({ id: 'r', sealedTitle: 't', router: {} as types.Router, worker: {} as types.Worker, multicast: () => undefined });
  const socket: OutboundSocket = { id: 's', emit: () => undefined };
  const members = Array.from({ length: MEMBERS }, (_, i) => new Participant({ role: i === 0 ? 'host' : 'listener', announcement: 'A'.repeat(announcementChars), joinedSeq: i + 1, socket }));
  for (const m of members) room.members.set(m.participantId, m);
  room.stage.add(members[0]!);
  return { room, host: members[0]! };
}

function service(): RoomService {
  return new RoomService({} as RelayConfig, {} as MediaPlacement, () => undefined);
}

describe('room.members in a room of 10,000', () => {
  it('goes in pages that each pass the schema and stay under the outbox even with every announcement at its bound, and lists every member once', () => {
    const { room, host } = bigRoom(LIMITS.announcement);
    const sent: { event: string; payload: unknown }[] = [];
    host.socket = { id: 'h', emit: (event, payload) => sent.push({ event, payload }) };
    service().sendMembers(room, host);
    expect(sent.length).toBe(MEMBERS / LIMITS.membersPage);
    const ids = new Set<string>();
    sent.forEach(({ event, payload }, index) => {
      expect(event).toBe('room.members');
      const page = events['room.members'].parse(payload);
      expect(page.page).toEqual({ index, of: sent.length });
      expect(JSON.stringify(payload).length).toBeLessThan(OUTBOX_LIMITS.bytes / 2);
      for (const p of page.participants) ids.add(p.participantId);
    });
    expect(ids).toEqual(new Set(room.members.keys()));
    // The whole list as one message would not fit a member's outbox.
    expect(JSON.stringify([...room.members.values()].map((m) => m.snapshot())).length).toBeGreaterThan(OUTBOX_LIMITS.bytes);
  });

  it('to a stage member in its disconnect grace: owed rather than queued, so its outbox neither fills nor overflows', () => {
    // About 5 MB at a realistic announcement size, as docs/performance.md measured.
    const { room, host } = bigRoom(400);
    expect(JSON.stringify([...room.members.values()].map((m) => m.snapshot())).length).toBeGreaterThan(OUTBOX_LIMITS.bytes);
    host.socket = null;
    service().sendMembers(room, host);
    expect(host.membersOwed).toBe(true);
    expect(host.outboxOverflowed).toBe(false);
    const delivered: string[] = [];
    host.socket = { id: 'h2', emit: (event) => delivered.push(event) };
    host.flushOutbox();
    expect(delivered).toEqual([]);
  });

  it('a stage member’s join reply lists everyone only while that fits one page; beyond, the stage and itself', () => {
    const { room, host } = bigRoom(400);
    expect(room.listsEveryone(host)).toBe(false);
    expect(room.snapshot(host).participants.map((p) => p.participantId)).toEqual([host.participantId]);
    for (const id of [...room.members.keys()].slice(LIMITS.membersPage)) room.members.delete(id);
    expect(room.listsEveryone(host)).toBe(true);
    expect(room.snapshot(host).participants).toHaveLength(LIMITS.membersPage);
  });
});
