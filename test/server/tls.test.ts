import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, TlsFileError, type Relay } from '../../server/index.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay } from '../helpers/relay.ts';
import { httpsGet, makeCertificate, presentedCertificate, tempDir, type TestCertificate } from '../helpers/tls.ts';

const HOST = 'teahouse.test';
let dir: string;
let first: TestCertificate;
let second: TestCertificate;
const relays: Relay[] = [];

beforeAll(() => {
  dir = tempDir('tls');
  first = makeCertificate(dir, HOST, 'first');
  second = makeCertificate(dir, HOST, 'second');
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function relayWith(options: Parameters<typeof startTestRelay>[0]): Promise<Relay> {
  const relay = await startTestRelay(options);
  relays.push(relay);
  return relay;
}

describe('built-in HTTPS (TLS_CERT, TLS_KEY)', () => {
  it('serves HTTPS and secure websockets on PORT, with HSTS', async () => {
    const relay = await relayWith({ tlsCert: first.certPath, tlsKey: first.keyPath });
    expect(relay.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await httpsGet(relay.port, '/healthz', { ca: readFileSync(first.certPath, 'utf8'), servername: HOST });
    expect(res).toMatchObject({ status: 200, fingerprint256: first.fingerprint256 });
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
    const client = await connect(relay, { ca: readFileSync(first.certPath, 'utf8') });
    const room = await newRoom();
    await client.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Tea') });
    expect(relay.rooms.size).toBe(1);
    client.close();
  });

  it('plain HTTP sends no HSTS, and believes no client that claims X-Forwarded-Proto: https', async () => {
    const relay = await relayWith({});
    const res = await fetch(`${relay.url}/healthz`, { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('behind a proxy named in TRUST_PROXY, its X-Forwarded-Proto: https turns HSTS on', async () => {
    const relay = await relayWith({ trustProxy: 'loopback' });
    const viaProxy = await fetch(`${relay.url}/healthz`, { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(viaProxy.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const plain = await fetch(`${relay.url}/healthz`);
    expect(plain.headers.get('strict-transport-security')).toBeNull();
    const elsewhere = await relayWith({ trustProxy: '10.0.0.5' });
    const untrusted = await fetch(`${elsewhere.url}/healthz`, { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(untrusted.headers.get('strict-transport-security')).toBeNull();
  });

  it('refuses to start with a missing, malformed or mismatched file, naming it', async () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const cases: [string, string, RegExp][] = [
      [join(dir, 'absent.crt'), first.keyPath, /TLS_CERT .*absent\.crt cannot be read: ENOENT/],
      [first.certPath, join(dir, 'absent.key'), /TLS_KEY .*absent\.key cannot be read: ENOENT/],
      [garbage, first.keyPath, /TLS_CERT .*garbage\.pem is not a PEM certificate/],
      [first.certPath, garbage, /TLS_KEY .*garbage\.pem is not a usable PEM private key/],
      [first.certPath, second.keyPath, /TLS_KEY .*second\.key is not the private key of the certificate/],
    ];
    for (const [tlsCert, tlsKey, message] of cases) {
      const attempt = startRelay({ port: 0, workers: 1, logLevel: 'silent', tlsCert, tlsKey });
      await expect(attempt).rejects.toThrow(TlsFileError);
      await expect(attempt).rejects.toThrow(message);
    }
  });

  it('reloadTls: new connections get the new certificate, a room in progress goes on; a bad file keeps the old one', async () => {
    const live = join(dir, 'live');
    copyFileSync(first.certPath, `${live}.crt`);
    copyFileSync(first.keyPath, `${live}.key`);
    const relay = await relayWith({ tlsCert: `${live}.crt`, tlsKey: `${live}.key` });
    const ca = [readFileSync(first.certPath, 'utf8'), readFileSync(second.certPath, 'utf8')];
    const host = await connect(relay, { ca });
    const room = await newRoom();
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Tea') });
    expect(await presentedCertificate(relay.port, HOST)).toBe(first.fingerprint256);

    copyFileSync(second.certPath, `${live}.crt`);
    copyFileSync(second.keyPath, `${live}.key`);
    relay.reloadTls();
    expect(await presentedCertificate(relay.port, HOST)).toBe(second.fingerprint256);
    const guest = await connect(relay, { ca });
    const peerJoined = host.next('peer.joined');
    await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') });
    await peerJoined;
    expect(host.socket.connected).toBe(true);

    writeFileSync(`${live}.crt`, 'half-written renewal\n');
    expect(() => relay.reloadTls()).toThrow(TlsFileError);
    expect(await presentedCertificate(relay.port, HOST)).toBe(second.fingerprint256);
    host.close();
    guest.close();
  });
});

describe('npm start with TLS', () => {
  it('a bad certificate file is a clear message and a non-zero exit, before anything listens', async () => {
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', TLS_CERT: join(dir, 'absent.crt'), TLS_KEY: first.keyPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/^teahouse: TLS_CERT \S+absent\.crt cannot be read: ENOENT$/m);
    expect(stdout).not.toContain('relay listening');
  });
});
