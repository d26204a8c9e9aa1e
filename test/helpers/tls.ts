// Test certificates: a self-signed one per run (openssl CLI), and the SPKI hash Chromium is told to trust it by.
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
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
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname},IP:127.0.0.1`,
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'pipe' });
  const spkiDer = createPublicKey(readFileSync(keyPath)).export({ type: 'spki', format: 'der' });
  const certDer = Buffer.from(readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const fingerprint256 = createHash('sha256').update(certDer).digest('hex').toUpperCase().match(/../g)!.join(':');
  return { certPath, keyPath, spki: createHash('sha256').update(spkiDer).digest('base64'), fingerprint256 };
}

/** Chromium flags that resolve `*.test` to loopback and trust the given certificates' keys for this browser only. */
export function secureOriginArgs(certificates: TestCertificate[]): string[] {
  return [
    '--host-resolver-rules=MAP *.test 127.0.0.1',
    `--ignore-certificate-errors-spki-list=${certificates.map((c) => c.spki).join(',')}`,
  ];
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
