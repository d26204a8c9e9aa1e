// Test helper: Debian's coturn on free loopback ports with TURN over TLS, under a throwaway CA the test makes with openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  stop(): Promise<void>;
}

async function freeTcpPort(): Promise<number> {
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
  // Relayed addresses: a random slice of the high ports, so instances of this test on one machine rarely meet.
  const minPort = 50_000 + Math.floor(Math.random() * 140) * 100;
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
  const configPath = join(dir, 'turnserver.conf');
  writeFileSync(configPath, `${config.join('\n')}\n`);
  const child: ChildProcess = spawn(TURNSERVER_PATH, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`coturn exited at start:\n${output}`);
    const taken = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true));
      probe.listen(tlsPort, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (taken) break;
    if (i > 100) {
      await stop();
      throw new Error(`coturn did not listen on ${tlsPort}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `turns:127.0.0.1:${tlsPort}?transport=tcp`, chromiumHome, log: () => output, stop };
}

/** A one-day CA, a certificate for 127.0.0.1 it signs, and an NSS database (in a HOME of its own) that trusts the CA. */
function makeCertificate(dir: string): { cert: string; key: string; chromiumHome: string } {
  const file = (name: string) => join(dir, name);
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', ['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=Teahouse test CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  run('openssl', ['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', file('key.pem'), '-out', file('cert.csr')]);
  writeFileSync(file('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  run('openssl', ['x509', '-req', '-in', file('cert.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('leaf.ext'), '-out', file('cert.pem')]);
  const chromiumHome = file('home');
  const nssdb = join(chromiumHome, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  run('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password']);
  run('certutil', ['-A', '-d', `sql:${nssdb}`, '-t', 'C,,', '-n', 'teahouse-test-ca', '-i', file('ca.pem')]);
  return { cert: file('cert.pem'), key: file('key.pem'), chromiumHome };
}
