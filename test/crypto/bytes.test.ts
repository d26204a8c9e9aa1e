import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64urlLength, fromHex, fromHexInto, fromLowercaseHexInto, randomBytes, toBase64url, toBase64urlEach, toHex } from '../../crypto/bytes.ts';

/** Node's own encoder: an implementation independent of ours. */
const nodeBase64url = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');

describe('base64url encoding', () => {
  it("equals Node's base64url for every length from 0 to 200, random bytes and all-0xff", () => {
    for (let length = 0; length <= 200; length++) {
      for (const bytes of [randomBytes(length), new Uint8Array(length).fill(0xff), new Uint8Array(length)]) {
        const text = toBase64url(bytes);
        expect(text, `length ${length}`).toBe(nodeBase64url(bytes));
        expect(text.length).toBe(base64urlLength(length));
      }
    }
    // Every 6-bit value in every position of a group.
    const all = Uint8Array.from({ length: 256 * 3 }, (_, i) => (i % 3 === 0 ? i / 3 : (i * 37) & 0xff));
    expect(toBase64url(all)).toBe(nodeBase64url(all));
    expect(toBase64url(all.subarray(5, 300))).toBe(nodeBase64url(all.subarray(5, 300)));
  });

  it('encodes each record of a buffer as toBase64url encodes it alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 20 }), (recordLength, count) => {
        const bytes = randomBytes(recordLength * count);
        const records = Array.from({ length: count }, (_, r) => bytes.subarray(r * recordLength, (r + 1) * recordLength));
        expect(toBase64urlEach(bytes, recordLength)).toEqual(records.map(toBase64url));
      }),
      { numRuns: 300 },
    );
    expect(() => toBase64urlEach(new Uint8Array(10), 3)).toThrow(RangeError);
    expect(() => toBase64urlEach(new Uint8Array(10), 0)).toThrow(RangeError);
  });
});

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

  it('writes hex into a buffer in place, as fromHex decodes it, and refuses what does not fit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 10 }), (bytes, offset) => {
        const out = new Uint8Array(offset + bytes.length + 3).fill(7);
        expect(fromHexInto(toHex(bytes), out, offset)).toBe(offset + bytes.length);
        expect(out.subarray(offset, offset + bytes.length)).toEqual(fromHex(toHex(bytes)));
        expect([...out.subarray(0, offset), ...out.subarray(offset + bytes.length)].every((b) => b === 7)).toBe(true);
      }),
    );
    expect(() => fromHexInto('00112233', new Uint8Array(3), 0)).toThrow(RangeError);
    expect(() => fromHexInto('0011', new Uint8Array(3), 2)).toThrow(RangeError);
    for (const bad of ['0', 'zz', '0g']) expect(() => fromHexInto(bad, new Uint8Array(4), 0), bad).toThrow(RangeError);
  });

  it('writes lowercase hex of the given length in place, and answers false for anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 4 }), (bytes, offset) => {
        const out = new Uint8Array(offset + bytes.length);
        expect(fromLowercaseHexInto(toHex(bytes), out, offset, bytes.length)).toBe(true);
        expect(out.subarray(offset)).toEqual(bytes);
        const upper = toHex(bytes).toUpperCase();
        expect(fromLowercaseHexInto(upper, new Uint8Array(offset + bytes.length), offset, bytes.length)).toBe(upper === toHex(bytes));
        expect(fromLowercaseHexInto(toHex(bytes), new Uint8Array(offset + bytes.length + 1), offset, bytes.length + 1)).toBe(false);
        expect(fromLowercaseHexInto(toHex(bytes), new Uint8Array(offset + bytes.length - 1), offset, bytes.length)).toBe(false);
      }),
    );
    for (const bad of ['0g', 'g0', '0\u00e9', ' 0', 'Ab']) expect(fromLowercaseHexInto(bad, new Uint8Array(1), 0, 1), bad).toBe(false);
  });

  it('fills more than the 65,536 bytes one getRandomValues call allows', () => {
    const bytes = randomBytes(24 * 10_000);
    expect(bytes.length).toBe(240_000);
    // The last chunk is filled too: 4 KiB of zeros left over would be a bug, not chance.
    expect(bytes.subarray(-4096).some((b) => b !== 0)).toBe(true);
    expect(bytes.subarray(65_536, 65_536 + 4096).some((b) => b !== 0)).toBe(true);
  });
});
