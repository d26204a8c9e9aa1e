// TLS_CERT / TLS_KEY: reads and checks the PEM files, so a bad file stops the relay at start instead of half-serving.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from '../config.ts';

/** A certificate or key file that cannot be read or used; a ConfigError, so `npm start` exits with its message. */
export class TlsFileError extends ConfigError {
  override name = 'TlsFileError';
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's expiry, for the log: renewals are easy to forget. */
  validTo: Date;
}

function read(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TlsFileError(`${variable} ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Reads both files and proves they make a working TLS context: a PEM certificate and the private key that matches it. */
export function loadTlsFiles(certPath: string, keyPath: string): TlsFiles {
  const cert = read('TLS_CERT', certPath);
  const key = read('TLS_KEY', keyPath);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError(`TLS_CERT ${certPath} is not a PEM certificate`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const reason = (error as Error).message;
    if (/mismatch/i.test(reason)) throw new TlsFileError(`TLS_KEY ${keyPath} is not the private key of the certificate in TLS_CERT ${certPath}`);
    throw new TlsFileError(`TLS_KEY ${keyPath} is not a usable PEM private key (${reason})`);
  }
  return { cert, key, validTo: new Date(leaf.validTo) };
}
