import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { coturnCertificate, coturnTestRecipe, freeTcpPort, runCoturn, type Coturn } from '../helpers/coturn.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId } from './pages.ts';

// coturn listens and relays on a loopback address of its own, so that 127.0.0.1 in its log could only be a client
// (the browsers) or the Teahouse relay (its one allowed peer): the recipe must log neither with an address and port.
const COTURN_IP = '127.0.0.2';
const secret = `recipe-secret-${Math.random().toString(36).slice(2)}`;
// Debian's coturn.service passes --pidfile= (none); the test keeps coturn's user database in its own directory.
const debianArgs = (dir: string) => ['--pidfile=', `--userdb=${join(dir, 'turndb')}`];

/** docs/coturn.service.conf's ExecStartPost check, as the shell systemd starts would run it ($$ is systemd's $). */
function startPostCheck(): string {
  const unit = readFileSync(new URL('../../docs/coturn.service.conf', import.meta.url), 'utf8');
  const line = unit.split('\n').filter((l) => l.startsWith('ExecStartPost=/bin/sh -c '));
  expect(line).toHaveLength(1);
  return line[0]!.slice('ExecStartPost=/bin/sh -c '.length).replace(/^'|'$/g, '').replaceAll('$$', '$');
}

function runCheck(pid: number): { status: number | null; stderr: string } {
  const result = spawnSync('/bin/sh', ['-c', startPostCheck()], { env: { ...process.env, MAINPID: String(pid) }, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

/** Test-side only: the page's RTCPeerConnections gather relay candidates only, as on a network allowing nothing but TURN. */
const relayOnly = {
  before: new Function(`
    const Native = RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
      constructor(config = {}) { super({ ...config, iceTransportPolicy: 'relay' }); }
    };
  `) as () => void,
};

describe("docs/turnserver.conf run as written: TURN over TLS with the relay's time-limited credentials", () => {
  let coturn: Coturn;
  let relay: Relay;
  let hostBrowser: Browser;
  let relayOnlyBrowser: Browser;

  beforeAll(async () => {
    const { dir, cert, key, chromiumHome } = coturnCertificate(COTURN_IP);
    const tlsPort = await freeTcpPort();
    const config = coturnTestRecipe({ ip: COTURN_IP, tlsPort, peer: '127.0.0.1', secret, cert, key });
    coturn = await runCoturn(dir, config, debianArgs(dir), COTURN_IP, tlsPort, chromiumHome);
    relay = await startTestRelay({ turnUrls: coturn.url, turnSecret: secret, turnTtlSeconds: 600 });
    hostBrowser = await launchChromium({ toneHz: 440 });
    relayOnlyBrowser = await launchChromium({ home: coturn.chromiumHome });
  }, 60_000);

  afterAll(async () => {
    await hostBrowser?.close();
    await relayOnlyBrowser?.close();
    await relay?.close();
    await coturn?.stop();
  });

  it('a listener allowed only relay candidates hears the host through coturn; coturn logged no address and no secret', async () => {
    const { page: host, link } = await createRoom(hostBrowser, relay.url, 'Only 443', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(relayOnlyBrowser, link, 'Hotel Wi-Fi', relayOnly);
    await expectHears(listener, hostId, 440, 30_000);

    // The relay's side of the listener's receive transport: reached from coturn's relayed address, not the browser.
    const member = [...relay.rooms.values()][0]!.members.get(await myId(listener))!;
    const recv = [...member.transports.values()].find((t) => t.appData.direction === 'recv')!;
    expect(recv.iceSelectedTuple).toMatchObject({ remoteIp: COTURN_IP, protocol: 'udp' });

    const log = coturn.log();
    expect(log).toMatch(/Relay ports initialization done/);
    expect(log).not.toMatch(/127\.0\.0\.1:\d+/);
    expect(log).not.toMatch(/remote|connected to/);
    expect(log).not.toContain(secret);
  }, 90_000);

  it("the drop-in's start check passes while coturn listens", () => {
    expect(runCheck(coturn.pid)).toEqual({ status: 0, stderr: '' });
  });
});

describe('docs/coturn.service.conf: a coturn that listens on nothing fails its start', () => {
  it('with an unreadable key coturn only warns and runs on; the start check fails with one line', async () => {
    const { dir, cert, chromiumHome } = coturnCertificate(COTURN_IP);
    const tlsPort = await freeTcpPort();
    const config = coturnTestRecipe({ ip: COTURN_IP, tlsPort, peer: '127.0.0.1', secret, cert, key: join(dir, 'missing', 'privkey.pem') });
    const coturn = await runCoturn(dir, config, debianArgs(dir), COTURN_IP, tlsPort, chromiumHome, false);
    try {
      await expect.poll(() => coturn.log(), { timeout: 10_000 }).toMatch(/cannot start TLS and DTLS listeners/);
      const check = runCheck(coturn.pid);
      expect(check.status).toBe(1);
      expect(check.stderr).toBe('coturn listens on no TLS port: see journalctl -u coturn\n');
    } finally {
      await coturn.stop();
    }
  }, 30_000);
});
