// Keeps the room secret out of the address bar and the history: the page shows /r/<roomId>, and this tab's
// sessionStorage (per tab, gone with it, never synced) holds the secret so that a reload still finds the room.
// From its module, not crypto/index.ts: the first script carries this file, and the index would bring all of crypto/.
import { encodeRoomSecret, parseRoomLink, ROOM_ID_PATTERN } from '../../../crypto/room-secret.ts';

const storageKey = (roomId: string) => `teahouse.room-secret.${roomId}`;

/** Where this tab keeps its member of a room (member-store.ts); here so the first script can ask without it. */
export const memberStorageKey = (roomId: string) => `teahouse.member.${roomId}`;

const roomIdOfPath = (pathname: string): string | null => {
  const roomId = /^\/r\/([^/]+)\/?$/.exec(pathname)?.[1];
  return roomId && ROOM_ID_PATTERN.test(roomId) ? roomId : null;
};

/** Keeps the link's secret for this tab and replaces the current history entry with the bare room path. */
export function hideLinkSecret(link: string): void {
  const { secret, keys } = parseRoomLink(link);
  try {
    sessionStorage.setItem(storageKey(keys.roomId), encodeRoomSecret(secret));
  } catch {
    // Storage refused (disabled, or full): the secret still leaves the address bar, and a reload asks for the link.
  }
  history.replaceState(null, '', `/r/${keys.roomId}`);
}

/** The full link of the room at this path, rebuilt from this tab's storage; null when this tab never held it. */
export function storedLink(origin: string, pathname: string): string | null {
  const roomId = roomIdOfPath(pathname);
  if (!roomId) return null;
  let fragment: string | null = null;
  try {
    fragment = sessionStorage.getItem(storageKey(roomId));
  } catch {
    return null;
  }
  return fragment ? `${origin}/r/${roomId}#${fragment}` : null;
}

/** Whether this tab was a member of the room at this path: a reload comes back as it, with no join screen. */
export function memberHere(pathname: string): boolean {
  const roomId = roomIdOfPath(pathname);
  try {
    return roomId !== null && sessionStorage.getItem(memberStorageKey(roomId)) !== null;
  } catch {
    return false;
  }
}

export function forgetLinkSecret(roomId: string): void {
  try {
    sessionStorage.removeItem(storageKey(roomId));
  } catch {
    // Nothing was stored where storage is refused.
  }
}
