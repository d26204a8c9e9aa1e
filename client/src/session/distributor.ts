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
 * Every member computes this from the same relay snapshot, so all agree while the relay tells everyone the same
 * thing. Only verified members (announcement MAC'd with the link) can be chosen, so the relay cannot appoint itself.
 */
export function chooseDistributor(members: Iterable<Candidate>): string | null {
  let best: Candidate | null = null;
  for (const m of members) {
    if (!m.verified || m.role === 'listener') continue;
    if (!best || RANK[m.role] < RANK[best.role] || (RANK[m.role] === RANK[best.role] && m.joinedSeq < best.joinedSeq)) best = m;
  }
  return best?.participantId ?? null;
}
