import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MediaPortError, type Relay } from '../../server/index.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay, type TestClient } from '../helpers/relay.ts';

interface Candidate {
  protocol: string;
  port: number;
  priority: number;
  tcpType?: string;
}

async function roomWithMembers(relay: Relay, n: number): Promise<TestClient[]> {
  const room = await newRoom();
  const clients = [await connect(relay)];
  await clients[0]!.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
  for (let i = 1; i < n; i++) {
    const c = await connect(relay);
    await c.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `M${i}`) });
    clients.push(c);
  }
  return clients;
}

async function candidatesOf(client: TestClient, direction: 'send' | 'recv'): Promise<Candidate[]> {
  return (await client.req('transport.create', { direction })).iceCandidates as unknown as Candidate[];
}

/** Two consecutive ports free on loopback when asked (TCP; the relay then also takes them over UDP). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port >= 65535) continue;
    const next = await new Promise<boolean>((resolve) => {
      const s = createServer()
        .once('error', () => resolve(false))
        .listen(port + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (next) return port;
  }
}

describe('one media port per worker (RTC_PORTS=single, the default)', () => {
  it('every transport of a worker is reached on the same UDP and TCP port; ICE over TCP is offered, UDP preferred', async () => {
    const relay = await startTestRelay();
    try {
      expect(relay.config.rtcPorts).toBe('single');
      const [host, guest] = await roomWithMembers(relay, 2);
      const all = [await candidatesOf(host!, 'send'), await candidatesOf(host!, 'recv'), await candidatesOf(guest!, 'recv')];
      for (const candidates of all) {
        expect(candidates.map((c) => c.protocol).sort()).toEqual(['tcp', 'udp']);
        const udp = candidates.find((c) => c.protocol === 'udp')!;
        const tcp = candidates.find((c) => c.protocol === 'tcp')!;
        expect(tcp.tcpType).toBe('passive');
        expect(udp.priority).toBeGreaterThan(tcp.priority);
      }
      const ports = (protocol: string) => new Set(all.map((cs) => cs.find((c) => c.protocol === protocol)!.port));
      expect(ports('udp').size).toBe(1);
      expect(ports('tcp').size).toBe(1);
      const dump = await relay.webRtcServers()[0]!.dump();
      expect(dump.udpSockets.map((s) => s.port)).toEqual([...ports('udp')]);
      expect(dump.tcpServers.map((s) => s.port)).toEqual([...ports('tcp')]);
      expect(dump.webRtcTransportIds).toHaveLength(3);
      host!.close();
      guest!.close();
    } finally {
      await relay.close();
    }
  });

  it('RTC_PORT fixes the ports: worker i listens on RTC_PORT + i, a replaced worker on the same one, a taken port fails the start', async () => {
    const base = await freePortPair();
    const relay = await startTestRelay({ rtcPort: base, workers: 2 });
    try {
      const dumps = await Promise.all(relay.webRtcServers().map((s) => s!.dump()));
      expect(dumps.map((d) => [d.udpSockets[0]!.port, d.tcpServers[0]!.port])).toEqual([
        [base, base],
        [base + 1, base + 1],
      ]);
      await expect(startTestRelay({ rtcPort: base })).rejects.toThrow(MediaPortError);

      const [dead] = relay.workers();
      const [host] = await roomWithMembers(relay, 1);
      const reset = host!.next('room.mediaReset', 15_000);
      process.kill(dead!.pid, 'SIGKILL');
      await reset;
      expect(relay.workers()[0]).not.toBe(dead);
      const fresh = await relay.webRtcServers()[0]!.dump();
      expect([fresh.udpSockets[0]!.port, fresh.tcpServers[0]!.port]).toEqual([base, base]);
      expect((await candidatesOf(host!, 'send')).map((c) => c.port)).toEqual([base, base]);
      host!.close();
    } finally {
      await relay.close();
    }
  }, 30_000);

  it('RTC_PORTS=range keeps the old behaviour: a UDP and a TCP port of its own per transport', async () => {
    const relay = await startTestRelay({ rtcPorts: 'range', rtcMinPort: 45000, rtcMaxPort: 59999 });
    try {
      expect(relay.webRtcServers()).toEqual([null]);
      const [host] = await roomWithMembers(relay, 1);
      const a = await candidatesOf(host!, 'send');
      const b = await candidatesOf(host!, 'recv');
      expect(a.map((c) => c.protocol).sort()).toEqual(['tcp', 'udp']);
      const udpPorts = [a, b].map((cs) => cs.find((c) => c.protocol === 'udp')!.port);
      expect(udpPorts[0]).not.toBe(udpPorts[1]);
      for (const p of udpPorts) expect(p).toBeGreaterThanOrEqual(45000);
      host!.close();
    } finally {
      await relay.close();
    }
  });
});

describe('TURN credentials (coturn use-auth-secret)', () => {
  const secret = 'test-shared-secret';

  it('a member gets its own short-lived credential, derived as coturn checks it; strangers and lobby visitors get none', async () => {
    const now = 1_900_000_000_000;
    const lines: string[] = [];
    const relay = await startTestRelay({
      turnUrls: 'turns:turn.example.org:443?transport=tcp',
      turnSecret: secret,
      turnTtlSeconds: 300,
      now: () => now,
      logLevel: 'debug',
      logDestination: { write: (line) => lines.push(line) },
    });
    try {
      const [host, guest] = await roomWithMembers(relay, 2);
      const a = (await host!.req('turn.credentials', {})).iceServers;
      const b = (await guest!.req('turn.credentials', {})).iceServers;
      expect(a).toHaveLength(1);
      expect(a[0]!.urls).toEqual(['turns:turn.example.org:443?transport=tcp']);
      for (const server of [a[0]!, b[0]!]) {
        const [expiry, tag] = server.username.split(':');
        expect(Number(expiry)).toBe(now / 1000 + 300);
        expect(tag).toMatch(/^[A-Za-z0-9_-]{16}$/);
        expect(server.credential).toBe(createHmac('sha1', secret).update(server.username).digest('base64'));
      }
      expect(a[0]!.username).not.toBe(b[0]!.username);

      const stranger = await connect(relay);
      expect(await stranger.raw('turn.credentials', {})).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
      for (const text of [secret, a[0]!.credential, a[0]!.username, b[0]!.credential]) expect(lines.join('\n')).not.toContain(text);
      for (const c of [host!, guest!, stranger]) c.close();
    } finally {
      await relay.close();
    }
  });

  it('without TURN configured the list is empty', async () => {
    const relay = await startTestRelay();
    try {
      const [host] = await roomWithMembers(relay, 1);
      expect(await host!.req('turn.credentials', {})).toEqual({ iceServers: [] });
      host!.close();
    } finally {
      await relay.close();
    }
  });
});
