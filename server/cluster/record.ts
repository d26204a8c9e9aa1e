// What the room directory in Redis holds for a room: the relay's own view of it, opaque blobs and ids only.
import { z } from 'zod';
import { Announcement, Role, RoomId, SealedTitle } from '../../protocol/messages.ts';
import { resumeHash } from '../rooms/participant.ts';
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
export type RoomRecord = z.infer<typeof roomRecordSchema>;

/** The room as its origin relay holds it, minus mediasoup objects, sockets and tokens. */
export function roomRecord(room: Room, origin: string): RoomRecord {
  return {
    origin,
    sealedTitle: room.sealedTitle,
    locked: room.locked,
    members: [...room.members.values()].map((m) => ({
      participantId: m.participantId,
      role: m.role,
      announcement: m.announcement,
      joinedSeq: m.joinedSeq,
      handRaisedSeq: m.handRaisedSeq,
      muted: m.muted,
      resumeHash: m.keptResumeHash ?? resumeHash(m.resumeToken),
    })),
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
