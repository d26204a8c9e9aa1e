// Room fingerprint: the Argon2id construction of docs/protocol.md §8, checked against OpenSSL's Argon2id, and its table.
import { argon2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMOJI_TABLE } from '../../crypto/emoji-table.ts';
import { FINGERPRINT_ARGON2, generateIdentity, generateRoomSecret, initCrypto, roomFingerprint, utf8 } from '../../crypto/index.ts';

// The identities below are libsodium's.
await initCrypto();

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const HOST_KEY = Uint8Array.from({ length: 32 }, (_, i) => 32 + i);

/** The construction as written in the protocol, computed with Node's (OpenSSL) Argon2id rather than noble's. */
function expectedText(secret: Uint8Array, hostKey: Uint8Array): string {
  const hash = argon2Sync('argon2id', {
    message: Buffer.concat([secret, hostKey]),
    nonce: utf8.encode('teahouse/v1 fingerprint-argon2id'),
    memory: 65536,
    passes: 2,
    parallelism: 1,
    tagLength: 32,
  });
  const emoji = [...hash.subarray(0, 6)].map((i) => EMOJI_TABLE[i]!.emoji);
  const digits = [0, 1, 2, 3].map((j) => String(hash.readUInt32BE(8 + 4 * j) % 100_000).padStart(5, '0'));
  return `${emoji.join(' ')} ${digits.join(' ')}`;
}

describe('room fingerprint', () => {
  it('gives the known answer for fixed inputs, and the protocol parameters', async () => {
    const fp = await roomFingerprint(SECRET, HOST_KEY);
    expect(fp.text).toBe('⛳ 🐰 🍔 🦷 🔨 🐸 95907 06073 13548 86485');
    expect(fp.names.en).toEqual(['golf', 'rabbit', 'hamburger', 'tooth', 'hammer', 'frog']);
    expect(fp.names['zh-CN']).toEqual(['高尔夫', '兔子', '汉堡', '牙齿', '锤子', '青蛙']);
    expect(fp.names['zh-TW']).toEqual(['高爾夫', '兔子', '漢堡', '牙齒', '鎚子', '青蛙']);
    expect(FINGERPRINT_ARGON2).toEqual({ m: 65536, t: 2, p: 1, dkLen: 32 });
  });

  it('matches an independent Argon2id for random inputs', async () => {
    const secret = randomBytes(32);
    const hostKey = randomBytes(32);
    expect((await roomFingerprint(secret, hostKey)).text).toBe(expectedText(secret, hostKey));
  });

  it('changes with the link or the host key, and has the documented shape', async () => {
    const s = generateRoomSecret();
    const host = generateIdentity();
    const fp = await roomFingerprint(s, host.signPublicKey);
    expect(fp.emoji).toHaveLength(6);
    for (const lang of ['en', 'zh-CN', 'zh-TW'] as const) expect(fp.names[lang]).toHaveLength(6);
    expect(fp.digits).toMatch(/^\d{5} \d{5} \d{5} \d{5}$/);
    expect(fp.text).toBe(`${fp.emoji.join(' ')} ${fp.digits}`);
    const [otherSecret, otherHost] = await Promise.all([roomFingerprint(generateRoomSecret(), host.signPublicKey), roomFingerprint(s, generateIdentity().signPublicKey)]);
    expect(otherSecret.text).not.toBe(fp.text);
    expect(otherHost.text).not.toBe(fp.text);
  });

  it('refuses inputs of the wrong length', async () => {
    await expect(roomFingerprint(SECRET.subarray(1), HOST_KEY)).rejects.toThrow(RangeError);
    await expect(roomFingerprint(SECRET, new Uint8Array(33))).rejects.toThrow(RangeError);
  });
});

describe('fingerprint emoji table', () => {
  it('has 256 distinct emoji, each with distinct names in three languages', () => {
    expect(EMOJI_TABLE).toHaveLength(256);
    expect(new Set(EMOJI_TABLE.map((e) => e.emoji)).size).toBe(256);
    for (const lang of ['en', 'zh-CN', 'zh-TW'] as const) {
      expect(new Set(EMOJI_TABLE.map((e) => e[lang].toLowerCase())).size).toBe(256);
      for (const e of EMOJI_TABLE) expect(e[lang].trim()).toBe(e[lang]);
      for (const e of EMOJI_TABLE) expect(e[lang].length).toBeGreaterThan(0);
    }
  });

  it('holds single standard emoji: no flags, skin tones or joined sequences', () => {
    // The 'v' flag (Unicode sets) is newer than the project's compile target, hence the constructor.
    const rgi = new RegExp('^\\p{RGI_Emoji}$', 'v');
    for (const e of EMOJI_TABLE) {
      expect(e.emoji).toMatch(rgi);
      expect(e.emoji).not.toMatch(/[\u200d\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}]/u);
    }
  });

  it('round-trips through the fingerprint text: split on spaces, every emoji names its own entry', () => {
    const text = EMOJI_TABLE.map((e) => e.emoji).join(' ');
    const segments = [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text)].map((s) => s.segment).filter((s) => s !== ' ');
    expect(segments).toEqual(EMOJI_TABLE.map((e) => e.emoji));
    expect(text.split(' ').map((e) => EMOJI_TABLE.findIndex((x) => x.emoji === e))).toEqual(EMOJI_TABLE.map((_, i) => i));
  });
});
