// The members the relay lists, each with what this member verified of them: lookups by participant and identity key.
import type { ParticipantSnapshot } from '../../../../protocol/messages.ts';
import type { VerifiedMember } from '../membership.ts';

export interface Member {
  snapshot: ParticipantSnapshot;
  verified: VerifiedMember | null;
  speaking: boolean;
  /** Verified under a link since rotated away: named still, but neither keyed nor believed until it re-announces. */
  stale?: boolean;
}

export class Roster {
  readonly members = new Map<string, Member>();
  /** This member's participant id, once the relay gave one (in the room or the lobby). */
  me: string | null = null;

  /** memberKeyIds of the verified members the relay lists as present, and `self` (this member's key). */
  present(self: string): Set<string> {
    const ids = new Set<string>();
    for (const m of this.members.values()) if (m.verified) ids.add(m.verified.memberKeyId);
    ids.add(self);
    return ids;
  }

  byKey(memberKeyId: string): Member | undefined {
    for (const m of this.members.values()) if (m.verified?.memberKeyId === memberKeyId) return m;
    return undefined;
  }

  verifiedMembers(): VerifiedMember[] {
    return [...this.members.values()].flatMap((m) => (m.verified && !m.stale ? [m.verified] : []));
  }

  /** A member's signing key, if its announcement verified under the current link. */
  trustedSignKey(memberKeyId: string): Uint8Array | null {
    const m = this.byKey(memberKeyId);
    return m && !m.stale ? (m.verified?.signPublicKey ?? null) : null;
  }

  /** One pass over the members, not one per package: a fresh epoch in a room of 10,000 has 10,000 packages. */
  participantsByKey(): Map<string, string> {
    const participantOf = new Map<string, string>();
    for (const m of this.members.values()) if (m.verified && !participantOf.has(m.verified.memberKeyId)) participantOf.set(m.verified.memberKeyId, m.snapshot.participantId);
    return participantOf;
  }
}
