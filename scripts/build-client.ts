// `npm run build:client`: builds the production client apart from the served one, then switches client/dist to it atomically.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installClientBuild } from './client-release.ts';

const clientRoot = fileURLToPath(new URL('../client', import.meta.url));
const name = new Date()
  .toISOString()
  .replace(/[^0-9]/g, '')
  .slice(0, 17);
// Outside builds/ so that a failed build never leaves a half-written directory where releases are kept.
const staging = join(clientRoot, `.staging-${name}`);
const vite = fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url));
const config = join(clientRoot, 'vite.config.ts');
const built = spawnSync(process.execPath, [vite, 'build', '--config', config, '--outDir', staging, ...process.argv.slice(2)], { stdio: 'inherit' });
if (built.status !== 0) {
  rmSync(staging, { recursive: true, force: true });
  process.exit(built.status ?? 1);
}
console.log(`client/dist -> ${installClientBuild(clientRoot, staging, name)}`);
