import { createSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUnreachableError, startRelay, type Relay } from '../../server/index.ts';
import { startClusterRelay } from '../helpers/cluster.ts';
import { freePort } from '../helpers/haproxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, DECISION, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, type TestClient } from '../helpers/relay.ts';
import { rtpPayload } from '../helpers/rtp.ts';

let redis: TestRedis;
let a: Relay;
let b: Relay;
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startClusterRelay(redis.url);
  b = await startClusterRelay(redis.url);
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([a?.close(), b?.close()]);
  await redis?.stop();
});

async function redisClient() {
  const client = createClient({ url: redis.url });
  await client.connect();
  return client;
}

async function member(relay: Relay): Promise<TestClient> {
  const c = await connect(relay);
  clients.push(c);
  return c;
}

/** A room whose origin is relay A, with its host there, and a listener who joined through relay B. */
async function roomOverTwoRelays(title = 'Tea over two relays') {
  const room = await newRoom();
  const host = await member(a);
  const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host Alice'), sealedTitle: sealedTitle(room, title) });
  const guest = await member(b);
  const seen = host.next('peer.joined');
  const joined = await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest Bob') });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  return { room, host, created, guest, joined, peerJoined: await seen };
}

describe('one room over two relays', () => {
  it('a member on relay B joins a room held by relay A; each gets the other’s events and B’s member makes requests', async () => {
    const { room, host, created, guest, joined, peerJoined } = await roomOverTwoRelays();
    expect(b.rooms.has(room.keys.roomId)).toBe(false);
    // A page opening the link on B sees the room held by A: title and lock come from the origin.
    const visitor = await member(b);
    expect(await visitor.req('room.peek', { roomId: room.keys.roomId })).toEqual({ exists: true, locked: false, sealedTitle: created.room.sealedTitle, routerRtpCapabilities: created.routerRtpCapabilities });
    expect(await visitor.req('room.peek', { roomId: (await newRoom()).keys.roomId })).toMatchObject({ exists: false });
    const origin = a.rooms.get(room.keys.roomId)!;
    expect(origin.members.size).toBe(2);
    expect(peerJoined.participant.participantId).toBe(joined.participantId);
    expect(joined.room.participants.map((p) => p.participantId).sort()).toEqual([created.participantId, joined.participantId].sort());

    // B's member raises a hand (a request through B to A); A's host hears of it.
    const updated = host.next('peer.updated');
    await guest.req('hand.raise', {});
    expect((await updated).participant).toMatchObject({ participantId: joined.participantId, handRaisedSeq: expect.any(Number) });

    // A's host locks the room and sends a key commit addressed to B's member: both reach it through Redis.
    const locked = guest.next('room.updated');
    await host.req('room.lock', { locked: true, decision: DECISION });
    expect(await locked).toEqual({ locked: true });
    const commit = guest.next('key.commit');
    const sealed = 'P'.repeat(107);
    await host.req('key.commit', { commit: 'Y29tbWl0', epoch: 1, packages: [{ to: joined.participantId, package: sealed }] });
    expect(await commit).toMatchObject({ from: created.participantId, epoch: 1, package: sealed });

    // A request the origin refuses comes back to B's member as that error.
    await expect(guest.req('room.end', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // B's member cannot create or join another room while in this one.
    await expect(guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Again') })).rejects.toMatchObject({ code: 'ALREADY_IN_ROOM' });

    const left = host.next('peer.left');
    await guest.req('room.leave', {});
    expect(await left).toMatchObject({ participantId: joined.participantId, reason: 'left' });
    expect(origin.members.size).toBe(1);
  });

  it('a room id is the cluster’s: creating it again on another relay is refused', async () => {
    const { room } = await roomOverTwoRelays();
    const other = await member(b);
    await expect(other.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Mallory'), sealedTitle: sealedTitle(room, 'x') })).rejects.toMatchObject({ code: 'ROOM_EXISTS' });
  });

  it('after a link rotation on the origin, the old link is revoked on every relay and the new one opens there', async () => {
    const { room, host, guest } = await roomOverTwoRelays();
    const fresh = await newRoom();
    const rotated = guest.next('room.rotated');
    await host.req('room.rotate', { newRoomId: fresh.keys.roomId, sealedTitle: sealedTitle(fresh, 'T') });
    expect(await rotated).toEqual({ newRoomId: fresh.keys.roomId });
    const late = await member(b);
    await expect(late.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Late') })).rejects.toMatchObject({ code: 'LINK_REVOKED' });
    await expect(late.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Late'), sealedTitle: sealedTitle(room, 'x') })).rejects.toMatchObject({ code: 'ROOM_EXISTS' });
    expect(await late.req('room.join', { roomId: fresh.keys.roomId, announcement: announce(fresh, 'Late') })).toMatchObject({ role: 'listener' });
  });

  it('a room unknown to every relay is ROOM_NOT_FOUND through any relay', async () => {
    const room = await newRoom();
    const c = await member(b);
    await expect(c.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Nobody') })).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
  });

  it('a listener on relay B hears a producer on relay A through an SRTP pipe, which goes when the last listener there leaves', async () => {
    const { room, host, created, guest } = await roomOverTwoRelays();
    const origin = a.rooms.get(room.keys.roomId)!;
    // The speaker's producer: RTP into A's room router over a PlainTransport, owned by the host as producer.create would.
    const input = await origin.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await input.produce({ kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, appData: { streamCertificate: STREAM_CERTIFICATE } });
    origin.members.get(created.participantId)!.producers.set(producer.id, producer);

    await guest.req('transport.create', { direction: 'recv' });
    const caps = origin.router.rtpCapabilities as unknown as Record<string, unknown>;
    const consumer = await guest.req('consumer.create', { producerId: producer.id, rtpCapabilities: caps });
    // The certificate crosses the pipe with the producer, unchanged.
    expect(consumer).toMatchObject({ producerId: producer.id, participantId: created.participantId, kind: 'audio', streamCertificate: STREAM_CERTIFICATE });
    await guest.req('consumer.resume', { consumerId: consumer.consumerId });
    expect(a.cluster!.pipes()).toBe(1);
    expect(b.cluster!.pipes()).toBe(1);
    // Where members landed and the pipes, as each relay's metrics tell it.
    const metricsB = await (await fetch(`${b.metricsUrl}/metrics`)).text();
    const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(gauge(metricsB, 'teahouse_cluster_edge_members')).toBe(b.cluster!.edgeMembers());
    expect(b.cluster!.edgeMembers()).toBeGreaterThan(0);
    expect(gauge(metricsB, 'teahouse_cluster_pipes')).toBe(1);
    // B holds no room: the guest's receive transport and consumer live here and are counted here, not at the origin.
    expect(b.rooms.size).toBe(0);
    expect(gauge(metricsB, 'teahouse_transports')).toBeGreaterThanOrEqual(1);
    expect(gauge(metricsB, 'teahouse_consumers')).toBe(1);
    expect(metricsB).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(metricsB).toMatch(/^teahouse_cluster_redis_latency_seconds /m);
    expect(gauge(await (await fetch(`${a.metricsUrl}/metrics`)).text(), 'teahouse_cluster_remote_members')).toBe(b.cluster!.edgeMembers());

    // What reaches B's router: a PlainTransport there consumes the piped producer and hands RTP to a UDP sink.
    const edgeRouter = await b.cluster!.edgeRouter(room.keys.roomId)!;
    expect(edgeRouter).not.toBe(origin.router);
    const output = await edgeRouter.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    await output.connect({ ip: '127.0.0.1', port: sink.address().port });
    const tap = await output.consume({ producerId: producer.id, rtpCapabilities: edgeRouter.rtpCapabilities });
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    const src = createSocket('udp4');
    for (let i = 0; i < 20; i++) {
      const packet = Buffer.alloc(12 + 40, i + 1);
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
      expect(packet.readUInt32BE(8)).toBe(tap.rtpParameters.encodings![0]!.ssrc);
    }
    // The pipe between the relays runs SRTP, and the audio crossed it.
    const [originEnd] = a.cluster!.pipeTransports();
    const [edgeEnd] = b.cluster!.pipeTransports();
    expect(originEnd!.srtpParameters?.keyBase64).toBeTruthy();
    expect(edgeEnd!.srtpParameters?.keyBase64).toBeTruthy();
    expect(originEnd!.srtpParameters!.keyBase64).not.toBe(edgeEnd!.srtpParameters!.keyBase64);
    const [edgeStats] = await edgeEnd!.getStats();
    expect(edgeStats!.bytesReceived).toBeGreaterThan(18 * 40);
    src.close();
    sink.close();
    output.close();

    // Muting on A pauses the copy on B.
    const [pipedCopy] = await b.cluster!.pipedProducers();
    expect(pipedCopy!.id).toBe(producer.id);
    await producer.pause();
    await expect.poll(() => pipedCopy!.paused).toBe(true);
    await producer.resume();
    await expect.poll(() => pipedCopy!.paused).toBe(false);

    const left = host.next('peer.left');
    await guest.req('room.leave', {});
    await left;
    await expect.poll(() => a.cluster!.pipes()).toBe(0);
    await expect.poll(() => b.cluster!.pipes()).toBe(0);
    expect(b.cluster!.edgeRouter(room.keys.roomId)).toBeUndefined();
    input.close();
  });

  it('a speaker on relay B: its producer is piped to the origin, announced there, consumed on A and back on B, muted by the host, and closed', async () => {
    const { room, host, guest, joined } = await roomOverTwoRelays();
    const origin = a.rooms.get(room.keys.roomId)!;
    // A listener may not open a send transport on B, as on a relay alone.
    await expect(guest.req('transport.create', { direction: 'send' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const invited = guest.next('stage.invited');
    await host.req('stage.invite', { participantId: joined.participantId, decision: DECISION });
    await invited;
    await guest.req('stage.respond', { accept: true, decision: DECISION });

    const send = await guest.req('transport.create', { direction: 'send' });
    const added = host.next('producer.added');
    const { producerId } = await guest.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    expect(await added).toEqual({ producerId, participantId: joined.participantId, streamCertificate: STREAM_CERTIFICATE });
    // At the origin it is the speaker's microphone, in the room's router, so the host (on A) consumes it.
    expect(origin.members.get(joined.participantId)!.producers.has(producerId)).toBe(true);
    await host.req('transport.create', { direction: 'recv' });
    const caps = origin.router.rtpCapabilities as unknown as Record<string, unknown>;
    expect(await host.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId, participantId: joined.participantId, streamCertificate: STREAM_CERTIFICATE });
    // A second member on B hears it from B's own router, not through a round trip to A.
    const neighbour = await member(b);
    await neighbour.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Neighbour') });
    await neighbour.req('transport.create', { direction: 'recv' });
    expect(await neighbour.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId, participantId: joined.participantId, streamCertificate: STREAM_CERTIFICATE });

    // The host mutes the speaker: the origin's copy pauses and so does the speaker's own producer on B.
    const own = b.cluster!.speakerProducers().find((p) => p.id === producerId)!;
    expect(own.paused).toBe(false);
    await host.req('stage.mute', { participantId: joined.participantId, decision: DECISION });
    await expect.poll(() => origin.members.get(joined.participantId)!.producers.get(producerId)!.paused).toBe(true);
    await expect.poll(() => own.paused).toBe(true);

    const removed = host.next('producer.removed');
    await guest.req('producer.close', { producerId });
    expect(await removed).toMatchObject({ producerId, participantId: joined.participantId });
    expect(origin.members.get(joined.participantId)!.producers.size).toBe(0);
    expect(own.closed).toBe(true);
  });

  it('relay-to-relay messages are addressed: a third relay reads none of the room’s traffic, and an event for three members on B crosses Redis once', async () => {
    const c = await startClusterRelay(redis.url);
    const monitor = await redis.monitor();
    try {
      const { room, host, guest } = await roomOverTwoRelays();
      const guests = [guest];
      for (const name of ['Carol', 'Dan']) {
        const g = await member(b);
        await g.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, name) });
        guests.push(g);
      }
      // B answered their joins itself and tells the origin after: the lock is for members the origin has taken in.
      await expect.poll(() => a.rooms.get(room.keys.roomId)?.members.size).toBe(4);
      const updated = guests.map((g) => g.next('room.updated'));
      await host.req('room.lock', { locked: true, decision: DECISION });
      for (const u of await Promise.all(updated)) expect(u).toEqual({ locked: true });
      // Every command Redis ran until now: the write the guests already read, among them.
      const traffic = await monitor.settled();
      const writes = traffic.split('\n').filter((line) => line.includes('room.updated'));
      expect(writes).toHaveLength(1);
      expect(writes[0]).toContain(`teahouse:inbox:${b.cluster!.relayId}`);
      for (const g of guests) expect(writes[0]).toContain(g.socket.id);
      expect(c.cluster!.busTraffic().received).toBe(0);
      expect(traffic.split('\n').filter((line) => line.includes(`teahouse:inbox:${c.cluster!.relayId}`) && line.includes('NOMKSTREAM'))).toEqual([]);
    } finally {
      monitor.stop();
      await c.close();
    }
  });

  it('Redis holds ids, opaque blobs, counts and expiries only: no names, titles, keys or resume tokens', async () => {
    const { room, created, joined } = await roomOverTwoRelays('Secret title');
    await expect.poll(async () => (await redis.command('EXISTS', `teahouse:room:${room.keys.roomId}`)).trim()).toBe('1');
    const keys = (await redis.command('--scan', '--pattern', 'teahouse:*')).trim().split('\n').filter(Boolean);
    const stored: string[] = [];
    for (const key of keys) {
      const type = (await redis.command('TYPE', key)).trim();
      if (type === 'stream') {
        stored.push(await redis.command('XRANGE', key, '-', '+'));
        continue;
      }
      stored.push(await redis.command(type === 'hash' ? 'HGETALL' : 'GET', key));
      // Every directory entry expires: a dead relay leaves nothing behind.
      expect(Number((await redis.command('PTTL', key)).trim())).toBeGreaterThan(0);
    }
    const everything = stored.join('\n');
    expect(everything).toContain(created.participantId);
    expect(everything).toContain(joined.participantId);
    for (const secret of ['Secret title', 'Host Alice', 'Guest Bob', created.resumeToken, joined.resumeToken]) expect(everything).not.toContain(secret);
    for (const key of [room.keys.authKey, room.keys.metaKey, room.secret]) {
      expect(everything).not.toContain(Buffer.from(key).toString('base64url'));
      expect(everything).not.toContain(Buffer.from(key).toString('base64'));
    }
    // The record is a hash: the room's field, one per member, and the join view edges answer listeners' joins from.
    const fields = (await redis.command('HKEYS', `teahouse:room:${room.keys.roomId}`)).trim().split('\n').sort();
    expect(fields).toEqual(['meta', 'join', 'count', 'jhash', `m:${created.participantId}`, `m:${joined.participantId}`].sort());
    const view = JSON.parse(await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'join')) as Record<string, unknown>;
    expect(Object.keys(view).sort()).toEqual(['caps', 'keyBatchMs', 'stage']);
    await expect.poll(async () => JSON.parse(await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'count'))).toEqual({ audience: 1, size: 2, seq: 2 });
    const record = JSON.parse(await redis.command('HGET', `teahouse:room:${room.keys.roomId}`, 'meta')) as Record<string, unknown>;
    expect(Object.keys(record).sort()).toEqual(['banned', 'formerIds', 'lobby', 'locked', 'origin', 'sealedTitle']);
    expect(record.origin).toBe(a.cluster!.relayId);
  });

  it('a join forwarded between relays carries its resume tokens through Redis in plaintext (a limit docs/threat-model.md states)', async () => {
    // Everything Redis is asked to do while a member of relay B resumes into a room held by relay A.
    const monitor = await redis.monitor();
    try {
      const { room, joined } = await roomOverTwoRelays();
      const again = await member(b);
      const resumed = await again.req('room.join', { roomId: room.keys.roomId, announcement: joined.room.participants.find((p) => p.participantId === joined.participantId)!.announcement, resumeToken: joined.resumeToken });
      expect(resumed.participantId).toBe(joined.participantId);
      await expect.poll(() => monitor.text()).toContain(joined.resumeToken);
    } finally {
      monitor.stop();
    }
  });
});

describe('bad input between relays', () => {
  /** Publishes a relay request on A's channel as if from a relay "probe" and reads A's reply on the probe's channel. */
  async function ask(op: string, body: unknown): Promise<unknown> {
    const probe = await redisClient();
    const listener = probe.duplicate();
    await listener.connect();
    try {
      const id = Math.floor(Math.random() * 1e9);
      const reply = new Promise((resolve) =>
        listener.subscribe('teahouse:bus:probe', (text) => {
          const msg = JSON.parse(text) as { id: number; reply: unknown };
          if (msg.id === id) resolve(msg.reply);
        }),
      );
      // Subscribed before asking: a reply published to nobody is lost.
      await expect.poll(async () => Number((await probe.pubSubNumSub('teahouse:bus:probe'))['teahouse:bus:probe'])).toBe(1);
      await probe.publish(`teahouse:bus:${a.cluster!.relayId}`, JSON.stringify({ to: a.cluster!.relayId, from: 'probe', id, op, body }));
      return await reply;
    } finally {
      listener.destroy();
      probe.destroy();
    }
  }

  it('a relay refuses pipe and client requests for rooms, pipes or ops it does not know, and goes on serving', async () => {
    const room = await newRoom();
    const end = { ip: '127.0.0.1', port: 9, srtpParameters: { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: 'a2V5' } };
    expect(await ask('pipe.open', { roomId: room.keys.roomId, ...end })).toMatchObject({ ok: false, error: { code: 'ROOM_NOT_FOUND' } });
    expect(await ask('pipe.consume', { pipeId: 'nope', producerId: 'nope' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await ask('pipe.open', { roomId: 42 })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await ask('client.request', { socketId: 'x', type: 'room.join', payload: { roomId: room.keys.roomId, announcement: announce(room, 'P') } })).toMatchObject({ ok: false, error: { code: 'ROOM_NOT_FOUND' } });
    expect(await ask('client.request', { socketId: 'x', type: 'room.create', payload: {} })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MESSAGE' } });
    expect(await ask('client.request', { socketId: 'x', type: 'hand.raise', payload: {} })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    expect(await ask('relay.takeOver', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MESSAGE' } });
    const raw = await redisClient();
    await raw.publish(`teahouse:bus:${a.cluster!.relayId}`, '"not even an object"');
    await raw.publish(`teahouse:bus:${a.cluster!.relayId}`, 'not even JSON');
    await raw.xAdd(`teahouse:inbox:${a.cluster!.relayId}`, '*', { m: 'not even JSON' });
    raw.destroy();
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    const { guest } = await roomOverTwoRelays();
    expect(await guest.req('hand.raise', {})).toEqual({});
  });
});

describe('cluster configuration', () => {
  it('without REDIS_URL a relay is alone, as before', async () => {
    const alone = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent' });
    expect(alone.cluster).toBeNull();
    await alone.close();
  });

  it('a Redis that cannot be reached is a clear error at start, and `npm start` exits non-zero', async () => {
    const port = await freePort();
    await expect(startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', redisUrl: `redis://127.0.0.1:${port}` })).rejects.toBeInstanceOf(RedisUnreachableError);
    const child = spawn(process.execPath, [fileURLToPath(new URL('../../server/main.ts', import.meta.url))], {
      env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', REDIS_URL: `redis://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/teahouse: cannot reach Redis at REDIS_URL/);
  });

  it('a wrong Redis password is refused at start', async () => {
    const wrong = redis.url.replace('cluster-test-password', 'wrong');
    const refused = startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', redisUrl: wrong });
    await expect(refused).rejects.toBeInstanceOf(RedisUnreachableError);
    await expect(refused).rejects.toThrow(/WRONGPASS|invalid username-password/);
    await expect(refused).rejects.not.toThrow(/wrong/);
  });
});
