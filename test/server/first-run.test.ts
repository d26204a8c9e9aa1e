import { spawn } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeExpiredCertificate, tempDir } from '../helpers/tls.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'server/main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` until it exits, or until its stdout matches `until` (then SIGTERM, and waits for the exit). */
function run(command: string, args: string[], env: Record<string, string>, until?: RegExp): Promise<Run> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (until?.test(stdout)) child.kill('SIGTERM');
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** `npm start` as node runs it, alone on this machine: any free media port, one worker, no logs. */
function start(env: Record<string, string>, until?: RegExp): Promise<Run> {
  return run(process.execPath, [MAIN], { PORT: '0', RTC_PORT: '0', METRICS_PORT: '0', WORKERS: '1', LOG_LEVEL: 'silent', ...env }, until);
}

/** A copy of scripts/ in an otherwise empty checkout: a fresh clone before `npm run setup`. */
function freshCheckout(): string {
  const root = tempDir('fresh-clone');
  cpSync(join(ROOT, 'scripts'), join(root, 'scripts'), { recursive: true });
  return root;
}

const listening: Server[] = [];
afterEach(async () => {
  await Promise.all(listening.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function takePort(): Promise<number> {
  const server = createServer();
  listening.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('a first run explains itself in one line', () => {
  it('npm start prints the URL to open', async () => {
    const result = await start({}, /open http:\/\/127\.0\.0\.1:\d+\/ in a browser\n/);
    expect(result.stdout).toMatch(/^Teahouse relay: open http:\/\/127\.0\.0\.1:\d+\/ in a browser$/m);
    expect(result.code).toBe(0);
  });

  it('a missing client build: the relay serves, and one line says to run setup', async () => {
    const result = await start({ CLIENT_DIR: tempDir('no-client') }, /in a browser\n/);
    expect(result.stdout).toMatch(/open http:\/\/127\.0\.0\.1:\d+\/ in a browser/);
    expect(result.stderr).toMatch(/^teahouse: the client is not built \(no \S+\/index\.html\): run "npm run setup"\n$/);
    expect(result.code).toBe(0);
  });

  it('a missing mediasoup worker: one line saying to run setup, exit code 2', async () => {
    const result = await start({ MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' });
    expect(result.stderr).toMatch(/^teahouse: mediasoup worker binary not found at \/nonexistent\/mediasoup-worker: run "npm run setup".*\n$/);
    expect(result.code).toBe(2);
  });

  it('the HTTP port in use: one line naming it, exit code 2', async () => {
    const port = await takePort();
    const result = await start({ PORT: String(port) });
    expect(result.stderr).toBe(`teahouse: port ${port} is in use (another relay?); stop it or set PORT to a free one\n`);
    expect(result.code).toBe(2);
  });

  it('the media port in use (a second npm start): one line naming it, exit code 2', async () => {
    const port = await takePort();
    const result = await start({ RTC_PORT: String(port) });
    expect(result.stderr).toMatch(new RegExp(`^teahouse: worker 0 could not listen on its media port \\(udp ${port}, tcp ${port}\\)[^\\n]*RTC_PORT[^\\n]*\\n$`));
    expect(result.code).toBe(2);
  });

  it('each nonsense value: one line naming the variable, exit code 2, nothing secret in it', async () => {
    const password = 'k9/Zq+Vx=Tj3Lm8Pw2RtYb';
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: '0x10' }, /^teahouse: PORT must be a non-negative decimal integer/],
      [{ HOST: 'localhost' }, /^teahouse: HOST must be an IP address/],
      [{ HOST: '192.0.2.77' }, /^teahouse: HOST 192\.0\.2\.77 is not an address of this machine/],
      [{ RTC_LISTEN_IP: '999.1.1.1' }, /^teahouse: RTC_LISTEN_IP must be an IP address/],
      [{ ANNOUNCED_IP: '300.1.1.1' }, /^teahouse: ANNOUNCED_IP must be an IP address/],
      [{ DISCONNECT_GRACE_MS: '3000000000' }, /^teahouse: DISCONNECT_GRACE_MS must be between 0 and 2147483647/],
      [{ AWAY_GRACE_MS: '9000', DISCONNECT_GRACE_MS: '1000' }, /^teahouse: AWAY_GRACE_MS \(9000\) must be at most DISCONNECT_GRACE_MS/],
      [{ REDIS_URL: `redis://:${password}@127.0.0.1:6379` }, /^teahouse: REDIS_URL must be redis:\/\//],
      [{ TLS_CERT: '/nonexistent/cert.pem', TLS_KEY: '/nonexistent/key.pem' }, /^teahouse: TLS_CERT \/nonexistent\/cert\.pem cannot be read: ENOENT/],
    ];
    const results = await Promise.all(cases.map(([env]) => start(env)));
    for (const [i, [env, line]] of cases.entries()) {
      const result = results[i]!;
      expect(result.stderr, JSON.stringify(env)).toMatch(new RegExp(`${line.source}[^\n]*\n$`));
      expect(result.code, JSON.stringify(env)).toBe(2);
      for (const part of password.split(/[/+=]/)) expect(result.stderr + result.stdout).not.toContain(part);
    }
  }, 120_000);

  it('the metrics port in use: one line naming it, exit code 2', async () => {
    const port = await takePort();
    const result = await start({ PORT: '0', METRICS_PORT: String(port) });
    expect(result.stderr).toBe(`teahouse: cannot listen for metrics on 127.0.0.1:${port} (EADDRINUSE): set METRICS_PORT to a free port\n`);
    expect(result.code).toBe(2);
  });

  it('npm run config:check: validates without starting, one line either way', async () => {
    const good = await run(process.execPath, [MAIN, '--check'], { PORT: '8080', REDIS_URL: 'redis://:pw@127.0.0.1:6379', REDIS_URI: 'x' });
    expect(good.stdout).toBe('teahouse: configuration ok (port 8080, metrics 127.0.0.1:9464, cluster mode)\n');
    expect(good.stderr).toBe('teahouse: warning: REDIS_URI is not a Teahouse variable: did you mean REDIS_URL?\n');
    expect(good.code).toBe(0);
    const bad = await run(process.execPath, [MAIN, '--check'], { PORT: '65536' });
    expect(bad.stderr).toBe('teahouse: PORT must be between 0 and 65535, got 65536\n');
    expect(bad.code).toBe(2);
  });

  it('an expired certificate: config:check and a start each warn once with its date, and neither refuses it', async () => {
    const dir = tempDir('expired');
    try {
      const { certPath, keyPath } = makeExpiredCertificate(dir, 'teahouse.test');
      const tls = { TLS_CERT: certPath, TLS_KEY: keyPath, PORT: '8443' };
      const checked = await run(process.execPath, [MAIN, '--check'], tls);
      expect(checked.stderr).toBe('teahouse: warning: the TLS certificate expired on 2020-01-02T00:00:00.000Z\n');
      expect(checked.stdout).toBe('teahouse: configuration ok (port 8443, metrics 127.0.0.1:9464, alone, TLS until 2020-01-02T00:00:00.000Z)\n');
      expect(checked.code).toBe(0);
      // A start is not refused (a renewal and SIGHUP fix it without a restart); its log says why browsers will refuse it.
      const started = await start({ ...tls, PORT: '0', LOG_LEVEL: 'info' }, /"msg":"TLS certificate has expired/);
      // pino's level 40 is warn.
      const warning = started.stdout.split('\n').find((line) => line.includes('TLS certificate has expired'))!;
      expect(JSON.parse(warning)).toMatchObject({ level: 40, validTo: '2020-01-02T00:00:00.000Z' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no npm packages yet: one line saying to run setup', async () => {
    const root = freshCheckout();
    const result = await run('bash', [join(root, 'scripts/run.sh'), 'server/main.ts'], { PATH: `${dirname(process.execPath)}:${process.env.PATH}` });
    expect(result.stderr).toBe(`[teahouse] error: node_modules is missing: run 'npm run setup'\n`);
    expect(result.code).toBe(1);
  });

  it('npm test with a browser path that does not exist: one line before anything runs', async () => {
    const result = await run('bash', [join(ROOT, 'scripts/test-deps.sh')], { CHROMIUM_PATH: '/nonexistent/chromium' });
    expect(result.stderr).toBe(`[teahouse] error: CHROMIUM_PATH=/nonexistent/chromium is not an executable; unset it to use Debian's chromium\n`);
    expect(result.code).toBe(1);
  });

  it('setup with a cache it cannot write: one line before any step', async () => {
    const root = freshCheckout();
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    const result = await run('bash', [join(root, 'scripts/setup.sh')], { TEAHOUSE_CACHE: join(file, 'cache') });
    expect(result.stderr).toBe(`[teahouse] error: cannot write to the cache directory ${file}/cache; set TEAHOUSE_CACHE to a writable one\n`);
    expect(result.code).toBe(1);
  });
});
