// Vite build of the browser app: production into client/dist (what `npm start` serves), `--mode test` into client/dist-test.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

/**
 * Only `--mode test` builds carry the diagnostics (window.teahouse: epoch keys, plaintext capture) that browser tests
 * and benchmarks read; a production build has the flag false and the minifier drops that code entirely.
 */
export default defineConfig(({ mode }) => ({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  define: { __TEAHOUSE_TEST_BUILD__: JSON.stringify(mode === 'test') },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: mode === 'test' ? 'dist-test' : 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill is an inline script, which the CSP (script-src 'self') forbids.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    rolldownOptions: {
      output: {
        // libsodium (its WebAssembly inlined as base64) is most of the room's code and changes with no release of ours:
        // a chunk of its own stays cached across deploys. The first script never imports it (docs/performance.md).
        codeSplitting: { groups: [{ name: 'libsodium', test: /node_modules[\\/]libsodium/ }] },
      },
    },
  },
  worker: {
    format: 'es',
    // The E2EE Worker loads libsodium only where WebCrypto lacks Ed25519 (crypto/ed25519.ts): a chunk of its own, so
    // the Worker that every room starts stays small.
    rolldownOptions: { output: { codeSplitting: { groups: [{ name: 'libsodium', test: /node_modules[\\/]libsodium/ }] } } },
  },
}));
