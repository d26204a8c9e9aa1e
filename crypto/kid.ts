// SFrame KID layout: the epoch in the high bits and the sender index in the low 16 bits.

export const SENDER_INDEX_BITS = 16;
export const MAX_SENDER_INDEX = (1 << SENDER_INDEX_BITS) - 1;
/** Epochs up to 2^48 - 1 keep the KID within 64 bits. */
export const MAX_EPOCH = 2 ** 48 - 1;

export function makeKid(epoch: number, senderIndex: number): bigint {
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch ${epoch} out of range`);
  if (!Number.isInteger(senderIndex) || senderIndex < 0 || senderIndex > MAX_SENDER_INDEX) throw new RangeError(`sender index ${senderIndex} out of range`);
  return (BigInt(epoch) << BigInt(SENDER_INDEX_BITS)) | BigInt(senderIndex);
}

export function parseKid(kid: bigint): { epoch: number; senderIndex: number } {
  return { epoch: Number(kid >> BigInt(SENDER_INDEX_BITS)), senderIndex: Number(kid & BigInt(MAX_SENDER_INDEX)) };
}
