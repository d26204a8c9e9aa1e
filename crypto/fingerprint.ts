// The room fingerprint: Argon2id of the room secret and the host's signing key, shown as 6 emoji and 20 digits.
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { concat } from './bytes.ts';
import { EMOJI_TABLE } from './emoji-table.ts';
import { labelBytes } from './kdf.ts';

/**
 * Argon2id cost (docs/protocol.md §8). Every input is the attacker's choice when it swaps a link, so only the cost
 * of one guess slows grinding: 2^17 block compressions in 64 MiB, times 2^48 guesses to match the six emoji.
 */
export const FINGERPRINT_ARGON2 = { m: 64 * 1024, t: 2, p: 1, dkLen: 32 } as const;

const KEY_BYTES = 32;

export interface RoomFingerprint {
  emoji: string[];
  names: { en: string[]; 'zh-CN': string[]; 'zh-TW': string[] };
  /** Four groups of five digits, e.g. "04211 93862 00517 61290". */
  digits: string;
  /** Emoji and digits on one line: identical for everyone holding the same link and host key. */
  text: string;
}

/** Slow on purpose (about half a second in Node): it yields to the event loop every few milliseconds while it works. */
export async function roomFingerprint(roomSecret: Uint8Array, hostSignPublicKey: Uint8Array): Promise<RoomFingerprint> {
  if (roomSecret.length !== KEY_BYTES) throw new RangeError('a room secret is 32 bytes');
  if (hostSignPublicKey.length !== KEY_BYTES) throw new RangeError('a host signing key is 32 bytes');
  // The salt is fixed and labelled: a per-room salt would only be more input that the attacker picks.
  const salt = labelBytes('fingerprint-argon2id');
  const hash = await argon2idAsync(concat(roomSecret, hostSignPublicKey), salt, { ...FINGERPRINT_ARGON2, asyncTick: 8 });
  return fingerprintFromHash(hash);
}

/** 48 bits (bytes 0..5, one table index each) for the emoji; bytes 8..23 for the digits. */
function fingerprintFromHash(hash: Uint8Array): RoomFingerprint {
  const entries = Array.from(hash.subarray(0, 6), (i) => EMOJI_TABLE[i]!);
  const view = new DataView(hash.buffer, hash.byteOffset, hash.byteLength);
  const groups = Array.from({ length: 4 }, (_, i) => String(view.getUint32(8 + 4 * i) % 100_000).padStart(5, '0'));
  const emoji = entries.map((e) => e.emoji);
  const digits = groups.join(' ');
  return {
    emoji,
    names: { en: entries.map((e) => e.en), 'zh-CN': entries.map((e) => e['zh-CN']), 'zh-TW': entries.map((e) => e['zh-TW']) },
    digits,
    text: `${emoji.join(' ')} ${digits}`,
  };
}
