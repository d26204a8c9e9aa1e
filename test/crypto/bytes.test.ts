import { describe, expect, it } from 'vitest';
import { fromHex, randomBytes, toHex } from '../../crypto/bytes.ts';

describe('hex and random bytes', () => {
  it('round-trips every byte value, in either case, and refuses anything but hex pairs', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hex = toHex(all);
    expect(hex.slice(0, 8)).toBe('00010203');
    expect(hex.slice(-4)).toBe('feff');
    expect(fromHex(hex)).toEqual(all);
    expect(fromHex(hex.toUpperCase())).toEqual(all);
    for (const bad of ['0', 'zz', '0g', 'g0', '0\u00e9', ' 0', '0x00']) expect(() => fromHex(bad), bad).toThrow(RangeError);
  });

  it('fills more than the 65,536 bytes one getRandomValues call allows', () => {
    const bytes = randomBytes(24 * 10_000);
    expect(bytes.length).toBe(240_000);
    // The last chunk is filled too: 4 KiB of zeros left over would be a bug, not chance.
    expect(bytes.subarray(-4096).some((b) => b !== 0)).toBe(true);
    expect(bytes.subarray(65_536, 65_536 + 4096).some((b) => b !== 0)).toBe(true);
  });
});
