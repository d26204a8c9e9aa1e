// Atomic client update: a new build is moved in beside the running one and `client/dist` switched to it by one rename.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Each build lists the assets it made itself, so that carried-over ones are carried only once (one update back). */
const OWN_ASSETS = '.own-assets';

/**
 * Installs `built` (a finished build) as the served client in `clientRoot`: under builds/, with the previous build's
 * own assets copied in beside its own (pages loaded before the switch still fetch their lazy chunks), then `dist`
 * pointed at it by renaming a new symlink over the old one, which no request can see half done. Builds older than the
 * previous one are removed. `dist` as a plain directory (before the first release) is taken in as the previous build.
 */
export function installClientBuild(clientRoot: string, built: string, name: string): string {
  const builds = join(clientRoot, 'builds');
  const dist = join(clientRoot, 'dist');
  mkdirSync(builds, { recursive: true });
  const target = join(builds, name);
  if (existsSync(target)) throw new Error(`${target} exists already`);
  renameSync(built, target);
  const own = existsSync(join(target, 'assets')) ? readdirSync(join(target, 'assets')) : [];
  writeFileSync(join(target, OWN_ASSETS), own.join('\n'));

  let previous: string | null = null;
  if (existsSync(dist) && !lstatSync(dist).isSymbolicLink()) {
    previous = join(builds, `${name}-before`);
    renameSync(dist, previous);
  } else if (existsSync(dist)) {
    previous = join(builds, basename(readlinkSync(dist)));
  }
  if (previous) {
    const listed = join(previous, OWN_ASSETS);
    const carried = existsSync(listed) ? readFileSync(listed, 'utf8').split('\n').filter(Boolean) : existsSync(join(previous, 'assets')) ? readdirSync(join(previous, 'assets')) : [];
    mkdirSync(join(target, 'assets'), { recursive: true });
    for (const file of carried) {
      if (!own.includes(file)) cpSync(join(previous, 'assets', file), join(target, 'assets', file));
    }
  }

  const next = join(clientRoot, `.dist-${name}`);
  symlinkSync(join('builds', name), next);
  renameSync(next, dist);
  for (const old of readdirSync(builds)) {
    if (old !== name && join(builds, old) !== previous) rmSync(join(builds, old), { recursive: true, force: true });
  }
  return target;
}
