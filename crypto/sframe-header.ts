// SFrame (RFC 9605) headers: the KID and CTR in the variable-length form of section 4.3.
import { readBigEndian } from './bytes.ts';
import { SframeHeaderError } from './errors.ts';

export const MAX_U64 = (1n << 64n) - 1n;

/** Bytes that `value` takes in big-endian without leading zeros (at least one); a number test below 2^32. */
function minimalLength(value: bigint): number {
  if (value <= 0xffffffffn) {
    const n = Number(value);
    return n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  }
  let length = 5;
  while (value >> BigInt(8 * length) !== 0n) length++;
  return length;
}

function writeBigEndian(out: Uint8Array, offset: number, value: bigint, length: number): void {
  if (value <= 0xffffffffn) {
    let n = Number(value);
    for (let i = length - 1; i >= 0; i--, n = Math.floor(n / 256)) out[offset + i] = n & 0xff;
    return;
  }
  for (let i = 0; i < length; i++) out[offset + i] = Number((value >> BigInt(8 * (length - 1 - i))) & 0xffn);
}

export function headerLength(kid: bigint, counter: bigint): number {
  return 1 + (kid < 8n ? 0 : minimalLength(kid)) + (counter < 8n ? 0 : minimalLength(counter));
}

/** Writes the header at the start of `out` (at least headerLength bytes); returns its length. */
export function writeHeader(out: Uint8Array, kid: bigint, counter: bigint): number {
  if (kid < 0n || kid > MAX_U64 || counter < 0n || counter > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  let first = 0;
  let offset = 1;
  if (kid < 8n) first |= Number(kid) << 4;
  else {
    const length = minimalLength(kid);
    first |= 0x80 | ((length - 1) << 4);
    writeBigEndian(out, offset, kid, length);
    offset += length;
  }
  if (counter < 8n) first |= Number(counter);
  else {
    const length = minimalLength(counter);
    first |= 0x08 | (length - 1);
    writeBigEndian(out, offset, counter, length);
    offset += length;
  }
  out[0] = first;
  return offset;
}

export function encodeHeader(kid: bigint, counter: bigint): Uint8Array {
  if (kid < 0n || kid > MAX_U64 || counter < 0n || counter > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  const out = new Uint8Array(headerLength(kid, counter));
  writeHeader(out, kid, counter);
  return out;
}

export interface SframeHeader {
  kid: bigint;
  counter: bigint;
  /** Bytes the header occupies at the start of the frame. */
  length: number;
}

export function decodeHeader(frame: Uint8Array): SframeHeader {
  if (frame.length < 1) throw new SframeHeaderError('empty frame');
  const first = frame[0]!;
  let offset = 1;
  let kid: bigint;
  if (first & 0x80) {
    const length = ((first >> 4) & 0x07) + 1;
    if (frame.length < offset + length) throw new SframeHeaderError('frame too short for its KID');
    kid = readBigEndian(frame.subarray(offset, offset + length));
    offset += length;
  } else kid = BigInt((first >> 4) & 0x07);
  let counter: bigint;
  if (first & 0x08) {
    const length = (first & 0x07) + 1;
    if (frame.length < offset + length) throw new SframeHeaderError('frame too short for its CTR');
    counter = readBigEndian(frame.subarray(offset, offset + length));
    offset += length;
  } else counter = BigInt(first & 0x07);
  return { kid, counter, length: offset };
}
