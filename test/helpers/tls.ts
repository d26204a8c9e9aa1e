// Test certificates: a self-signed one per run (openssl CLI), and the SPKI hash Chromium is told to trust it by.
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  certPath: string;
  keyPath: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: `--ignore-certificate-errors-spki-list` trusts exactly this key. */
  spki: string;
  /** SHA-256 fingerprint of the certificate, as node's getPeerCertificate().fingerprint256 prints it. */
  fingerprint256: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `teahouse-${prefix}-`));
}

/** A P-256 self-signed certificate for `hostname`, valid two days, written into `dir` as `<name>.crt` and `<name>.key`. */
export function makeCertificate(dir: string, hostname: string, name = 'server'): TestCertificate {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname},IP:127.0.0.1`, '-keyout', keyPath, '-out', certPath],
    { stdio: 'pipe' },
  );
  const spkiDer = createPublicKey(readFileSync(keyPath)).export({ type: 'spki', format: 'der' });
  const certDer = Buffer.from(readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const fingerprint256 = createHash('sha256').update(certDer).digest('hex').toUpperCase().match(/../g)!.join(':');
  return { certPath, keyPath, spki: createHash('sha256').update(spkiDer).digest('base64'), fingerprint256 };
}

/**
 * A P-256 self-signed certificate for `hostname` that expired on 2020-01-02 (valid one day from 2020-01-01), written
 * into `dir` as `expired.crt` and `expired.key`: `openssl ca` is the one command of OpenSSL 3.0 that takes dates.
 */
export function makeExpiredCertificate(dir: string, hostname: string): { certPath: string; keyPath: string } {
  const file = (name: string) => join(dir, name);
  writeFileSync(file('index.txt'), '');
  writeFileSync(file('serial'), '01\n');
  writeFileSync(
    file('ca.cnf'),
    [
      '[ca]',
      'default_ca = expired',
      '[expired]',
      `database = ${file('index.txt')}`,
      `serial = ${file('serial')}`,
      `new_certs_dir = ${dir}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const keyPath = file('expired.key');
  const certPath = file('expired.crt');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${hostname}`, '-keyout', keyPath, '-out', file('expired.csr')], { stdio: 'pipe' });
  execFileSync('openssl', ['ca', '-batch', '-config', file('ca.cnf'), '-selfsign', '-keyfile', keyPath, '-in', file('expired.csr'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-out', certPath], { stdio: 'pipe' });
  return { certPath, keyPath };
}

/** Chromium flags that resolve `*.test` to loopback and trust the given certificates' keys for this browser only. */
export function secureOriginArgs(certificates: TestCertificate[]): string[] {
  return ['--host-resolver-rules=MAP *.test 127.0.0.1', `--ignore-certificate-errors-spki-list=${certificates.map((c) => c.spki).join(',')}`];
}

/** The certificate a brand-new TLS connection to `port` is given (no trust check: only which one it is). */
export function presentedCertificate(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Which certificate the server presented. */
  fingerprint256: string;
}

/** GET https://127.0.0.1:port/path trusting only `ca`, for `servername`; `headers` are sent as given. */
export function httpsGet(port: number, path: string, options: { ca: string; servername: string; headers?: Record<string, string> }): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: options.ca, servername: options.servername, headers: options.headers, agent: false }, (res) => {
      const fingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, fingerprint256 }));
    });
    req.on('error', reject);
    req.end();
  });
}
