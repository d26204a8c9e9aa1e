// Who this tab is in a room (identity keys, name, resume token, last epoch), so that a reload comes back as the same member.
import { exportIdentity, importIdentity, type Identity } from '../../../crypto/index.ts';

/**
 * Kept in the tab's sessionStorage, like the room secret (link-store.ts): per tab, gone when the tab closes, never
 * synced. The identity's private keys are as exposed there as in the page's memory; no epoch secret is stored.
 */
export interface StoredMember {
  identity: Identity;
  name: string;
  resumeToken: string;
  participantId: string;
  /** The highest epoch held: after a reload, older commits replayed by the relay are refused. */
  epoch: number;
}

const storageKey = (roomId: string) => `teahouse.member.${roomId}`;

export function storeMember(roomId: string, member: StoredMember): void {
  try {
    sessionStorage.setItem(storageKey(roomId), JSON.stringify({ ...member, identity: exportIdentity(member.identity) }));
  } catch {
    // Storage refused: a reload then joins as a new member, as before.
  }
}

export function storedMember(roomId: string): StoredMember | null {
  try {
    const raw = sessionStorage.getItem(storageKey(roomId));
    if (!raw) return null;
    const data = JSON.parse(raw) as Omit<StoredMember, 'identity'> & { identity: Record<string, string> };
    if (typeof data.name !== 'string' || typeof data.resumeToken !== 'string' || typeof data.participantId !== 'string' || !Number.isSafeInteger(data.epoch)) return null;
    return { ...data, identity: importIdentity(data.identity) };
  } catch {
    return null;
  }
}

export function forgetMember(roomId: string): void {
  try {
    sessionStorage.removeItem(storageKey(roomId));
  } catch {
    // Nothing was stored where storage is refused.
  }
}
