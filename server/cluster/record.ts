// What the room directory in Redis holds for a room: the relay's own view of it, opaque blobs and ids only.
import { z } from 'zod';
import { Announcement, Role, RoomId, SealedTitle } from '../../protocol/messages.ts';
import { type Participant, resumeHash } from '../rooms/participant.ts';
import type { Room } from '../rooms/room.ts';

const memberRecord = z.object({
  participantId: z.string().max(64),
  role: Role,
  /** Signed and sealed by the member: the relay holds it as an opaque blob, and so does Redis. */
  announcement: Announcement,
  joinedSeq: z.number().int(),
  handRaisedSeq: z.number().int().nullable(),
  muted: z.boolean(),
  /**
   * A hash of the resume token, never the token: whoever reads Redis cannot resume as a member, while a relay
   * taking the room over recognises the member's own token.
   */
  resumeHash: z.string().max(64),
});

/** Parsed when a relay takes a room over: Redis is shared, and a malformed record must not make a broken room. */
export const roomRecordSchema = z.object({
  origin: z.string().max(64),
  sealedTitle: SealedTitle,
  locked: z.boolean(),
  members: z.array(memberRecord),
  lobby: z.array(z.string().max(64)),
  /** Signing keys of kicked members: they stay out of the room on the relay that takes it over. */
  banned: z.array(z.string().max(256)),
  /** Ids before link rotations: revoked on the relay that takes the room over, as they were on its origin. */
  formerIds: z.array(RoomId),
});
/**
 * A record as its origin writes it: the room, and what an edge needs to answer a listener's join itself
 * (join-view.ts), which a relay taking the room over does not read.
 */
export type RoomRecord = z.infer<typeof roomRecordSchema> & { join?: JoinViewFields };

/**
 * The join view's fields: `view` (JSON) changes with the stage, `count` (JSON) with every join and leave, and `hash`
 * names `view`, so that an edge holding it already reads only the small ones.
 */
export interface JoinViewFields {
  view: string;
  count: string;
  hash: string;
}

type MemberRecord = z.infer<typeof memberRecord>;

/**
 * Each member's record as last made, and the token it hashed, while nothing in it changes: a room is written after
 * every change, and at 10,000 members making every member's record and hash again took about 45 ms a write here.
 * A record is never changed once made (recordFields keeps its JSON by identity).
 */
const memberRecords = new WeakMap<Participant, { record: MemberRecord; token: string }>();

function memberRecordOf(m: Participant): MemberRecord {
  const kept = memberRecords.get(m);
  const resumeHashNow = m.keptResumeHash ?? (kept && kept.token === m.resumeToken ? kept.record.resumeHash : resumeHash(m.resumeToken));
  const r = kept?.record;
  if (r && r.role === m.role && r.announcement === m.announcement && r.handRaisedSeq === m.handRaisedSeq && r.muted === m.muted && r.resumeHash === resumeHashNow) return r;
  const record: MemberRecord = {
    participantId: m.participantId,
    role: m.role,
    announcement: m.announcement,
    joinedSeq: m.joinedSeq,
    handRaisedSeq: m.handRaisedSeq,
    muted: m.muted,
    resumeHash: resumeHashNow,
  };
  memberRecords.set(m, { record, token: m.resumeToken });
  return record;
}

/** The room as its origin relay holds it, minus mediasoup objects, sockets and tokens. */
export function roomRecord(room: Room, origin: string): RoomRecord {
  return {
    origin,
    sealedTitle: room.sealedTitle,
    locked: room.locked,
    members: [...room.members.values()].map(memberRecordOf),
    lobby: [...room.lobby.keys()],
    banned: [...room.banned],
    formerIds: [...room.formerIds],
  };
}

/** A relay's load as the others see it: counts only. */
export interface RelayLoad {
  rooms: number;
  members: number;
  edgeMembers: number;
  pipes: number;
}

/** The hash fields of the room itself (everything but its members) and of its join view; each member is `m:<participantId>`. */
export const RECORD_FIELDS = { meta: 'meta', view: 'join', count: 'count', viewHash: 'jhash' } as const;
const META = RECORD_FIELDS.meta;
const MEMBER = 'm:';

/** A member record's field and value, by the record's identity: records are not changed once made (memberRecordOf). */
const memberFields = new WeakMap<object, [field: string, value: string]>();

/**
 * A record as the fields of its Redis hash: one for the room, one per member, so that a write after a join or a
 * commit sends the fields that changed rather than the whole room (~330 bytes per member).
 */
export function recordFields(record: RoomRecord): Map<string, string> {
  const { members, join, ...meta } = record;
  const fields = new Map<string, string>([[META, JSON.stringify(meta)]]);
  if (join) {
    fields.set(RECORD_FIELDS.view, join.view);
    fields.set(RECORD_FIELDS.count, join.count);
    fields.set(RECORD_FIELDS.viewHash, join.hash);
  }
  for (const m of members) {
    let field = memberFields.get(m);
    if (field === undefined) memberFields.set(m, (field = [MEMBER + m.participantId, JSON.stringify(m)]));
    fields.set(field[0], field[1]);
  }
  return fields;
}

/** What turns the hash written as `before` into `after`: the fields new or changed, and the fields gone. */
export function fieldDelta(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): { set: [string, string][]; del: string[] } {
  return {
    set: [...after].filter(([field, value]) => before.get(field) !== value),
    del: [...before.keys()].filter((field) => !after.has(field)),
  };
}

/** The record a hash holds, members in the order they joined; null when it is malformed (Redis is shared). */
export function recordFromFields(fields: Record<string, string>): RoomRecord | null {
  const meta = fields[META];
  if (meta === undefined) return null;
  try {
    const members = Object.entries(fields)
      .filter(([field]) => field.startsWith(MEMBER))
      .map(([, value]) => JSON.parse(value) as { joinedSeq: number });
    members.sort((x, y) => x.joinedSeq - y.joinedSeq);
    const parsed = roomRecordSchema.safeParse({ ...(JSON.parse(meta) as object), members });
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
