import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAPROXY_PATH, testRecipe } from '../helpers/haproxy.ts';
import { TEST_CLIENT_DIR } from '../helpers/relay.ts';
import { makeCertificate, presentedCertificate, tempDir, type TestCertificate } from '../helpers/tls.ts';

const HOOK = fileURLToPath(new URL('../../docs/certbot-deploy-hook', import.meta.url));
const DOMAIN = 'teahouse.example.org';
let dir: string;
let first: TestCertificate;
let second: TestCertificate;
const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
const paths = () => ({ relay: join(dir, 'teahouse-tls'), haproxy: join(dir, 'haproxy', 'certs', 'teahouse.pem'), coturn: join(dir, 'coturn-tls') });

/**
 * The hook as written, but for its settings: every service on, its files under the test's directory, owned by
 * whoever runs the test (chown to root needs root). Each setting line must be there exactly once.
 */
function testHook(): string {
  let text = readFileSync(HOOK, 'utf8');
  const set = (name: string, value: string) => {
    const lines = text.split('\n').filter((l) => l.startsWith(`${name}=`));
    if (lines.length !== 1) throw new Error(`docs/certbot-deploy-hook: expected exactly one ${name}= line`);
    text = text.replace(lines[0]!, `${name}=${value}`);
  };
  const p = paths();
  set('relay_group', group);
  set('relay_dir', p.relay);
  set('haproxy_pem', p.haproxy);
  set('coturn_group', group);
  set('coturn_dir', p.coturn);
  set('owner', userInfo().username);
  const path = join(dir, 'hook');
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** A certbot lineage directory holding `cert` as certbot names its files. */
function lineage(name: string, cert: TestCertificate): string {
  const live = join(dir, 'live', name);
  mkdirSync(live, { recursive: true });
  copyFileSync(cert.certPath, join(live, 'fullchain.pem'));
  copyFileSync(cert.keyPath, join(live, 'privkey.pem'));
  return live;
}

/** Runs the hook with certbot's variables; a fake `systemctl` records its calls and SIGHUPs `relayPid` on a teahouse reload. */
function runHook(args: string[], env: Record<string, string>, relayPid?: number): { status: number | null; stderr: string; systemctl: string[] } {
  const bin = join(dir, 'bin');
  const log = join(dir, 'systemctl.log');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'systemctl'), '#!/bin/sh\necho "$*" >> "$SYSTEMCTL_LOG"\nif [ "$2" = teahouse ] && [ -n "$RELAY_PID" ]; then kill -HUP "$RELAY_PID"; fi\n');
  chmodSync(join(bin, 'systemctl'), 0o755);
  rmSync(log, { force: true });
  const result = spawnSync(testHook(), args, {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}`, SYSTEMCTL_LOG: log, ...(relayPid ? { RELAY_PID: String(relayPid) } : {}), ...env },
  });
  return { status: result.status, stderr: result.stderr, systemctl: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
}

function haproxyCheck(pem: string): string {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, testRecipe({ https: 1443, http: 1080, relay: 3000 }, pem));
  const check = spawnSync(HAPROXY_PATH, ['-c', '-f', cfg], { encoding: 'utf8' });
  expect(check.status).toBe(0);
  return check.stdout + check.stderr;
}

const mode = (path: string) => statSync(path).mode & 0o777;

beforeAll(() => {
  dir = tempDir('deploy-hook');
  first = makeCertificate(dir, DOMAIN, 'first');
  second = makeCertificate(dir, DOMAIN, 'second');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('docs/certbot-deploy-hook', () => {
  it('--placeholder writes a self-signed PEM with which HAProxy starts on the recipe (the first certificate comes through it)', () => {
    const result = runHook(['--placeholder'], {});
    expect(result).toMatchObject({ status: 0, systemctl: [] });
    const pem = readFileSync(paths().haproxy, 'utf8');
    expect(pem).toMatch(/BEGIN CERTIFICATE[\s\S]*BEGIN PRIVATE KEY/);
    expect(mode(paths().haproxy)).toBe(0o600);
    expect(haproxyCheck(paths().haproxy)).not.toMatch(/WARNING|ALERT/);
  });

  it("refuses to run without RENEWED_LINEAGE, and leaves another domain's renewal alone", () => {
    const missing = runHook([], {});
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/RENEWED_LINEAGE/);
    const other = runHook([], { RENEWED_LINEAGE: lineage('other.example.org', second), RENEWED_DOMAINS: 'other.example.org' });
    expect(other).toMatchObject({ status: 0, systemctl: [] });
    expect(existsSync(paths().relay)).toBe(false);
  });

  it('writes each service its copy, readable by its group only, and reloads each; HAProxy accepts its PEM', () => {
    const live = lineage(DOMAIN, first);
    const result = runHook([], { RENEWED_LINEAGE: live, RENEWED_DOMAINS: `www.${DOMAIN} ${DOMAIN}` });
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ status: 0, systemctl: ['try-reload-or-restart teahouse', 'try-reload-or-restart haproxy', 'try-reload-or-restart coturn'] });
    const p = paths();
    for (const copies of [p.relay, p.coturn]) {
      expect(mode(copies)).toBe(0o750);
      expect(readFileSync(join(copies, 'fullchain.pem'), 'utf8')).toBe(readFileSync(first.certPath, 'utf8'));
      expect(readFileSync(join(copies, 'privkey.pem'), 'utf8')).toBe(readFileSync(first.keyPath, 'utf8'));
      for (const file of ['fullchain.pem', 'privkey.pem']) {
        expect(mode(join(copies, file))).toBe(0o640);
        expect(statSync(join(copies, file)).gid).toBe(process.getgid!());
      }
    }
    expect(readFileSync(p.haproxy, 'utf8')).toBe(readFileSync(first.certPath, 'utf8') + readFileSync(first.keyPath, 'utf8'));
    expect(mode(p.haproxy)).toBe(0o600);
    expect(haproxyCheck(p.haproxy)).not.toMatch(/WARNING|ALERT/);
  });

  describe("a relay with built-in TLS on the hook's copies", () => {
    let child: ChildProcess | undefined;
    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    });

    it('serves the renewed certificate once the hook has run, without a restart', async () => {
      const live = lineage(DOMAIN, first);
      expect(runHook([], { RENEWED_LINEAGE: live, RENEWED_DOMAINS: DOMAIN }).status).toBe(0);
      const { relay } = paths();
      const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
      child = spawn(process.execPath, [main], {
        env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', LOG_LEVEL: 'info', CLIENT_DIR: TEST_CLIENT_DIR, TLS_CERT: join(relay, 'fullchain.pem'), TLS_KEY: join(relay, 'privkey.pem') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await expect.poll(() => out, { timeout: 20_000 }).toMatch(/open https:\/\/127\.0\.0\.1:\d+\/ in a browser/);
      const port = Number(/open https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
      expect(await presentedCertificate(port, DOMAIN)).toBe(first.fingerprint256);

      copyFileSync(second.certPath, join(live, 'fullchain.pem'));
      copyFileSync(second.keyPath, join(live, 'privkey.pem'));
      const result = runHook([], { RENEWED_LINEAGE: live, RENEWED_DOMAINS: DOMAIN }, child.pid);
      expect(result.status).toBe(0);
      expect(result.systemctl[0]).toBe('try-reload-or-restart teahouse');
      await expect.poll(() => out).toContain('"msg":"TLS certificate reloaded"');
      expect(await presentedCertificate(port, DOMAIN)).toBe(second.fingerprint256);
      expect(child.exitCode).toBeNull();
    }, 60_000);
  });
});
