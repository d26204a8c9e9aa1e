// A relay's death in a cluster (an edge, the origin), a SIGTERM hand-over and a Redis restart, with socket.io clients: members resume as themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { spawnClusterRelay, startClusterRelay, TEST_HEARTBEAT_MS, type RelayProcess } from '../helpers/cluster.ts';
import { alive } from '../helpers/process.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { announce, connect, DECISION, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, type TestClient } from '../helpers/relay.ts';

/** Long enough for a page to reconnect to another relay; what a member whose relay died has to come back as itself. */
const GRACE_MS = 4_000;

let redis: TestRedis;
let a: Relay;
let c: Relay;
const children: RelayProcess[] = [];
/** Relays in this process that a test started for itself. */
const extra: Relay[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS });
  c = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS });
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.allSettled(children.map((child) => child.kill('SIGKILL')));
  await Promise.allSettled([a?.close(), c?.close(), ...extra.map((r) => r.close())]);
  await redis?.stop();
});

async function member(relay: { url: string }): Promise<TestClient> {
  const client = await connect(relay);
  clients.push(client);
  return client;
}

/** A new room created on `origin` by a host that sends: its producer id is `before` (the one that dies with the origin). */
async function hostSpeakingOn(origin: { url: string }) {
  const room = await newRoom();
  const roomId = room.keys.roomId;
  const hostAnnouncement = announce(room, 'Host');
  const host = await member(origin);
  const created = await host.req('room.create', { roomId, announcement: hostAnnouncement, sealedTitle: sealedTitle(room, 'T') });
  const caps = created.routerRtpCapabilities;
  const send = await host.req('transport.create', { direction: 'send' });
  const { producerId: before } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
  return { room, roomId, hostAnnouncement, host, created, caps, before };
}

describe('a relay’s death and a Redis restart', () => {
  it('a listener whose relay is SIGKILLed resumes through another relay as the same member, and hears the host again', async () => {
    const b = await spawnClusterRelay(redis.url);
    children.push(b);
    const room = await newRoom();
    const host = await member(a);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const send = await host.req('transport.create', { direction: 'send' });
    const { producerId } = await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    const caps = a.rooms.get(room.keys.roomId)!.router.rtpCapabilities as unknown as Record<string, unknown>;

    const announcement = announce(room, 'Listener');
    const listener = await member(b);
    const joined = await listener.req('room.join', { roomId: room.keys.roomId, announcement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await listener.req('transport.create', { direction: 'recv' });
    await listener.req('consumer.create', { producerId, rtpCapabilities: caps });
    const bystander = await member(b);
    const stays = await bystander.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Bystander') });
    if ('lobby' in stays) throw new Error('unexpected lobby');
    expect(a.cluster!.pipes()).toBe(1);
    // B answered both joins itself: killed before it told A, the bystander would be no member of A's to wait for.
    await expect.poll(() => a.rooms.get(room.keys.roomId)!.members.size).toBe(3);

    const bystanderLeft = host.next('peer.left', GRACE_MS + 10_000);
    await b.kill('SIGKILL');
    expect(alive(b.pid)).toBe(false);

    // A notices within three missed beats: the pipe to the dead relay goes, its members are in their grace.
    await expect.poll(() => a.cluster!.pipes(), { timeout: TEST_HEARTBEAT_MS * 10 }).toBe(0);
    expect(a.rooms.get(room.keys.roomId)!.members.size).toBe(3);

    // The page reconnects, here to relay C, and resumes with its token.
    const back = await member(c);
    const resumed = await back.req('room.join', { roomId: room.keys.roomId, announcement, resumeToken: joined.resumeToken });
    if ('lobby' in resumed) throw new Error('unexpected lobby');
    expect(resumed.participantId).toBe(joined.participantId);
    await back.req('transport.create', { direction: 'recv' });
    expect(await back.req('consumer.create', { producerId, rtpCapabilities: caps })).toMatchObject({ producerId });
    expect(c.cluster!.pipes()).toBe(1);

    // The member who did not come back leaves when its grace runs out; the resumed one never left.
    expect(await bystanderLeft).toMatchObject({ participantId: stays.participantId, reason: 'disconnected' });
    const lefts = host.received.filter((r) => r.event === 'peer.left').map((r) => (r.payload as { participantId: string }).participantId);
    expect(lefts).toEqual([stays.participantId]);
    expect(a.rooms.get(room.keys.roomId)!.members.has(joined.participantId)).toBe(true);
  }, 30_000);

  it('when the origin relay is SIGKILLed, one surviving relay takes the room over from its record: everyone resumes as the same member, a new microphone reaches a third relay, room events reach all', async () => {
    const origin = await spawnClusterRelay(redis.url);
    children.push(origin);
    const d = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS });
    extra.push(d);
    const { room, roomId, hostAnnouncement, created, caps, before } = await hostSpeakingOn(origin);

    // Listeners on A (hearing the host through a pipe), on C, and on the origin itself.
    const joinAs = async (relay: { url: string }, name: string) => {
      const client = await member(relay);
      const announcement = announce(room, name);
      const joined = await client.req('room.join', { roomId, announcement });
      if ('lobby' in joined) throw new Error('unexpected lobby');
      return { client, announcement, joined };
    };
    const onA = await joinAs(a, 'On A');
    await onA.client.req('transport.create', { direction: 'recv' });
    await onA.client.req('consumer.create', { producerId: before, rtpCapabilities: caps });
    const onC = await joinAs(c, 'On C');
    const onOrigin = await joinAs(origin, 'On the origin');
    const released = [onA, onC].map(({ client }) => new Promise<void>((resolve) => client.socket.once('disconnect', () => resolve())));
    // What the directory holds when the relay dies is what is taken over: the last join's record write (a round trip
    // after its reply) must have landed, or that member is lost with the relay, as documented.
    const recorded = async () => (await redis.command('HKEYS', `teahouse:room:${roomId}`)).split('\n').filter((f) => f.startsWith('m:')).length;
    await expect.poll(recorded).toBe(4);

    await origin.kill('SIGKILL');
    // The host's page is back at once, through D, before any relay has noticed the death: D forwards its resume to
    // the dead relay and, once the death is noticed, sends it on to where the room moved.
    const hostBack = await member(d);
    const hostResumed = hostBack.req('room.join', { roomId, announcement: hostAnnouncement, resumeToken: created.resumeToken });

    // A and C notice (they have members of the room), and D (it has a join waiting on the dead relay); exactly one
    // of them wins the swap in Redis.
    const survivors = [a, c, d];
    await expect.poll(() => survivors.filter((r) => r.rooms.has(roomId)).length, { timeout: TEST_HEARTBEAT_MS * 20 }).toBe(1);
    const holder = survivors.find((r) => r.rooms.has(roomId))!;
    expect((await redis.command('GET', `teahouse:origin:${roomId}`)).trim()).toBe(holder.cluster!.relayId);
    expect(survivors.map((r) => r.cluster!.roomsTaken()).reduce((x, y) => x + y)).toBe(1);
    expect(holder.rooms.get(roomId)!.members.size).toBe(4);
    // The edge relays let their members go, so that their pages resume into the room where it is now.
    await Promise.all(released);
    const third = survivors.find((r) => r !== holder && r !== d)!;

    // The host resumes as itself and sends again.
    const resumed = await hostResumed;
    if ('lobby' in resumed) throw new Error('unexpected lobby');
    expect(resumed).toMatchObject({ participantId: created.participantId, role: 'host', room: { roomId } });
    expect(resumed.room.participants.map((p) => p.participantId).sort()).toEqual([created.participantId, onA.joined.participantId, onC.joined.participantId, onOrigin.joined.participantId].sort());
    // Its media died with the relay: the first thing it is told after the reply is to make new transports.
    await expect.poll(() => hostBack.received[0]?.event).toBe('room.mediaReset');
    const send2 = await hostBack.req('transport.create', { direction: 'send' });
    const { producerId: after } = await hostBack.req('producer.create', { transportId: send2.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });

    // The listener from A comes back through the third relay and hears the new microphone, piped from the new origin.
    const aBack = await member(third);
    const aResumed = await aBack.req('room.join', { roomId, announcement: onA.announcement, resumeToken: onA.joined.resumeToken });
    expect(aResumed.participantId).toBe(onA.joined.participantId);
    await aBack.req('transport.create', { direction: 'recv' });
    await expect(aBack.req('consumer.create', { producerId: before, rtpCapabilities: caps })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await aBack.req('consumer.create', { producerId: after, rtpCapabilities: caps })).toMatchObject({ producerId: after, participantId: created.participantId });
    expect((await third.cluster!.pipedProducers()).map((p) => p?.id)).toContain(after);

    // The others resume too: C's listener on the new origin itself, the origin's through the third relay.
    const cBack = await member(holder);
    expect((await cBack.req('room.join', { roomId, announcement: onC.announcement, resumeToken: onC.joined.resumeToken })).participantId).toBe(onC.joined.participantId);
    const originBack = await member(third);
    expect((await originBack.req('room.join', { roomId, announcement: onOrigin.announcement, resumeToken: onOrigin.joined.resumeToken })).participantId).toBe(onOrigin.joined.participantId);
    // What happened while it was away came after its reset: the host's new microphone.
    await expect.poll(() => originBack.received.map((r) => r.event).slice(0, 2)).toEqual(['room.mediaReset', 'producer.added']);

    // A room event reaches every member, on every relay; nobody left, and no other relay made the room again.
    const updates = [aBack, cBack, originBack].map((m) => m.next('room.updated'));
    await hostBack.req('room.lock', { locked: true, decision: DECISION });
    expect(await Promise.all(updates)).toEqual([{ locked: true }, { locked: true }, { locked: true }]);
    expect([hostBack, aBack, cBack, originBack].flatMap((m) => m.received.filter((r) => r.event === 'peer.left'))).toEqual([]);
    expect(holder.rooms.get(roomId)!.members.size).toBe(4);
    expect(survivors.map((r) => r.rooms.has(roomId))).toEqual(survivors.map((r) => r === holder));
  }, 30_000);

  it('a page resuming through a relay that has not yet noticed the origin’s death gets the room from where it moved: the host sends again through it, and that relay’s listener is let go to resume', async () => {
    const origin = await spawnClusterRelay(redis.url);
    children.push(origin);
    // B notices the death within its beats and takes the room over; `slow`, beating every 5 s, still serves the room
    // from the dead origin when the host comes back through it (on a loaded machine one relay notices that much later).
    const b = await startClusterRelay(redis.url, { disconnectGraceMs: 30_000 });
    const slow = await startClusterRelay(redis.url, { disconnectGraceMs: 30_000, clusterHeartbeatMs: 5_000 });
    extra.push(b, slow);
    const { room, roomId, hostAnnouncement, created, caps, before } = await hostSpeakingOn(origin);
    const listenOn = async (relay: { url: string }, name: string) => {
      const client = await member(relay);
      const announcement = announce(room, name);
      const joined = await client.req('room.join', { roomId, announcement });
      if ('lobby' in joined) throw new Error('unexpected lobby');
      await client.req('transport.create', { direction: 'recv' });
      await client.req('consumer.create', { producerId: before, rtpCapabilities: caps });
      return { client, announcement, joined };
    };
    await listenOn(b, 'On B');
    const onSlow = await listenOn(slow, 'On slow');
    const recorded = async () => (await redis.command('HKEYS', `teahouse:room:${roomId}`)).split('\n').filter((f) => f.startsWith('m:')).length;
    await expect.poll(recorded).toBe(3);
    const released = new Promise<void>((resolve) => onSlow.client.socket.once('disconnect', () => resolve()));

    await origin.kill('SIGKILL');
    await expect.poll(() => b.rooms.has(roomId), { timeout: TEST_HEARTBEAT_MS * 20 }).toBe(true);
    // What the test is about: `slow` has not noticed, its listener is still its member under the dead origin.
    expect(slow.cluster!.edgeMembers()).toBe(1);
    const hostBack = await member(slow);
    const resumed = await hostBack.req('room.join', { roomId, announcement: hostAnnouncement, resumeToken: created.resumeToken });
    expect(resumed.participantId).toBe(created.participantId);
    await expect.poll(() => hostBack.received[0]?.event).toBe('room.mediaReset');
    // Its microphone goes up a pipe to B, the room's origin now, not to the dead relay ('the relay holding this room did not answer').
    const send2 = await hostBack.req('transport.create', { direction: 'send' });
    const { producerId: after } = await hostBack.req('producer.create', { transportId: send2.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    expect(slow.cluster!.treeParent(roomId)).toBe(b.cluster!.relayId);
    expect(b.rooms.get(roomId)!.members.get(created.participantId)!.producers.has(after)).toBe(true);
    // The listener `slow` had under the dead origin is let go, as at the death notice, resumes and hears the new microphone.
    await released;
    const listenerBack = await member(slow);
    expect((await listenerBack.req('room.join', { roomId, announcement: onSlow.announcement, resumeToken: onSlow.joined.resumeToken })).participantId).toBe(onSlow.joined.participantId);
    await listenerBack.req('transport.create', { direction: 'recv' });
    expect(await listenerBack.req('consumer.create', { producerId: after, rtpCapabilities: caps })).toMatchObject({ producerId: after, participantId: created.participantId });
  }, 30_000);

  it('a relay whose directory entry lapsed for a moment (a late beat) keeps its room: a page joining through another relay then is sent there, not given a second copy of the room', async () => {
    const { room, roomId } = await hostSpeakingOn(a);
    const held = a.rooms.get(roomId)!;
    await expect.poll(async () => (await redis.command('HKEYS', `teahouse:room:${roomId}`)).split('\n').filter((f) => f.startsWith('m:')).length).toBe(1);
    // The relay the page joins through looks again a beat of its own later (here a second: A's next beat, every
    // 200 ms, is sure to have come by then).
    const other = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS, clusterHeartbeatMs: 1_000 });
    extra.push(other);
    // A's refresh comes late, as after a stall of its event loop or of Redis past three beats: its entry is gone
    // until its next beat, though A is alive and its host still sends.
    await redis.command('DEL', `teahouse:relay:${a.cluster!.relayId}`);
    const listener = await member(other);
    const joined = await listener.req('room.join', { roomId, announcement: announce(room, 'Listener') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    // The other relay did not make the room again from its record: the listener is in A's room, with the host it is
    // to hear. Before, it was in a copy of its own there, which the host, still on A, never reached.
    expect(other.rooms.has(roomId)).toBe(false);
    expect(a.rooms.get(roomId)).toBe(held);
    // Answered by A, or by the other relay from the join view once A's entry was back, and then told to A.
    await expect.poll(() => held.members.has(joined.participantId)).toBe(true);
    expect(other.rooms.has(roomId)).toBe(false);
    expect((await redis.command('GET', `teahouse:origin:${roomId}`)).trim()).toBe(a.cluster!.relayId);
  }, 30_000);

  it('a holder stalled long enough for its room to be taken over gives its copy up when it wakes: its members, on it and through an edge, lose their connections as on its death and resume as themselves where the room is now', async () => {
    const holder = await spawnClusterRelay(redis.url, { DISCONNECT_GRACE_MS: String(GRACE_MS) });
    children.push(holder);
    // The edge beats every 5 s: it does not notice a stall of a second, so only the holder can let its member go.
    const edge = await startClusterRelay(redis.url, { disconnectGraceMs: GRACE_MS, clusterHeartbeatMs: 5_000 });
    extra.push(edge);
    const { room, roomId, hostAnnouncement, host, created, caps, before } = await hostSpeakingOn(holder);
    const listenerAnnouncement = announce(room, 'Through the edge');
    const listener = await member(edge);
    const joined = await listener.req('room.join', { roomId, announcement: listenerAnnouncement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await listener.req('transport.create', { direction: 'recv' });
    await listener.req('consumer.create', { producerId: before, rtpCapabilities: caps });
    expect(edge.cluster!.pipes()).toBe(1);
    const recorded = async () => (await redis.command('HKEYS', `teahouse:room:${roomId}`)).split('\n').filter((f) => f.startsWith('m:')).length;
    await expect.poll(recorded).toBe(2);
    const holderId = (await redis.command('GET', `teahouse:origin:${roomId}`)).trim();
    const reasons: Record<string, string> = {};
    host.socket.once('disconnect', (reason) => (reasons.host = reason));
    listener.socket.once('disconnect', (reason) => (reasons.listener = reason));

    // The holder stalls past three beats: its entry expires, and a page joining through C (which looks again a beat
    // later) has C take the room over from its record while the holder still has it.
    process.kill(holder.pid, 'SIGSTOP');
    let newcomer: TestClient;
    try {
      await expect.poll(async () => (await redis.command('EXISTS', `teahouse:relay:${holderId}`)).trim(), { timeout: TEST_HEARTBEAT_MS * 10 }).toBe('0');
      newcomer = await member(c);
      await newcomer.req('room.join', { roomId, announcement: announce(room, 'Newcomer') });
      expect(c.rooms.has(roomId)).toBe(true);
    } finally {
      process.kill(holder.pid, 'SIGCONT');
    }

    // Awake, the holder's next directory write finds the room taken: its copy goes, and its members' connections
    // close as on its death ('transport close', after which a page's socket.io reconnects by itself; not 'io server
    // disconnect', after which it does not). Before, the holder only logged it and both relays held the room.
    await expect.poll(() => reasons, { timeout: TEST_HEARTBEAT_MS * 25 }).toEqual({ host: 'transport close', listener: 'transport close' });
    await expect.poll(async () => JSON.parse(await redis.command('GET', `teahouse:relay:${holderId}`)) as unknown, { timeout: TEST_HEARTBEAT_MS * 10 }).toMatchObject({ rooms: 0, pipes: 0 });
    await expect.poll(() => edge.cluster!.pipes()).toBe(0);
    expect((await redis.command('GET', `teahouse:origin:${roomId}`)).trim()).toBe(c.cluster!.relayId);

    // The pages come back, the host's through the relay it was on, the listener's through the edge: the same
    // members, in the one room there is, where the newcomer was never told anyone left.
    const hostBack = await member(holder);
    expect((await hostBack.req('room.join', { roomId, announcement: hostAnnouncement, resumeToken: created.resumeToken })).participantId).toBe(created.participantId);
    const listenerBack = await member(edge);
    expect((await listenerBack.req('room.join', { roomId, announcement: listenerAnnouncement, resumeToken: joined.resumeToken })).participantId).toBe(joined.participantId);
    const members = c.rooms.get(roomId)!.members;
    expect(members.size).toBe(3);
    expect([created.participantId, joined.participantId].map((id) => members.get(id)?.socket?.id)).toEqual([expect.any(String), expect.any(String)]);
    const updates = [listenerBack, newcomer!].map((m) => m.next('room.updated'));
    await hostBack.req('room.lock', { locked: true, decision: DECISION });
    expect(await Promise.all(updates)).toEqual([{ locked: true }, { locked: true }]);
    expect(newcomer!.received.filter((r) => r.event === 'peer.left')).toEqual([]);
    // The holder, dropping the room from its entries at its beats since, left C's alone.
    expect((await redis.command('GET', `teahouse:origin:${roomId}`)).trim()).toBe(c.cluster!.relayId);
    expect(await recorded()).toBe(3);
  }, 30_000);

  it('a SIGTERMed origin relay hands its room over: it exits cleanly, another relay takes the room from its last record, and its members resume as themselves', async () => {
    const origin = await spawnClusterRelay(redis.url, { DISCONNECT_GRACE_MS: String(GRACE_MS) });
    children.push(origin);
    const room = await newRoom();
    const roomId = room.keys.roomId;
    const hostAnnouncement = announce(room, 'Host');
    const host = await member(origin);
    const created = await host.req('room.create', { roomId, announcement: hostAnnouncement, sealedTitle: sealedTitle(room, 'T') });
    const onA = await member(a);
    const listenerAnnouncement = announce(room, 'On A');
    const seen = host.next('peer.joined');
    const joined = await onA.req('room.join', { roomId, announcement: listenerAnnouncement });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    // A answered the join and tells the origin after: the host locks a room it knows the listener is in.
    await seen;
    await host.req('room.lock', { locked: true, decision: DECISION });
    const shuttingDown = host.next('relay.shuttingDown');

    await origin.kill('SIGTERM');
    await shuttingDown;
    expect(origin.exitCode()).toBe(0);
    // Stopping is not a failure: nothing at error level ("level":50 in pino's lines) while it closed.
    expect(origin.output()).not.toMatch(/"level":(50|60)/);

    // The host's page comes back through C at once, as itself, into the same room, still locked.
    const hostBack = await member(c);
    const resumed = await hostBack.req('room.join', { roomId, announcement: hostAnnouncement, resumeToken: created.resumeToken });
    if ('lobby' in resumed) throw new Error('unexpected lobby');
    expect(resumed).toMatchObject({ participantId: created.participantId, role: 'host', room: { roomId, locked: true } });
    expect(resumed.room.participants.map((p) => p.participantId).sort()).toEqual([created.participantId, joined.participantId].sort());
    expect([a, c].filter((r) => r.rooms.has(roomId)).length).toBe(1);
    // The listener on A is let go once A notices, and resumes as itself wherever the room is now.
    const listenerBack = await member(c);
    await expect
      .poll(async () => (await listenerBack.req('room.join', { roomId, announcement: listenerAnnouncement, resumeToken: joined.resumeToken }).catch((e: { code: string }) => e.code)) as unknown, { timeout: TEST_HEARTBEAT_MS * 20 })
      .toMatchObject({ participantId: joined.participantId });
    expect(hostBack.received.filter((r) => r.event === 'peer.left')).toEqual([]);
  }, 30_000);

  it('a Redis restart during a room: relays reconnect, the directory comes back, and a join through another relay works', async () => {
    const room = await newRoom();
    const host = await member(a);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const joinedIds = new Set<string>();
    host.socket.on('peer.joined', ({ participant }: { participant: { participantId: string } }) => joinedIds.add(participant.participantId));
    const before = await member(c);
    const first = await before.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Before') });
    if ('lobby' in first) throw new Error('unexpected lobby');

    // C answered that join itself and tells A afterwards: the restart may catch the telling in flight, which is then
    // told again once Redis is back, not given up (its page was told it is a member).
    await redis.restart();
    // Redis lost everything; the next heartbeats write the directory again.
    await expect.poll(async () => (await redis.command('GET', `teahouse:origin:${room.keys.roomId}`)).trim(), { timeout: 10_000 }).toBe(a.cluster!.relayId);

    const after = await member(c);
    const joined = await after.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'After') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    await expect.poll(() => [...joinedIds].sort(), { timeout: 10_000 }).toEqual([first.participantId, joined.participantId].sort());
    // Events still cross relays: the listener who joined before the restart is told the audience grew (listeners are
    // told the count, not each other: protocol §9).
    expect(before.socket.connected).toBe(true);
    await expect.poll(() => before.received.some((r) => r.event === 'room.audience' && (r.payload as { count: number }).count === 2), { timeout: 10_000 }).toBe(true);
  }, 30_000);
});
