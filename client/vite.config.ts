// Vite build of the browser app: production into client/dist (what `npm start` serves), `--mode test` into client/dist-test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin, type Rollup } from 'vite';

/** The modules a room needs (client/src/ui/room-modules.ts loads them), in the bundle's file names. */
const ROOM_MODULES = [/[\\/]client[\\/]src[\\/]session[\\/]room-session\.ts$/, /[\\/]client[\\/]src[\\/]ui[\\/]room\.tsx$/];

/**
 * room.html, served for room links: index.html plus a modulepreload of every chunk a room needs, so that a link opened
 * fetches and compiles the room's code beside the first script instead of after the first render. The home page keeps
 * loading them when idle, so that on a slow network they do not compete with it.
 */
function roomPage(): Plugin {
  return {
    name: 'teahouse-room-page',
    apply: 'build',
    writeBundle(options, bundle: Rollup.OutputBundle) {
      const index = bundle['index.html'];
      if (!options.dir || index?.type !== 'asset') return;
      const chunks = Object.values(bundle).filter((item): item is Rollup.OutputChunk => item.type === 'chunk');
      const byName = new Map(chunks.map((chunk) => [chunk.fileName, chunk]));
      const loaded = new Set<string>();
      const walk = (chunk: Rollup.OutputChunk, into: Set<string>) => {
        if (into.has(chunk.fileName)) return;
        into.add(chunk.fileName);
        for (const name of chunk.imports) walk(byName.get(name)!, into);
      };
      for (const entry of chunks.filter((chunk) => chunk.isEntry)) walk(entry, loaded);
      const wanted = new Set<string>();
      for (const pattern of ROOM_MODULES) {
        const facade = chunks.find((chunk) => chunk.facadeModuleId && pattern.test(chunk.facadeModuleId));
        if (!facade) throw new Error(`room.html: no chunk for ${pattern}`);
        walk(facade, wanted);
      }
      // libsodium is imported only once the join screen shows (crypto/sodium.ts), but fetched and compiled with the
      // rest, so that its import then costs only its evaluation, as it did when it was a static import.
      for (const name of [...loaded, ...wanted]) for (const dynamic of byName.get(name)!.dynamicImports) if (byName.get(dynamic)?.name === 'libsodium') wanted.add(dynamic);
      const links = [...wanted].filter((name) => !loaded.has(name)).map((name) => `  <link rel="modulepreload" crossorigin href="/${name}">`);
      const html = String(index.source).replace(/\n(\s*)<\/head>/, (head, indent: string) => `\n${links.map((link) => indent + link).join('\n')}${head}`);
      writeFileSync(join(options.dir, 'room.html'), html);
    },
  };
}

/**
 * Only `--mode test` builds carry the diagnostics (window.teahouse: epoch keys, plaintext capture) that browser tests
 * and benchmarks read; a production build has the flag false and the minifier drops that code entirely.
 */
export default defineConfig(({ mode }) => ({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  define: { __TEAHOUSE_TEST_BUILD__: JSON.stringify(mode === 'test') },
  plugins: [roomPage()],
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
