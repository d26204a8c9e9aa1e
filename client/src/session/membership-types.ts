// What the membership's parts share: the verified member, the epoch as one member holds it, the bounds and the hand-over order.
import { openMetadata, type CommitKind, type RoomKeys, type RosterEntry, type RosterRole } from '../../../crypto/index.ts';

export interface VerifiedMember {
  participantId: string;
  memberKeyId: string;
  boxPublicKey: Uint8Array;
  signPublicKey: Uint8Array;
  name: string;
  /** A stage member's X-Wing key, which every member encapsulates to; null for whoever published none. */
  kemPublicKey: Uint8Array | null;
}

export interface EpochState {
  epoch: number;
  kind: CommitKind;
  secret: Uint8Array;
  /** Transcript hash of the commit that made this epoch. */
  hash: Uint8Array;
  distributor: string;
  locked: boolean;
  /** Host, moderators and speakers with their sender indexes, as the distributor signed them. */
  stage: RosterEntry[];
  memberCount: number;
  /** Every member holding the epoch's keys: known to the distributor that made the epoch, null to everyone else. */
  members: string[] | null;
  /** The kicked members the commit names, oldest first: the room's removals as its distributor carries them on. */
  removed: string[];
  /** This member's sender index in the epoch, or null when it is not on stage. */
  myIndex: number | null;
  /** Read aloud beside the fingerprint: equal for members who share this epoch's keys. */
  code: string;
  /** Read aloud after a hand-over: names the distributor whose lineage this member follows. */
  lineage: string;
}

export interface IssuedCommit extends EpochState {
  /** The signed header, for everyone. */
  blob: string;
  /** One package per recipient, by memberKeyId: the relay hands each member only its own. */
  packages: { memberKeyId: string; package: string }[];
  /** Members left out because their key cannot be used; the page tells the host. */
  skipped: string[];
}

export interface AcceptedCommit extends EpochState {
  newRoomSecret: Uint8Array | null;
}

/** What a verified stage decision asks the distributor to do. */
export type DecisionEffect =
  | { kind: 'invite'; target: string }
  | { kind: 'role'; target: string; role: RosterRole }
  | { kind: 'kick'; target: string }
  | { kind: 'admit'; target: string }
  | { kind: 'lock'; locked: boolean }
  | { kind: 'mute'; target: string };

export class MembershipError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'MembershipError';
  }
}

export const EPOCH_LIMITS = {
  /**
   * The largest step between two epochs a member accepts. A member re-creating a room after a relay restart leaps
   * REBUILD.epochLeap (1,000) ahead; anything past that would let one insider push the room towards 2^48 and freeze it.
   */
  maxStep: 1_000,
  /** A newcomer accepts a first epoch up to this: far below 2^48, so no room can be frozen at its end. */
  maxFirst: 2 ** 40,
  /** Stage decisions made more than this many epochs before the receiver's are refused as replays. */
  decisionWindow: 64,
} as const;

/** A display name is whatever the sealed profile says, trimmed and bounded; unverifiable members have none. */
export function profileName(keys: RoomKeys, sealedProfile: string): string {
  const profile = openMetadata<{ name?: unknown }>(keys.metaKey, keys.roomId, 'profile', sealedProfile);
  return typeof profile?.name === 'string' ? profile.name.slice(0, 60) : '';
}

const HANDOVER_RANK: Record<RosterRole, number> = { host: 0, moderator: 1, speaker: 2, listener: 3 };

/** Who may distribute, in hand-over order, from a signed stage: host, then moderators, then speakers, in stage order. */
export function handOverOrder(stage: RosterEntry[]): string[] {
  return stage
    .map((m, position) => ({ m, position }))
    .filter(({ m }) => m.role !== 'listener')
    .sort((a, b) => HANDOVER_RANK[a.m.role] - HANDOVER_RANK[b.m.role] || a.position - b.position)
    .map(({ m }) => m.memberKeyId);
}
