// Test helper: Debian's coturn on free loopback ports with TURN over TLS, under a throwaway CA the test makes with openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TURNSERVER_PATH = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

export interface Coturn {
  /** `turns:127.0.0.1:<port>?transport=tcp`: TURN over TLS, as a relay's TURN_URL. */
  url: string;
  /**
   * A HOME for Chromium whose NSS database trusts the test's CA, and nothing else new: Chromium checks a TURN
   * server's certificate like a web site's, and its certificate-error switches do not reach WebRTC's TLS sockets.
   */
  chromiumHome: string;
  /** Everything coturn logged so far. */
  log(): string;
  /** turnserver's process id. */
  pid: number;
  stop(): Promise<void>;
}

export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts coturn with `use-auth-secret` and waits until its TLS listener accepts connections. */
export async function startCoturn(secret: string): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), 'teahouse-coturn-'));
  const { cert, key, chromiumHome } = makeCertificate(dir);
  const [plainPort, tlsPort] = [await freeTcpPort(), await freeTcpPort()];
  const minPort = relayPorts();
  const config = [
    'listening-ip=127.0.0.1',
    'relay-ip=127.0.0.1',
    `listening-port=${plainPort}`,
    `tls-listening-port=${tlsPort}`,
    `min-port=${minPort}`,
    `max-port=${minPort + 99}`,
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    'realm=teahouse.test',
    `cert=${cert}`,
    `pkey=${key}`,
    // The relay under test listens on loopback: coturn refuses loopback peers unless told otherwise.
    'allow-loopback-peers',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `userdb=${join(dir, 'turndb')}`,
    'log-file=stdout',
    'simple-log',
    'verbose',
  ];
  return runCoturn(dir, `${config.join('\n')}\n`, [], '127.0.0.1', tlsPort, chromiumHome);
}

/** The random start of a slice of 100 high ports for coturn's relayed addresses, so instances of a test on one machine rarely meet. */
function relayPorts(): number {
  return 50_000 + Math.floor(Math.random() * 140) * 100;
}

/**
 * docs/turnserver.conf as a test runs it: coturn's and the relay's addresses become loopback ones, the TLS port, the
 * relayed ports, the secret and the certificate paths the test's. Each replaced line must be there exactly once, so
 * that a change to the recipe breaks the test instead of slipping past it. Nothing else changes, but for one added
 * line: coturn refuses loopback peers unless told, and the test's relay is on loopback (a real one has a public address).
 */
export function coturnTestRecipe(options: { ip: string; tlsPort: number; peer: string; secret: string; cert: string; key: string }): string {
  let text = readFileSync(COTURN_RECIPE, 'utf8');
  const minPort = relayPorts();
  const replace = (from: string, to: string) => {
    const lines = text.split('\n');
    if (lines.filter((l) => l === from).length !== 1) throw new Error(`docs/turnserver.conf: expected exactly one line "${from}"`);
    text = lines.map((l) => (l === from ? to : l)).join('\n');
  };
  replace('listening-ip=203.0.113.8', `listening-ip=${options.ip}`);
  replace('relay-ip=203.0.113.8', `relay-ip=${options.ip}`);
  replace('tls-listening-port=443', `tls-listening-port=${options.tlsPort}`);
  replace('min-port=49160', `min-port=${minPort}`);
  replace('max-port=49200', `max-port=${minPort + 99}`);
  replace('static-auth-secret=<a long random secret, the same as TURN_SECRET>', `static-auth-secret=${options.secret}`);
  replace('cert=/etc/coturn/tls/fullchain.pem', `cert=${options.cert}`);
  replace('pkey=/etc/coturn/tls/privkey.pem', `pkey=${options.key}`);
  replace('allowed-peer-ip=203.0.113.7', `allowed-peer-ip=${options.peer}\nallow-loopback-peers`);
  return text;
}

export const COTURN_RECIPE = fileURLToPath(new URL('../../docs/turnserver.conf', import.meta.url));

/** A CA-signed certificate for `ip` in a new directory, with the HOME whose Chromium trusts it. */
export function coturnCertificate(ip: string): { dir: string; cert: string; key: string; chromiumHome: string } {
  const dir = mkdtempSync(join(tmpdir(), 'teahouse-coturn-'));
  return { dir, ...makeCertificate(dir, ip) };
}

/**
 * Starts `turnserver -c <config> <args>` and waits until its TLS port on `ip` is taken (or gives up, if `waitForTls`
 * is false, at once: a coturn that cannot listen still runs). `stop()` removes `dir`.
 */
export async function runCoturn(dir: string, config: string, args: string[], ip: string, tlsPort: number, chromiumHome: string, waitForTls = true): Promise<Coturn> {
  const configPath = join(dir, `turnserver-${tlsPort}.conf`);
  writeFileSync(configPath, config);
  const child: ChildProcess = spawn(TURNSERVER_PATH, ['-c', configPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once the TLS port is taken.
  for (let i = 0; waitForTls; i++) {
    if (child.exitCode !== null) throw new Error(`coturn exited at start:\n${output}`);
    const taken = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true));
      probe.listen(tlsPort, ip, () => probe.close(() => resolve(false)));
    });
    if (taken) break;
    if (i > 100) {
      await stop();
      throw new Error(`coturn did not listen on ${tlsPort}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `turns:${ip}:${tlsPort}?transport=tcp`, chromiumHome, log: () => output, pid: child.pid!, stop };
}

/** A one-day CA, a certificate for `ip` it signs, and an NSS database (in a HOME of its own) that trusts the CA. */
function makeCertificate(dir: string, ip = '127.0.0.1'): { cert: string; key: string; chromiumHome: string } {
  const file = (name: string) => join(dir, name);
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', ['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=Teahouse test CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  run('openssl', ['req', ...ec, '-subj', `/CN=${ip}`, '-keyout', file('key.pem'), '-out', file('cert.csr')]);
  writeFileSync(file('leaf.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  run('openssl', ['x509', '-req', '-in', file('cert.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('leaf.ext'), '-out', file('cert.pem')]);
  const chromiumHome = file('home');
  const nssdb = join(chromiumHome, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  run('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password']);
  run('certutil', ['-A', '-d', `sql:${nssdb}`, '-t', 'C,,', '-n', 'teahouse-test-ca', '-i', file('ca.pem')]);
  return { cert: file('cert.pem'), key: file('key.pem'), chromiumHome };
}
