import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { rtpPayload } from '../helpers/rtp.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, startTestRelay } from '../helpers/relay.ts';

let relay: Relay;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(() => relay?.close());

async function hostRoom(title = 'Tea') {
  const room = await newRoom();
  const host = await connect(relay);
  const joined = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, title) });
  return { room, host, joined };
}

describe('HTTP', () => {
  it('serves /healthz with security headers and no X-Powered-By, and no counts to the public', async () => {
    const res = await fetch(`${relay.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it('serves Prometheus metrics on their own address, without room or person labels', async () => {
    const { host, room } = await hostRoom();
    expect(relay.metricsUrl).not.toBe(relay.url);
    const text = await (await fetch(`${relay.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/^teahouse_rooms [1-9]/m);
    expect(text).toMatch(/^teahouse_participants\{role="host"\} [1-9]/m);
    expect(text).toMatch(/^teahouse_worker_cpu_seconds_total\{worker="0"\}/m);
    expect(text).toMatch(/^teahouse_build_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m);
    expect(text).toMatch(/^teahouse_live_workers 1$/m);
    expect(text).not.toContain(room.keys.roomId);
    await host.req('room.leave', {});
    host.close();
  });
});

describe('what the public port never shows', () => {
  it('no metrics under any spelling a proxy rule might miss', async () => {
    await hostRoom();
    for (const path of ['/metrics', '/METRICS', '/Metrics', '/metrics/', '/%6detrics', '//metrics', '/./metrics', '/metrics?x=1']) {
      const res = await fetch(`${relay.url}${path}`);
      expect(await res.text(), path).not.toMatch(/teahouse_rooms|process_cpu/);
    }
  });

  it('a malformed request gets a one-line error without a stack or a path of this machine', async () => {
    const res = await fetch(`${relay.url}/r/%`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('Bad request\n');
    for (const path of ['/%E0%A4%A', '/r/%ZZ', '/assets/%']) {
      expect(await (await fetch(`${relay.url}${path}`)).text(), path).toMatch(/^(Bad request|Not found)\n$/);
    }
  });

  it('readiness is a verdict only: no counts of rooms, members or workers', async () => {
    await hostRoom();
    const res = await fetch(`${relay.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
    expect(await (await fetch(`${relay.url}/livez`)).json()).toEqual({ status: 'ok' });
  });
});

describe('the source (AGPL section 13)', () => {
  it('/source serves the running checkout as a tar.gz, or redirects to SOURCE_URL', async () => {
    const res = await fetch(`${relay.url}/source`);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    const elsewhere = await startTestRelay({ sourceUrl: 'https://example.org/teahouse.tar.gz' });
    const moved = await fetch(`${elsewhere.url}/source`, { redirect: 'manual' });
    expect(moved.status).toBe(302);
    expect(moved.headers.get('location')).toBe('https://example.org/teahouse.tar.gz');
    await elsewhere.close();
  });
});

describe('rooms', () => {
  it('create, peek, join, see each other, and vanish when empty', async () => {
    const { room, host, joined } = await hostRoom('Evening tea');
    expect(joined.role).toBe('host');
    expect(JSON.stringify(joined.routerRtpCapabilities)).not.toContain('ssrc-audio-level');
    const guest = await connect(relay);
    const peek = await guest.req('room.peek', { roomId: room.keys.roomId });
    expect(peek).toMatchObject({ exists: true, locked: false, sealedTitle: joined.room.sealedTitle });
    const seen = host.next('peer.joined');
    const g = await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') });
    if ('lobby' in g) throw new Error('unexpected lobby');
    expect(g.role).toBe('listener');
    expect(g.room.participants.map((p) => p.role).sort()).toEqual(['host', 'listener']);
    expect((await seen).participant.participantId).toBe(g.participantId);
    await expect(guest.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'x'), sealedTitle: sealedTitle(room, 't') })).rejects.toMatchObject({ code: 'ALREADY_IN_ROOM' });

    const left = guest.next('peer.left');
    await host.req('room.leave', {});
    expect(await left).toMatchObject({ participantId: joined.participantId, reason: 'left' });
    await guest.req('room.leave', {});
    expect(relay.rooms.has(room.keys.roomId)).toBe(false);
    expect(await guest.req('room.peek', { roomId: room.keys.roomId })).toMatchObject({ exists: false });
    await expect(guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') })).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
    host.close();
    guest.close();
  });

  it('a room also vanishes when its last member disconnects', async () => {
    const { room, host } = await hostRoom();
    host.close();
    await expect.poll(() => relay.rooms.has(room.keys.roomId)).toBe(false);
  });

  it('transports, a producer and a consumer through signaling', async () => {
    const { room, host } = await hostRoom();
    const send = await host.req('transport.create', { direction: 'send' });
    expect(send.iceCandidates.length).toBeGreaterThan(0);
    expect(send.iceCandidates.every((c) => c.address === '127.0.0.1' || c.ip === '127.0.0.1')).toBe(true);
    const guest = await connect(relay);
    await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') });
    const added = guest.next('producer.added');
    const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    // The speaker's stream certificate goes with its producer, unchanged, wherever a listener learns of it.
    expect(await added).toMatchObject({ producerId, participantId: expect.any(String), streamCertificate: STREAM_CERTIFICATE });
    await expect(guest.req('consumer.create', { producerId, rtpCapabilities: {} })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await guest.req('transport.create', { direction: 'recv' });
    const caps = relay.rooms.get(room.keys.roomId)!.router.rtpCapabilities as unknown as Record<string, unknown>;
    const consumer = await guest.req('consumer.create', { producerId, rtpCapabilities: caps });
    expect(consumer).toMatchObject({ producerId, kind: 'audio', streamCertificate: STREAM_CERTIFICATE });
    await guest.req('consumer.resume', { consumerId: consumer.consumerId });
    const member = [...relay.rooms.get(room.keys.roomId)!.members.values()].find((m) => m.consumers.size === 1)!;
    expect(member.consumers.get(consumer.consumerId)!.paused).toBe(false);
    host.close();
    guest.close();
  });

  it('room.join with `receive` carries the receive transport and a paused consumer of each producer', async () => {
    const { room, host } = await hostRoom();
    const send = await host.req('transport.create', { direction: 'send' });
    const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    const caps = relay.rooms.get(room.keys.roomId)!.router.rtpCapabilities as unknown as Record<string, unknown>;
    const guest = await connect(relay);
    const g = await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest'), receive: { rtpCapabilities: caps } });
    if ('lobby' in g) throw new Error('unexpected lobby');
    expect(g.receive!.consumers).toEqual([expect.objectContaining({ producerId, participantId: g.room.participants.find((p) => p.role === 'host')!.participantId, streamCertificate: STREAM_CERTIFICATE })]);
    const member = relay.rooms.get(room.keys.roomId)!.members.get(g.participantId)!;
    expect([...member.transports.keys()]).toEqual([g.receive!.transport.transportId]);
    expect(member.consumers.get(g.receive!.consumers[0]!.consumerId)!.paused).toBe(true);
    // The transport is the member's own: it connects and its consumer resumes like any other.
    await guest.req('consumer.resume', { consumerId: g.receive!.consumers[0]!.consumerId });
    expect(member.consumers.get(g.receive!.consumers[0]!.consumerId)!.paused).toBe(false);
    // Capabilities that cannot receive the room leave `receive` out; the join itself stands.
    const other = await connect(relay);
    const o = await other.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Other'), receive: { rtpCapabilities: {} } });
    if ('lobby' in o) throw new Error('unexpected lobby');
    expect(o.receive).toBeUndefined();
    host.close();
    guest.close();
    other.close();
  });

  it('RTP flows through a room router over a PlainTransport pair on loopback', async () => {
    const { room, host } = await hostRoom();
    const router = relay.rooms.get(room.keys.roomId)!.router;
    const input = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS });
    const output = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    await output.connect({ ip: '127.0.0.1', port: sink.address().port });
    const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    const src = createSocket('udp4');
    for (let i = 0; i < 20; i++) {
      const packet = Buffer.alloc(12 + 40, i);
      packet[0] = 0x80;
      packet[1] = 111;
      packet.writeUInt16BE(i, 2);
      packet.writeUInt32BE(i * 960, 4);
      packet.writeUInt32BE(11111111, 8);
      src.send(packet, input.tuple.localPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect.poll(() => got.length).toBeGreaterThanOrEqual(18);
    for (const packet of got) {
      const payload = rtpPayload(packet);
      expect(payload.length).toBe(40);
      expect(new Set(payload).size).toBe(1);
      expect(packet.readUInt32BE(8)).toBe(consumer.rtpParameters.encodings![0]!.ssrc);
    }
    src.close();
    sink.close();
    host.close();
  });
});
