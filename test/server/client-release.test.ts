import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installClientBuild } from '../../scripts/client-release.ts';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';

let root: string;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  rmSync(root, { recursive: true, force: true });
});

/** A finished build as vite leaves it: an index.html naming its entry chunk, and that chunk plus a lazy one in assets/. */
function fakeBuild(tag: string): string {
  const dir = join(root, `.staging-${tag}`);
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), `<script src="/assets/entry-${tag}.js"></script>`);
  writeFileSync(join(dir, 'assets', `entry-${tag}.js`), `import('/assets/room-${tag}.js')`);
  writeFileSync(join(dir, 'assets', `room-${tag}.js`), `// room ${tag}`);
  return dir;
}

const get = async (path: string) => {
  const res = await fetch(`${relay!.url}${path}`);
  return { status: res.status, body: await res.text() };
};

describe('atomic client update', () => {
  it('switches a running relay to the new build while pages of the previous one still load their lazy chunks', async () => {
    root = mkdtempSync(join(tmpdir(), 'teahouse-client-'));
    // Before the first release client/dist is a plain directory, as setup used to leave it.
    mkdirSync(join(root, 'dist', 'assets'), { recursive: true });
    writeFileSync(join(root, 'dist', 'index.html'), 'zero');
    writeFileSync(join(root, 'dist', 'assets', 'room-zero.js'), '// room zero');
    relay = await startTestRelay({ clientDir: join(root, 'dist') });
    expect(await get('/')).toEqual({ status: 200, body: 'zero' });

    installClientBuild(root, fakeBuild('a'), 'a');
    expect(readlinkSync(join(root, 'dist'))).toBe(join('builds', 'a'));
    expect((await get('/')).body).toContain('entry-a.js');
    // A page opened on the plain directory asks for its chunk after the switch.
    expect(await get('/assets/room-zero.js')).toEqual({ status: 200, body: '// room zero' });

    installClientBuild(root, fakeBuild('b'), 'b');
    expect((await get('/r/someroom')).body).toContain('entry-b.js');
    expect(await get('/assets/room-a.js')).toEqual({ status: 200, body: '// room a' });
    expect(await get('/assets/room-b.js')).toEqual({ status: 200, body: '// room b' });
    // One update back only: chunks carried over are not carried again, and older builds are gone.
    expect((await get('/assets/room-zero.js')).status).toBe(404);
    expect(existsSync(join(root, 'builds', 'a'))).toBe(true);
    expect(existsSync(join(root, 'builds', 'a-before'))).toBe(false);
    expect(existsSync(join(root, '.staging-b'))).toBe(false);
  });
});
