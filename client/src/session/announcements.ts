// Announcements checked under the room's authKey: another member's against the keys first seen under its id, and this member's own after a reload.
import { equalBytes, verifyAnnouncement, type KemKeyPair, type RoomKeys } from '../../../crypto/index.ts';
import { profileName, type VerifiedMember } from './membership-types.ts';

/**
 * The member an announcement names, or null when it was not made with this link or contradicts what was verified
 * first under its id. `kemChanged` is told of one that carries another KEM key than before: offers to the old one go.
 */
export function checkAnnouncement(keys: RoomKeys, participantId: string, blob: string, firstOf: (memberKeyId: string) => VerifiedMember | undefined, kemChanged: (memberKeyId: string) => void): VerifiedMember | null {
  try {
    const v = verifyAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, blob });
    // Ids are 64 bits of the signing key: the first keys verified under an id keep it, so a colliding identity made
    // by an insider cannot take over another member's packages and signatures.
    const first = firstOf(v.memberKeyId);
    if (first && !(equalBytes(first.signPublicKey, v.signPublicKey) && equalBytes(first.boxPublicKey, v.boxPublicKey))) return null;
    // A KEM key once seen stays: an older announcement without it, replayed by the relay, does not take it away.
    if (first?.kemPublicKey && !v.kemPublicKey) return null;
    if (first?.kemPublicKey && !equalBytes(first.kemPublicKey, v.kemPublicKey!)) kemChanged(v.memberKeyId);
    return { participantId, memberKeyId: v.memberKeyId, boxPublicKey: v.boxPublicKey, signPublicKey: v.signPublicKey, name: profileName(keys, v.sealedProfile), kemPublicKey: v.kemPublicKey };
  } catch {
    return null;
  }
}

/** Whether an announcement this member stored is its own and carried its KEM key (members pair with it under hybrid keys). */
export function announcedKem(keys: RoomKeys, blob: string, me: string, kem: KemKeyPair): boolean {
  try {
    const v = verifyAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, blob });
    return v.memberKeyId === me && v.kemPublicKey !== null && equalBytes(v.kemPublicKey, kem.publicKey);
  } catch {
    // Not this room's announcement: the relay will not resume it either.
    return false;
  }
}
