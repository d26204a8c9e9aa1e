// libsodium (X25519 sealed boxes, Ed25519 signatures): loaded once; callers await initCrypto() before use.
import sodium from 'libsodium-wrappers';

let ready: Promise<void> | null = null;

export function initCrypto(): Promise<void> {
  ready ??= sodium.ready;
  return ready;
}

export { sodium };
