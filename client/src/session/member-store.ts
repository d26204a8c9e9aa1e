// Who this tab is in a room (identity keys, name, resume token, last epoch), so that a reload comes back as the same member.
import { exportIdentity, fromBase64url, importIdentity, toBase64url, type Identity, type KemKeyPair, type RosterEntry } from '../../../crypto/index.ts';
import { memberStorageKey } from './link-store.ts';
import type { WatermarkWrite } from './sender-floor.ts';

/** What a distributor needs to carry on after a reload: what it last signed, and whom it removed. */
export interface HeldDistribution {
  /** The stage of the last epoch it made, roles and order. */
  stage: RosterEntry[];
  locked: boolean;
  /** Members it kicked (memberKeyIds): never keyed again. */
  removed: string[];
}

/**
 * Kept in the tab's sessionStorage, like the room secret (link-store.ts): per tab, gone when the tab closes, never
 * synced. The identity's private keys are as exposed there as in the page's memory; no epoch secret is stored.
 */
export interface StoredMember {
  identity: Identity;
  /** The KEM key pair a stage member's announcement carries: a reload resumes with that announcement, so with it. */
  kem: KemKeyPair | null;
  name: string;
  /** The announcement the relay knows this member by: a resume must present exactly it. */
  announcement: string;
  resumeToken: string;
  participantId: string;
  /**
   * The highest epoch held, written before the page installs it (sender-floor.ts): after a reload, older commits
   * replayed by the relay are refused, and the page never sends under an epoch at or below it.
   */
  epoch: number;
  /** Set when this member made the epoch it held: it was the distributor. */
  distribution: HeldDistribution | null;
}

const storageKey = memberStorageKey;

/**
 * Writes the member; where storage refuses (quota, denied), removes the entry instead, so that no reload can come
 * back with an older watermark than this page sends under: it joins as a new member.
 */
export function storeMember(roomId: string, member: StoredMember): WatermarkWrite {
  try {
    sessionStorage.setItem(storageKey(roomId), JSON.stringify({ ...member, identity: exportIdentity(member.identity), kem: member.kem && { publicKey: toBase64url(member.kem.publicKey), secretKey: toBase64url(member.kem.secretKey) } }));
    return 'stored';
  } catch {
    return forgetMember(roomId) ? 'forgotten' : 'failed';
  }
}

function isHeld(value: unknown): value is HeldDistribution {
  const held = value as HeldDistribution;
  return (
    typeof held === 'object' &&
    held !== null &&
    typeof held.locked === 'boolean' &&
    Array.isArray(held.removed) &&
    held.removed.every((id) => typeof id === 'string') &&
    Array.isArray(held.stage) &&
    held.stage.every((m) => typeof m?.memberKeyId === 'string' && Number.isSafeInteger(m.senderIndex) && ['host', 'moderator', 'speaker'].includes(m.role))
  );
}

export function storedMember(roomId: string): StoredMember | null {
  try {
    const raw = sessionStorage.getItem(storageKey(roomId));
    if (!raw) return null;
    const data = JSON.parse(raw) as Omit<StoredMember, 'identity' | 'kem'> & { identity: Record<string, string>; kem?: { publicKey: string; secretKey: string } | null };
    if (typeof data.name !== 'string' || typeof data.announcement !== 'string' || typeof data.resumeToken !== 'string' || typeof data.participantId !== 'string' || !Number.isSafeInteger(data.epoch)) return null;
    const kem = data.kem ? { publicKey: fromBase64url(data.kem.publicKey), secretKey: fromBase64url(data.kem.secretKey) } : null;
    return { ...data, distribution: isHeld(data.distribution) ? data.distribution : null, identity: importIdentity(data.identity), kem };
  } catch {
    return null;
  }
}

/** False when the entry could not be removed (storage refused even that). */
export function forgetMember(roomId: string): boolean {
  try {
    sessionStorage.removeItem(kemKey(roomId));
    sessionStorage.removeItem(storageKey(roomId));
    return true;
  } catch {
    return false;
  }
}

const kemKey = (roomId: string) => `teahouse.kem.${roomId}`;

/**
 * The X-Wing secrets of the offers this member took (as a stage member who may distribute), by the offering member's
 * key id: kept beside the member so that a reloaded stage member still holds a hybrid pairwise key with every member,
 * who will not offer to the same KEM key again. No more exposed than the KEM secret key stored with the identity.
 * Kept apart from the member, which is written at every epoch: this grows with the room and changes only with offers.
 */
export function storeKemSecrets(roomId: string, secrets: Iterable<[string, Uint8Array]>): void {
  try {
    const out: Record<string, string> = {};
    for (const [memberKeyId, secret] of secrets) out[memberKeyId] = toBase64url(secret);
    sessionStorage.setItem(kemKey(roomId), JSON.stringify(out));
  } catch {
    // Storage refused: after a reload the members it lost are skipped until they offer again (a rejoin).
  }
}

export function storedKemSecrets(roomId: string): [string, Uint8Array][] {
  try {
    const raw = sessionStorage.getItem(kemKey(roomId));
    if (!raw) return [];
    const data = JSON.parse(raw) as Record<string, unknown>;
    return Object.entries(data).flatMap(([id, secret]) => (/^[0-9a-f]{16}$/.test(id) && typeof secret === 'string' ? [[id, fromBase64url(secret)] as [string, Uint8Array]] : []));
  } catch {
    return [];
  }
}
