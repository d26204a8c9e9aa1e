// Byte helpers shared by every crypto module: base64url, hex, concatenation, comparison, big-endian integers.

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_INDEX[B64URL.charCodeAt(i)] = i;

const B64URL_CODES = Uint8Array.from(B64URL, (c) => c.charCodeAt(0));
// ASCII bytes decode to the same code points under latin1 (windows-1252): one flat string, no string built per 3 bytes.
const LATIN1 = new TextDecoder('latin1');

/** The length of the unpadded base64url text of `byteLength` bytes. */
export function base64urlLength(byteLength: number): number {
  return Math.floor(byteLength / 3) * 4 + [0, 2, 3][byteLength % 3]!;
}

/** Writes the base64url ASCII codes of `bytes[start, end)` into `out` from `offset`. */
function writeBase64url(bytes: Uint8Array, start: number, end: number, out: Uint8Array, offset: number): void {
  let o = offset;
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o] = B64URL_CODES[n >> 18]!;
    out[o + 1] = B64URL_CODES[(n >> 12) & 63]!;
    out[o + 2] = B64URL_CODES[(n >> 6) & 63]!;
    out[o + 3] = B64URL_CODES[n & 63]!;
    o += 4;
  }
  const rest = end - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64URL_CODES[n >> 18]!;
    out[o++] = B64URL_CODES[(n >> 12) & 63]!;
    if (rest === 2) out[o] = B64URL_CODES[(n >> 6) & 63]!;
  }
}

export function toBase64url(bytes: Uint8Array): string {
  const out = new Uint8Array(base64urlLength(bytes.length));
  writeBase64url(bytes, 0, bytes.length, out, 0);
  return LATIN1.decode(out);
}

/**
 * Each `recordLength` bytes of `bytes` encoded on its own, as toBase64url would: a distributor's 10,000 packages cost
 * one decode into one string, and each record's text is a slice of it.
 */
export function toBase64urlEach(bytes: Uint8Array, recordLength: number): string[] {
  if (!Number.isInteger(recordLength) || recordLength < 1 || bytes.length % recordLength !== 0) throw new RangeError('bytes are not whole records');
  const count = bytes.length / recordLength;
  const chars = base64urlLength(recordLength);
  const ascii = new Uint8Array(chars * count);
  for (let r = 0; r < count; r++) writeBase64url(bytes, r * recordLength, (r + 1) * recordLength, ascii, r * chars);
  const text = LATIN1.decode(ascii);
  const out = new Array<string>(count);
  for (let r = 0; r < count; r++) out[r] = text.slice(r * chars, (r + 1) * chars);
  return out;
}

/** Strict: only the base64url alphabet, no padding, and no non-zero bits left over (one encoding per value). */
export function fromBase64url(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new RangeError('base64url text has an impossible length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? B64URL_INDEX[code]! : -1;
    if (v < 0) throw new RangeError(`invalid base64url character at position ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new RangeError('base64url text has non-canonical trailing bits');
  return out;
}

// Tables rather than toString/parseInt per byte: member key ids are hex, and a rekey of 10,000 members converts each.
const HEX_OF_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const NIBBLE = new Int8Array(128).fill(-1);
const LOWERCASE_NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;
  NIBBLE['0123456789ABCDEF'.charCodeAt(i)] = i;
  LOWERCASE_NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX_OF_BYTE[bytes[i]!]!;
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new RangeError('invalid hex');
  const out = new Uint8Array(hex.length / 2);
  fromHexInto(hex, out, 0);
  return out;
}

/** Decodes `length` bytes of `hex` through `nibbles` into `out` at `offset`; false at the first digit it lacks. */
function decodeHex(hex: string, nibbles: Int8Array, out: Uint8Array, offset: number, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const a = hex.charCodeAt(2 * i);
    const b = hex.charCodeAt(2 * i + 1);
    const hi = a < 128 ? nibbles[a]! : -1;
    const lo = b < 128 ? nibbles[b]! : -1;
    if (hi < 0 || lo < 0) return false;
    out[offset + i] = (hi << 4) | lo;
  }
  return true;
}

/** Writes the bytes of `hex` into `out` from `offset` without allocating; returns where they end. */
export function fromHexInto(hex: string, out: Uint8Array, offset: number): number {
  if (hex.length % 2 !== 0) throw new RangeError('invalid hex');
  const length = hex.length / 2;
  if (offset < 0 || offset + length > out.length) throw new RangeError('hex does not fit');
  if (!decodeHex(hex, NIBBLE, out, offset, length)) throw new RangeError('invalid hex');
  return offset + length;
}

/**
 * Writes the bytes of `hex` into `out` from `offset` if it is lowercase hex of exactly that many bytes; false (with
 * `out` partly written) for any other text. Lowercase is how toHex writes member key ids, and the one case whose text
 * order is the order of the bytes.
 */
export function fromLowercaseHexInto(hex: string, out: Uint8Array, offset: number, length: number): boolean {
  if (hex.length !== 2 * length || offset < 0 || offset + length > out.length) return false;
  return decodeHex(hex, LOWERCASE_NIBBLE, out, offset, length);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Compares in time independent of where the inputs differ. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const utf8 = {
  encode: (text: string): Uint8Array => new TextEncoder().encode(text),
  decode: (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(bytes),
};

/** Big-endian encoding of a non-negative integer into exactly `length` bytes. */
export function bigEndian(value: bigint | number, length: number): Uint8Array {
  let v = BigInt(value);
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError(`${value} does not fit in ${length} bytes`);
  return out;
}

export function readBigEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Any length: getRandomValues fills at most 65,536 bytes a call, so a distributor's nonces for 10,000 take several. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65_536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65_536)));
  return out;
}
