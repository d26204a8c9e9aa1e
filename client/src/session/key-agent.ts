// The room's key state in one member's hands: verifying announcements, and issuing or accepting epoch commits.
import {
  createCommit,
  generateEpochSecret,
  openCommit,
  openMetadata,
  ratchetEpochSecret,
  verifyAnnouncement,
  type CommitMember,
  type Identity,
  type RoomKeys,
} from '../../../crypto/index.ts';

export interface VerifiedMember {
  participantId: string;
  memberKeyId: string;
  boxPublicKey: Uint8Array;
  signPublicKey: Uint8Array;
  name: string;
}

export interface EpochState {
  epoch: number;
  kind: 'fresh' | 'ratchet';
  secret: Uint8Array;
  members: CommitMember[];
  /** This member's sender index in the epoch, or null when the commit does not list it. */
  myIndex: number | null;
}

export interface IssuedCommit extends EpochState {
  blob: string;
}

/** A display name is whatever the sealed profile says, trimmed and bounded; unverifiable members have none. */
export function profileName(keys: RoomKeys, sealedProfile: string): string {
  const profile = openMetadata<{ name?: unknown }>(keys.metaKey, keys.roomId, 'profile', sealedProfile);
  return typeof profile?.name === 'string' ? profile.name.slice(0, 60) : '';
}

export class KeyAgent {
  readonly identity: Identity;
  keys: RoomKeys;
  current: EpochState | null = null;
  private nextIndex = 0;
  /** The lowest epoch number the next commit may carry (see raiseNextEpoch). */
  private epochFloor = 0;

  constructor(keys: RoomKeys, identity: Identity) {
    this.keys = keys;
    this.identity = identity;
  }

  /** Checks an announcement against this room's authKey; null when it was not made with this link. */
  verify(participantId: string, announcement: string): VerifiedMember | null {
    try {
      const v = verifyAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, blob: announcement });
      return { participantId, memberKeyId: v.memberKeyId, boxPublicKey: v.boxPublicKey, signPublicKey: v.signPublicKey, name: profileName(this.keys, v.sealedProfile) };
    } catch {
      return null;
    }
  }

  /**
   * Makes the next commit carry at least this epoch number. A member re-creating a room after a relay restart may
   * have missed the last commits; members accept only higher epochs, so it leaps well past what anyone could hold.
   */
  raiseNextEpoch(atLeast: number): void {
    this.epochFloor = Math.max(this.epochFloor, atLeast);
  }

  /** Distributor: a fresh secret sealed to every verified member (start, leave, kick, rotation); indexes are compacted. */
  issueFresh(members: VerifiedMember[], newRoomSecret?: Uint8Array): IssuedCommit {
    const epoch = Math.max((this.current?.epoch ?? 0) + 1, this.epochFloor);
    const secret = generateEpochSecret();
    const list = members.map((m, i) => ({ memberKeyId: m.memberKeyId, senderIndex: i }));
    const blob = createCommit({
      distributor: this.identity,
      roomId: this.keys.roomId,
      epoch,
      kind: 'fresh',
      members: list,
      epochSecret: secret,
      sealFor: members,
      ...(newRoomSecret ? { newRoomSecret } : {}),
    });
    return this.adopt({ epoch, kind: 'fresh', secret, members: list, blob });
  }

  /** Distributor: on a join everyone ratchets; only the newcomers get the new secret, with fresh sender indexes. */
  issueRatchet(newcomers: VerifiedMember[]): IssuedCommit {
    if (!this.current) throw new Error('no epoch to ratchet from');
    const epoch = this.current.epoch + 1;
    const secret = ratchetEpochSecret(this.current.secret);
    const list = [...this.current.members, ...newcomers.map((m) => ({ memberKeyId: m.memberKeyId, senderIndex: this.nextIndex++ }))];
    const blob = createCommit({ distributor: this.identity, roomId: this.keys.roomId, epoch, kind: 'ratchet', members: list, epochSecret: secret, sealFor: newcomers });
    return this.adopt({ epoch, kind: 'ratchet', secret, members: list, blob });
  }

  /** Member: accepts a commit only if the expected distributor signed it for this room with a newer epoch. */
  accept(blob: string, distributorSignPublicKey: Uint8Array): EpochState & { newRoomSecret: Uint8Array | null } {
    const opened = openCommit({
      blob,
      roomId: this.keys.roomId,
      distributorSignPublicKey,
      me: this.identity,
      currentEpoch: this.current?.epoch ?? null,
      currentSecret: this.current?.secret ?? null,
    });
    const state = this.adopt({ epoch: opened.epoch, kind: opened.kind, secret: opened.epochSecret, members: opened.members });
    return { ...state, newRoomSecret: opened.newRoomSecret };
  }

  private adopt<T extends { epoch: number; kind: 'fresh' | 'ratchet'; secret: Uint8Array; members: CommitMember[] }>(state: T): T & EpochState {
    const mine = state.members.find((m) => m.memberKeyId === this.identity.memberKeyId);
    this.nextIndex = state.members.reduce((max, m) => Math.max(max, m.senderIndex + 1), 0);
    this.current = { epoch: state.epoch, kind: state.kind, secret: state.secret, members: state.members, myIndex: mine?.senderIndex ?? null };
    return { ...state, myIndex: this.current.myIndex };
  }
}
