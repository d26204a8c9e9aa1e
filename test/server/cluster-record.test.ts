// A room's record as Redis hash fields: what changed is all a write sends, and a malformed hash is no record.
import { describe, expect, it } from 'vitest';
import { fieldDelta, recordFields, recordFromFields, roomRecord, type RoomRecord } from '../../server/cluster/record.ts';
import { Participant, resumeHash } from '../../server/rooms/participant.ts';
import type { Room } from '../../server/rooms/room.ts';

const member = (i: number, muted = false) => ({ participantId: `p${i}`, role: 'listener' as const, announcement: 'YW5u', joinedSeq: i, handRaisedSeq: null, muted, resumeHash: 'aGFzaA' });
const room = (members: ReturnType<typeof member>[]): RoomRecord => ({ origin: 'r1', sealedTitle: 'dGl0bGU', locked: false, members, lobby: [], banned: [], formerIds: [] });

describe('room record fields', () => {
  it('a delta sets the changed and new fields and deletes the gone ones, nothing else', () => {
    const before = recordFields(room([member(1), member(2), member(3)]));
    const after = recordFields(room([member(1), member(3, true), member(4)]));
    const { set, del } = fieldDelta(before, after);
    expect(set.map(([field]) => field).sort()).toEqual(['m:p3', 'm:p4']);
    expect(del).toEqual(['m:p2']);
    expect(fieldDelta(after, after)).toEqual({ set: [], del: [] });
  });

  it('reads back the record with members in join order, whatever order Redis returns the fields in', () => {
    const record = room([member(1), member(2), member(3)]);
    const fields = Object.fromEntries([...recordFields(record)].reverse());
    expect(recordFromFields(fields)).toEqual(record);
  });

  it('a hash without its room field, with a field that is not JSON, or with a member the schema refuses is no record', () => {
    const fields = Object.fromEntries(recordFields(room([member(1)])));
    expect(recordFromFields({ 'm:p1': fields['m:p1']! })).toBeNull();
    expect(recordFromFields({ ...fields, 'm:p2': '{' })).toBeNull();
    expect(recordFromFields({ ...fields, 'm:p2': JSON.stringify({ ...member(2), role: 'owner' }) })).toBeNull();
  });

  it('a member’s field, kept from the last write while nothing in it changed, follows every change of the member', () => {
    const p = new Participant({ role: 'listener', announcement: 'YW5u', joinedSeq: 1, socket: null });
    const other = new Participant({ role: 'host', announcement: 'aG9zdA', joinedSeq: 2, socket: null });
    const live = { sealedTitle: 'dGl0bGU', locked: false, members: new Map([p, other].map((m) => [m.participantId, m])), lobby: new Map(), banned: new Set(), formerIds: new Set() } as unknown as Room;
    const field = () => JSON.parse(recordFields(roomRecord(live, 'r1')).get(`m:${p.participantId}`)!) as Record<string, unknown>;
    let before = recordFields(roomRecord(live, 'r1'));
    const changes: [string, () => void, Record<string, unknown>][] = [
      ['muted', () => (p.muted = true), { muted: true }],
      ['role', () => (p.role = 'speaker'), { role: 'speaker' }],
      ['hand', () => (p.handRaisedSeq = 7), { handRaisedSeq: 7 }],
      ['announcement', () => (p.announcement = 'YW5uMg'), { announcement: 'YW5uMg' }],
      ['token', () => (p.resumeToken = 'another-token'), { resumeHash: resumeHash('another-token') }],
      ['kept hash', () => (p.keptResumeHash = 'a2VwdA'), { resumeHash: 'a2VwdA' }],
    ];
    for (const [what, change, expected] of changes) {
      change();
      const after = recordFields(roomRecord(live, 'r1'));
      expect(
        fieldDelta(before, after).set.map(([f]) => f),
        what,
      ).toEqual([`m:${p.participantId}`]);
      expect(field(), what).toMatchObject(expected);
      before = after;
    }
    expect(fieldDelta(before, recordFields(roomRecord(live, 'r1')))).toEqual({ set: [], del: [] });
  });
});
