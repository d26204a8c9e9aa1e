// The room secret S: drawing it, carrying it in the link fragment, and the public room id and keys derived from it.
import { fromBase64url, randomBytes, toBase64url } from './bytes.ts';
import { RoomLinkError } from './errors.ts';
import { deriveLabelled } from './kdf.ts';

export const ROOM_SECRET_BYTES = 32;
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export interface RoomKeys {
  /** Public: names the room to the relay. */
  roomId: string;
  /** Keys membership announcements (HMAC-SHA-256). */
  authKey: Uint8Array;
  /** Encrypts display names, the room title and other free text. */
  metaKey: Uint8Array;
  /** L, keyed into every epoch secret: recorded traffic stays sealed to whoever never held the link. */
  linkKey: Uint8Array;
}

export function generateRoomSecret(): Uint8Array {
  return randomBytes(ROOM_SECRET_BYTES);
}

export function encodeRoomSecret(secret: Uint8Array): string {
  if (secret.length !== ROOM_SECRET_BYTES) throw new RangeError('a room secret is 32 bytes');
  return toBase64url(secret);
}

export function parseRoomSecret(fragment: string): Uint8Array {
  const text = fragment.startsWith('#') ? fragment.slice(1) : fragment;
  if (text.length === 0) throw new RoomLinkError('the link has no secret after "#"');
  if (text.length !== 43) {
    throw new RoomLinkError(`the secret after "#" has ${text.length} characters instead of 43 (${text.length < 43 ? 'truncated' : 'extra characters'})`);
  }
  try {
    return fromBase64url(text);
  } catch (error) {
    throw new RoomLinkError(`the secret after "#" is mangled: ${(error as Error).message}`);
  }
}

export function deriveRoomKeys(secret: Uint8Array): RoomKeys {
  if (secret.length !== ROOM_SECRET_BYTES) throw new RangeError('a room secret is 32 bytes');
  return {
    roomId: toBase64url(deriveLabelled(secret, 'room-id', 16)),
    authKey: deriveLabelled(secret, 'auth-key', 32),
    metaKey: deriveLabelled(secret, 'meta-key', 32),
    linkKey: deriveLabelled(secret, 'link-epoch-key', 32),
  };
}

export function buildRoomLink(origin: string, secret: Uint8Array): string {
  return `${origin.replace(/\/+$/, '')}/r/${deriveRoomKeys(secret).roomId}#${encodeRoomSecret(secret)}`;
}

/** Parses a full link; the path's room id must be the one the secret derives, so a spliced link is caught. */
export function parseRoomLink(link: string): { secret: Uint8Array; keys: RoomKeys; origin: string } {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new RoomLinkError('this is not a link');
  }
  const match = /^\/r\/([^/]+)\/?$/.exec(url.pathname);
  if (!match) throw new RoomLinkError('the link does not point to a room');
  const secret = parseRoomSecret(url.hash);
  const keys = deriveRoomKeys(secret);
  if (match[1] !== keys.roomId) throw new RoomLinkError('the room id in the link does not belong to its secret');
  return { secret, keys, origin: url.origin };
}
