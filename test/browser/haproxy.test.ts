import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { spawnSync } from 'node:child_process';
import { freePort, HAPROXY_PATH, startHaproxy, testRecipe, type Haproxy } from '../helpers/haproxy.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay } from '../helpers/relay.ts';
import { httpsGet, makeCertificate, secureOriginArgs, tempDir, type TestCertificate } from '../helpers/tls.ts';
import { launchChromium } from './chromium.ts';
import { hearEachOther, TEST_HOST } from './secure-origin.ts';

const FORGED = '203.0.113.9';
let dir: string;
let cert: TestCertificate;
let relay: Relay;
let haproxy: Haproxy | undefined;
let ports: { https: number; http: number; relay: number };
let hostBrowser: Browser;
let guestBrowser: Browser;
const logLines: string[] = [];
const handshakes: { headers: IncomingHttpHeaders; transport: () => string }[] = [];

beforeAll(async () => {
  dir = tempDir('haproxy');
  cert = makeCertificate(dir, TEST_HOST);
  const pem = join(dir, 'teahouse.pem');
  writeFileSync(pem, readFileSync(cert.certPath, 'utf8') + readFileSync(cert.keyPath, 'utf8'));
  // The relay as docs/teahouse.env sets it up behind a proxy: plain HTTP on loopback, believing only that proxy.
  relay = await startTestRelay({ trustProxy: 'loopback', logLevel: 'debug', logDestination: { write: (line) => void logLines.push(line) } });
  relay.io.on('connection', (socket) => handshakes.push({ headers: socket.handshake.headers, transport: () => socket.conn.transport.name }));
  ports = { https: await freePort(), http: await freePort(), relay: relay.port };
  haproxy = await startHaproxy(dir, testRecipe(ports, pem), ports.https);
  const args = secureOriginArgs([cert]);
  hostBrowser = await launchChromium({ toneHz: 440, args });
  guestBrowser = await launchChromium({ toneHz: 660, args });
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await haproxy?.stop();
  await relay?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('behind HAProxy (docs/haproxy.cfg): TLS ends at the proxy, the relay serves plain HTTP on loopback', () => {
  it('`haproxy -c` accepts the recipe without a warning', () => {
    const path = join(dir, 'checked.cfg');
    writeFileSync(path, testRecipe(ports, join(dir, 'teahouse.pem')));
    const check = spawnSync(HAPROXY_PATH, ['-c', '-f', path], { encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stdout + check.stderr).not.toMatch(/WARNING|ALERT/);
  });

  it('host and listener hear each other on https://teahouse.test through the proxy, signaling over a websocket', async () => {
    const { host, guest } = await hearEachOther(hostBrowser, guestBrowser, `https://${TEST_HOST}:${ports.https}`);
    expect(handshakes.length).toBeGreaterThanOrEqual(2);
    for (const { headers, transport } of handshakes) {
      expect(transport()).toBe('websocket');
      expect(headers['x-forwarded-proto']).toBe('https');
      expect(headers.host).toBe(`${TEST_HOST}:${ports.https}`);
    }
    await host.context().close();
    await guest.context().close();
  }, 120_000);

  it("nothing about clients reaches the relay or its log: forwarded addresses are dropped, HSTS follows the proxy's word", async () => {
    const ca = readFileSync(cert.certPath, 'utf8');
    const before = handshakes.length;
    const forged = { 'X-Forwarded-For': FORGED, Forwarded: `for=${FORGED}`, 'X-Real-IP': FORGED };
    const client = await connect({ url: `https://127.0.0.1:${ports.https}` }, { ca, extraHeaders: forged });
    const room = await newRoom();
    await client.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Tea') });
    client.close();
    const seen = handshakes[before]!.headers;
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(seen.forwarded).toBeUndefined();
    expect(seen['x-real-ip']).toBeUndefined();

    const page = await httpsGet(ports.https, '/', { ca, servername: TEST_HOST, headers: forged });
    expect(page.status).toBe(200);
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000');
    for (const path of ['/metrics', '/METRICS', '/Metrics', '/%6detrics', '//metrics']) {
      expect((await httpsGet(ports.https, path, { ca, servername: TEST_HOST })).status, path).toBe(404);
    }
    // Port 80 as a browser reaches it by name: sent on to HTTPS, same host and path.
    const redirect = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      get({ host: '127.0.0.1', port: ports.http, path: '/r/abc', headers: { Host: TEST_HOST } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, location: res.headers.location });
      }).on('error', reject);
    });
    expect(redirect).toEqual({ status: 301, location: `https://${TEST_HOST}/r/abc` });

    const log = logLines.join('');
    expect(logLines.length).toBeGreaterThan(0);
    for (const address of [FORGED, '127.0.0.1', '::1', '::ffff:']) expect(log).not.toContain(address);
    expect(haproxy!.output()).not.toContain('127.0.0.1');
  }, 60_000);
});
