// The production client as `npm run build:client` makes it, built into a directory of its own, and what its page loads first.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export class ClientBuildError extends Error {
  override name = 'ClientBuildError';
}

/** Builds exactly as `npm run build:client` does (no --mode, so no diagnostics), only into `outDir`. */
export function buildProductionClient(outDir: string): void {
  const env = { ...process.env };
  delete env.NODE_ENV;
  const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'client/vite.config.ts', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], { cwd: ROOT, env, encoding: 'utf8' });
  if (build.status !== 0) throw new ClientBuildError(`vite build failed (${build.status}): ${build.stderr}`);
}

/**
 * The scripts the browser fetches before the page can run, as index.html names them: the entry module and the
 * modules it preloads, as paths under `dir` (e.g. assets/index-1234.js). Everything else loads on demand.
 */
export function firstScripts(dir: string): string[] {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const entries = [...html.matchAll(/<script type="module"[^>]*\ssrc="\/([^"]+)"/g)].map((m) => m[1]!);
  const preloads = [...html.matchAll(/<link rel="modulepreload"[^>]*\shref="\/([^"]+)"/g)].map((m) => m[1]!);
  return [...entries, ...preloads];
}
