// The room fingerprint: a labelled hash of the room secret and the host's signing key, as 6 emoji and 20 digits.
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from './bytes.ts';
import { EMOJI_TABLE } from './emoji-table.ts';
import { labelBytes } from './kdf.ts';

export interface RoomFingerprint {
  emoji: string[];
  names: { en: string[]; 'zh-CN': string[]; 'zh-TW': string[] };
  /** Four groups of five digits, e.g. "04211 93862 00517 61290". */
  digits: string;
  /** Emoji and digits on one line: identical for everyone holding the same link and host key. */
  text: string;
}

export function roomFingerprint(roomSecret: Uint8Array, hostSignPublicKey: Uint8Array): RoomFingerprint {
  const hash = sha256(concat(labelBytes('fingerprint'), Uint8Array.of(0), roomSecret, hostSignPublicKey));
  // 36 bits (six 6-bit indexes) from bytes 0..4 for the emoji; bytes 8..23 for the digits.
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(hash[i]!);
  const indexes = Array.from({ length: 6 }, (_, i) => Number((bits >> BigInt(34 - 6 * i)) & 63n));
  const entries = indexes.map((i) => EMOJI_TABLE[i]!);
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
