// The SFrame base key of one sender in one epoch: apart from the epoch's schedule (epoch-keys.ts), which needs libsodium,
// so that the E2EE Worker, which needs only this, loads no libsodium where WebCrypto has Ed25519.
import { bigEndian, concat } from './bytes.ts';
import { deriveLabelled } from './kdf.ts';

export function deriveSenderBaseKey(epochSecret: Uint8Array, senderIndex: number, suite: number): Uint8Array {
  return deriveLabelled(epochSecret, 'sender-base-key', 32, concat(bigEndian(senderIndex, 2), bigEndian(suite, 2)));
}
