// libsodium (X25519 sealed boxes, Ed25519 signatures): imported by the first initCrypto(), which callers await before use.
import type Sodium from 'libsodium-wrappers';

// Not imported with this module: evaluating libsodium's module and starting its WebAssembly takes a couple of hundred
// ms of a page's main thread on a slow machine, and a room link's join screen needs none of it (the room's title opens
// with noble's XChaCha20). The binding is live: importers see libsodium once initCrypto() has resolved.
export let sodium: typeof Sodium;

let ready: Promise<void> | null = null;

export function initCrypto(): Promise<void> {
  ready ??= import('libsodium-wrappers').then(
    async (module) => {
      const loaded = module.default;
      await loaded.ready;
      sodium = loaded;
    },
    (error: unknown) => {
      // A page whose chunk did not load (a flaky network) tries again on the next call rather than never.
      ready = null;
      throw error;
    },
  );
  return ready;
}
