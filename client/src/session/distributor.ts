// Who distributes keys: the host; when the host is gone, the longest-present moderator, then the longest-present speaker.
import type { Role } from '../../../protocol/messages.ts';

export interface Candidate {
  participantId: string;
  role: Role;
  joinedSeq: number;
  verified: boolean;
}

const RANK: Record<Role, number> = { host: 0, moderator: 1, speaker: 2, listener: 3 };

/**
 * The members who may distribute, in hand-over order. Every member computes this from the same relay snapshot, so
 * all agree while the relay tells everyone the same thing. Only verified members (announcement MAC'd with the link)
 * are listed, so the relay cannot appoint itself; listeners never distribute.
 */
export function handOverOrder(members: Iterable<Candidate>): string[] {
  return [...members]
    .filter((m) => m.verified && m.role !== 'listener')
    .sort((a, b) => RANK[a.role] - RANK[b.role] || a.joinedSeq - b.joinedSeq)
    .map((m) => m.participantId);
}

export function chooseDistributor(members: Iterable<Candidate>): string | null {
  return handOverOrder(members)[0] ?? null;
}
