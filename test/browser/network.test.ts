import { createSocket, type Socket } from 'node:dgram';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startCoturn, type Coturn } from '../helpers/coturn.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium, launchChromiumWithPrefs } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, type PageOptions } from './pages.ts';

/** What the page's own RTCPeerConnections report: every local candidate and the pair ICE selected. */
interface PathReport {
  localCandidates: { protocol: string; candidateType: string }[];
  selected: { protocol: string; candidateType: string; relayProtocol: string | null } | null;
}

/**
 * Test-side only: records the page's RTCPeerConnections so the test can read their getStats(), and with `relayOnly`
 * makes them gather relay candidates only (iceTransportPolicy 'relay'), as a network allowing nothing but the TURN
 * server would. The page's own code, TURN servers included, is untouched.
 */
function observePeerConnections(relayOnly: boolean): PageOptions {
  return {
    before: new Function(`
      const Native = RTCPeerConnection;
      const all = [];
      window.__peerConnections = all;
      window.RTCPeerConnection = class extends Native {
        constructor(config = {}) {
          super(${relayOnly} ? { ...config, iceTransportPolicy: 'relay' } : config);
          all.push(this);
        }
      };
    `) as () => void,
  };
}

async function paths(page: Page): Promise<PathReport[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections;
    return Promise.all(
      pcs
        .filter((pc) => pc.connectionState !== 'closed')
        .map(async (pc) => {
          const stats = [...(await pc.getStats()).values()] as Record<string, unknown>[];
          const byId = new Map(stats.map((s) => [s.id as string, s]));
          const transport = stats.find((s) => s.type === 'transport');
          const pair = transport?.selectedCandidatePairId ? byId.get(transport.selectedCandidatePairId as string) : undefined;
          const local = pair ? byId.get(pair.localCandidateId as string) : undefined;
          return {
            localCandidates: stats.filter((s) => s.type === 'local-candidate').map((s) => ({ protocol: s.protocol as string, candidateType: s.candidateType as string })),
            selected: local ? { protocol: local.protocol as string, candidateType: local.candidateType as string, relayProtocol: (local.relayProtocol as string | undefined) ?? null } : null,
          };
        }),
    );
  });
}

/** The relay's view of a member's receive transport: how ICE reached it, if it did. */
function recvTuple(relay: Relay, participantId: string): { state: string; protocol: string | null } | null {
  for (const room of relay.rooms.values()) {
    const member = room.members.get(participantId);
    const transport = member && [...member.transports.values()].find((t) => t.appData.direction === 'recv');
    if (transport) return { state: transport.iceState, protocol: transport.iceSelectedTuple?.protocol ?? null };
  }
  return null;
}

/** Holds `n` consecutive UDP ports on every local address (IPv4 and IPv6), so nobody else can bind them. */
async function holdUdpPorts(n: number): Promise<{ range: string; sockets: Socket[] }> {
  for (;;) {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const socket = createSocket({ type: 'udp6', ipv6Only: false });
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(i === 0 ? 0 : sockets[0]!.address().port + i, '::', () => resolve());
        });
      }
      const first = sockets[0]!.address().port;
      return { range: `${first}-${first + n - 1}`, sockets };
    } catch {
      for (const socket of sockets) socket.close();
    }
  }
}

describe('a network that drops UDP: ICE over TCP to the single media port', () => {
  let relay: Relay;
  let hostBrowser: Browser;
  let tcpOnlyBrowser: BrowserContext;
  let held: Socket[] = [];

  beforeAll(async () => {
    relay = await startTestRelay();
    hostBrowser = await launchChromium({ toneHz: 440 });
    // How UDP is blocked: Chromium's webrtc.udp_port_range preference confines WebRTC's UDP sockets to four ports that
    // this test holds on every address, so the listener's ICE agent cannot open a single UDP socket (no host, srflx or
    // relay-over-UDP candidate) and only TCP is left. The test checks that: no UDP candidate, the selected pair TCP.
    const ports = await holdUdpPorts(4);
    held = ports.sockets;
    tcpOnlyBrowser = await launchChromiumWithPrefs({ webrtc: { udp_port_range: ports.range } });
  }, 60_000);

  afterAll(async () => {
    await hostBrowser?.close();
    await tcpOnlyBrowser?.close();
    await relay?.close();
    for (const socket of held) socket.close();
  });

  it('the listener gathers no UDP candidate, hears the host, and the selected pair is TCP on both ends', async () => {
    const { page: host, link } = await createRoom(hostBrowser, relay.url, 'No UDP here', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(tcpOnlyBrowser, link, 'Behind a firewall', observePeerConnections(false));
    await expectHears(listener, hostId, 440);

    const reports = await paths(listener);
    expect(reports.length).toBeGreaterThan(0);
    const candidates = reports.flatMap((r) => r.localCandidates);
    expect(candidates.length).toBeGreaterThan(0);
    expect(candidates.filter((c) => c.protocol !== 'tcp')).toEqual([]);
    // Host or peer-reflexive (the relay saw the connection come from 127.0.0.1): either way a direct TCP pair.
    for (const r of reports) expect(r.selected).toMatchObject({ protocol: 'tcp', candidateType: expect.stringMatching(/^(host|prflx)$/) });
    expect(recvTuple(relay, await myId(listener))).toEqual({ state: 'completed', protocol: 'tcp' });
    // The host's browser, with UDP, still connects over UDP: TCP is the fallback, not the rule.
    const hostTransport = [...[...relay.rooms.values()][0]!.members.get(hostId)!.transports.values()].find((t) => t.appData.direction === 'send')!;
    expect(hostTransport.iceSelectedTuple?.protocol).toBe('udp');
    expect(await listener.getByTestId('network-blocked').count()).toBe(0);
  }, 90_000);
});

describe('a network that allows only TLS to one host: TURN over TLS (coturn)', () => {
  const secret = 'coturn-test-secret';
  let coturn: Coturn;
  let relay: Relay;
  let staleRelay: Relay;
  let hostBrowser: Browser;
  let relayOnlyBrowser: Browser;

  beforeAll(async () => {
    coturn = await startCoturn(secret);
    relay = await startTestRelay({ turnUrls: coturn.url, turnSecret: secret, turnTtlSeconds: 600 });
    // A relay whose clock is an hour behind: every credential it mints expired 50 minutes ago.
    staleRelay = await startTestRelay({ turnUrls: coturn.url, turnSecret: secret, turnTtlSeconds: 600, now: () => Date.now() - 3_600_000 });
    hostBrowser = await launchChromium({ toneHz: 440 });
    // coturn's certificate is signed by the test's own CA, which only this browser's NSS database trusts.
    relayOnlyBrowser = await launchChromium({ home: coturn.chromiumHome });
  }, 60_000);

  afterAll(async () => {
    await hostBrowser?.close();
    await relayOnlyBrowser?.close();
    await relay?.close();
    await staleRelay?.close();
    await coturn?.stop();
  });

  it('a listener restricted to relay candidates hears the host through coturn, and coturn logged the allocation', async () => {
    const { page: host, link } = await createRoom(hostBrowser, relay.url, 'Only 443', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(relayOnlyBrowser, link, 'Hotel Wi-Fi', observePeerConnections(true));
    await expectHears(listener, hostId, 440, 30_000);

    const reports = await paths(listener);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.flatMap((r) => r.localCandidates).filter((c) => c.candidateType !== 'relay')).toEqual([]);
    for (const r of reports) expect(r.selected).toMatchObject({ candidateType: 'relay', relayProtocol: 'tls' });
    // coturn saw a TLS client allocate a relayed address with a credential the relay minted, valid for minutes.
    const allocations = [...coturn.log().matchAll(/user <(\d+):[A-Za-z0-9_-]{16}>: incoming packet ALLOCATE processed, success/g)];
    expect(allocations.length).toBeGreaterThan(0);
    for (const [, expiry] of allocations) expect(Number(expiry) * 1000).toBeGreaterThan(Date.now());
    expect(coturn.log()).toMatch(/TLS\/TCP/);
    expect(await listener.getByTestId('network-blocked').count()).toBe(0);
  }, 90_000);

  it('an expired credential is refused by coturn, and the page says the network blocks the audio connection', async () => {
    const before = coturn.log().length;
    const { page: host, link } = await createRoom(hostBrowser, staleRelay.url, 'Stale clock', 'Host');
    await myId(host);
    const listener = await joinRoom(relayOnlyBrowser, link, 'Hotel Wi-Fi', observePeerConnections(true));
    const notice = listener.getByTestId('network-blocked');
    await expect.poll(() => notice.count(), { timeout: 45_000 }).toBe(1);
    expect(await notice.textContent()).toMatch(/network blocks the audio connection/);
    const log = coturn.log().slice(before);
    expect(log).not.toMatch(/ALLOCATE processed, success/);
    // Not the usual first 401 that asks for credentials (user <>): a 401 to the expired credential itself.
    const refused = [...log.matchAll(/user <(\d+):[A-Za-z0-9_-]{16}>: incoming packet message processed, error 401/g)];
    expect(refused.length).toBeGreaterThan(0);
    for (const [, expiry] of refused) expect(Number(expiry) * 1000).toBeLessThan(Date.now());
    expect(recvTuple(staleRelay, await myId(listener))?.protocol ?? null).toBeNull();
  }, 90_000);
});
