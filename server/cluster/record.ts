// What the room directory in Redis holds for a room: the relay's own view of it, opaque blobs and ids only.
import { createHash } from 'node:crypto';
import type { Room } from '../rooms/room.ts';

export interface MemberRecord {
  participantId: string;
  role: string;
  /** Signed and sealed by the member: the relay holds it as an opaque blob, and so does Redis. */
  announcement: string;
  joinedSeq: number;
  handRaisedSeq: number | null;
  muted: boolean;
  /**
   * A hash of the resume token, never the token: whoever reads Redis cannot resume as a member, while a relay
   * taking the room over could still recognise the member's own token.
   */
  resumeHash: string;
}

export interface RoomRecord {
  origin: string;
  sealedTitle: string;
  locked: boolean;
  members: MemberRecord[];
  lobby: string[];
}

export const resumeHash = (token: string): string => createHash('sha256').update(token).digest('base64url');

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
      resumeHash: resumeHash(m.resumeToken),
    })),
    lobby: [...room.lobby.keys()],
  };
}

/** A relay's load as the others see it: counts only. */
export interface RelayLoad {
  rooms: number;
  members: number;
  edgeMembers: number;
  pipes: number;
}
