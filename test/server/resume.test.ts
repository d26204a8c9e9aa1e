import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../crypto/index.ts';
import { LIMITS } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { OUTBOX_LIMITS } from '../../server/rooms/participant.ts';
import { announce, connect, DECISION, fakePackage, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, startTestRelay, type TestClient, type TestRoom } from '../helpers/relay.ts';

let relay: Relay;
let hasty: Relay;
beforeAll(async () => {
  relay = await startTestRelay({ disconnectGraceMs: 120_000 });
  hasty = await startTestRelay({ disconnectGraceMs: 200 });
});
afterAll(async () => {
  await relay?.close();
  await hasty?.close();
});

interface Setup {
  room: TestRoom;
  host: TestClient;
  guest: TestClient;
  guestId: string;
  resumeToken: string;
  announcement: string;
}

async function setup(on: Relay = relay): Promise<Setup> {
  const room = await newRoom();
  const host = await connect(on);
  await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
  const guest = await connect(on);
  const announcement = announce(room, 'Guest', generateIdentity());
  const joined = await guest.req('room.join', { roomId: room.keys.roomId, announcement });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  return { room, host, guest, guestId: joined.participantId, resumeToken: joined.resumeToken, announcement };
}

/** Drops the guest's connection and waits until the relay has noticed. */
async function drop(on: Relay, s: Setup): Promise<void> {
  s.guest.close();
  await expect.poll(() => on.rooms.get(s.room.keys.roomId)?.members.get(s.guestId)?.socket ?? null).toBeNull();
}

/** Sends a join with a resume token and records the reply in the same list as the events, to check their order. */
function rejoin(client: TestClient, payload: { roomId: string; announcement: string; resumeToken: string }): Promise<{ ok: boolean; data?: { participantId: string } }> {
  return new Promise((resolve) => {
    client.socket.emit('room.join', payload, (reply: { ok: boolean; data?: { participantId: string } }) => {
      client.received.push({ event: '(reply)', payload: reply });
      resolve(reply);
    });
  });
}

describe('a dropped member resumes as itself', () => {
  it('same participant id, no leave or join seen by others, and what it missed arrives after the reply', async () => {
    const s = await setup();
    // On stage, so that it is told of the next listener's join (listeners are not told about each other).
    const invited = s.guest.next('stage.invited');
    await s.host.req('stage.invite', { participantId: s.guestId, decision: DECISION });
    await invited;
    await s.guest.req('stage.respond', { accept: true, decision: DECISION });
    await drop(relay, s);
    await s.host.req('key.commit', { commit: 'RVBPQ0gy', epoch: 2, packages: [{ to: s.guestId, package: fakePackage('guest2') }] });
    const third = await connect(relay);
    const thirdJoined = await third.req('room.join', { roomId: s.room.keys.roomId, announcement: announce(s.room, 'Third') });
    if ('lobby' in thirdJoined) throw new Error('unexpected lobby');
    // Epoch 3's packages come in two messages, as for a room larger than one: the guest's in the second.
    await s.host.req('key.commit', { commit: 'RVBPQ0gz', epoch: 3, packages: [{ to: thirdJoined.participantId, package: fakePackage('third3') }] });
    await s.host.req('key.packages', { epoch: 3, packages: [{ to: s.guestId, package: fakePackage('guest3') }] });

    const back = await connect(relay);
    const reply = await rejoin(back, { roomId: s.room.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    expect(reply).toMatchObject({ ok: true, data: { participantId: s.guestId } });
    // The audience count follows on its own clock (at most once a second): it is not part of the order checked here.
    const missed = () => back.received.filter((r) => r.event !== 'room.audience');
    await expect.poll(() => missed().length).toBe(5);
    // Epoch 2's header came with the guest's package; epoch 3's alone, its package in the later message.
    expect(missed().map((r) => r.event)).toEqual(['(reply)', 'key.commit', 'peer.joined', 'key.commit', 'key.package']);
    expect(missed().map((r) => (r.payload as { epoch?: number }).epoch)).toEqual([undefined, 2, undefined, 3, 3]);
    expect(
      missed()
        .map((r) => (r.payload as { package?: string }).package)
        .filter(Boolean),
    ).toEqual([fakePackage('guest2'), fakePackage('guest3')]);

    // Live again: the next commit and its package go straight to the new connection.
    const live = back.next('key.commit');
    await s.host.req('key.commit', { commit: 'RVBPQ0g0', epoch: 4, packages: [{ to: s.guestId, package: fakePackage('guest4') }] });
    expect(await live).toMatchObject({ epoch: 4, package: fakePackage('guest4') });
    expect(s.host.received.map((r) => r.event)).not.toContain('peer.left');
    expect(s.host.received.filter((r) => r.event === 'peer.joined')).toHaveLength(2);
    for (const c of [s.host, third, back]) c.close();
  });

  it('a resume while the old connection still looks alive closes that connection and keeps the member', async () => {
    const s = await setup();
    const staleClosed = new Promise((r) => s.guest.socket.once('disconnect', r));
    const back = await connect(relay);
    const reply = await rejoin(back, { roomId: s.room.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    expect(reply).toMatchObject({ ok: true, data: { participantId: s.guestId } });
    await staleClosed;
    // The old connection's disconnect must not start a grace timer on the member who is back.
    const member = relay.rooms.get(s.room.keys.roomId)!.members.get(s.guestId)!;
    expect(member.graceTimer).toBeNull();
    const live = back.next('key.commit');
    await s.host.req('key.commit', { commit: 'RVBPQ0gy', epoch: 2, packages: [{ to: s.guestId, package: fakePackage('guest') }] });
    expect(await live).toMatchObject({ epoch: 2, package: fakePackage('guest') });
    expect(await back.req('hand.raise', {})).toEqual({});
    expect(s.host.received.map((r) => r.event)).not.toContain('peer.left');
    for (const c of [s.host, back]) c.close();
  });

  it('a token with another identity, or for another room, is a fresh join', async () => {
    const s = await setup();
    await drop(relay, s);
    const impostor = await connect(relay);
    const other = await impostor.req('room.join', { roomId: s.room.keys.roomId, announcement: announce(s.room, 'Guest'), resumeToken: s.resumeToken });
    if ('lobby' in other) throw new Error('unexpected lobby');
    expect(other.participantId).not.toBe(s.guestId);
    const elsewhere = await newRoom();
    const otherHost = await connect(relay);
    await otherHost.req('room.create', { roomId: elsewhere.keys.roomId, announcement: announce(elsewhere, 'H2'), sealedTitle: sealedTitle(elsewhere, 'T') });
    const stranger = await connect(relay);
    const j = await stranger.req('room.join', { roomId: elsewhere.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    if ('lobby' in j) throw new Error('unexpected lobby');
    expect(j.participantId).not.toBe(s.guestId);
    for (const c of [s.host, impostor, otherHost, stranger]) c.close();
  });

  it('a member whose socket dropped during a link rotation comes back through the old link, and learns of it', async () => {
    const s = await setup();
    await drop(relay, s);
    const next = await newRoom();
    await s.host.req('room.rotate', { newRoomId: next.keys.roomId, sealedTitle: sealedTitle(next, 'T') });
    const newcomer = await connect(relay);
    await expect(newcomer.req('room.join', { roomId: s.room.keys.roomId, announcement: announce(s.room, 'Late') })).rejects.toMatchObject({ code: 'LINK_REVOKED' });

    const back = await connect(relay);
    const reply = await rejoin(back, { roomId: s.room.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    expect(reply).toMatchObject({ ok: true, data: { participantId: s.guestId } });
    await expect.poll(() => back.received.map((r) => r.event)).toEqual(['(reply)', 'room.rotated']);
    expect(back.received[1]!.payload).toEqual({ newRoomId: next.keys.roomId });
    for (const c of [s.host, newcomer, back]) c.close();
  });

  it('a member who missed more than the outbox holds rejoins as a newcomer, and the others see it leave', async () => {
    const s = await setup();
    await drop(relay, s);
    const big = 'A'.repeat(LIMITS.commit);
    for (let i = 0; i * LIMITS.commit <= OUTBOX_LIMITS.bytes; i++) await s.host.req('key.commit', { commit: big, epoch: 2 + i, packages: [] });
    const left = s.host.next('peer.left');
    const back = await connect(relay);
    const reply = await rejoin(back, { roomId: s.room.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    expect(reply.ok).toBe(true);
    expect(reply.data!.participantId).not.toBe(s.guestId);
    expect(await left).toEqual({ participantId: s.guestId, reason: 'disconnected' });
    for (const c of [s.host, back]) c.close();
  });
});

describe('a page loaded again resumes with new media', () => {
  /** The host with a send transport and a microphone producer, and the guest told of it. */
  async function producing(s: Setup): Promise<string> {
    const send = await s.host.req('transport.create', { direction: 'send' });
    const added = s.guest.next('producer.added');
    const { producerId } = await s.host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    await added;
    return producerId;
  }

  it("newPage: the old page's producer goes (announced as on a leave) and the new page makes its own", async () => {
    const s = await setup();
    const host = relay.rooms.get(s.room.keys.roomId)!.members.values().next().value!;
    const producerId = await producing(s);
    const removed = s.guest.next('producer.removed');
    s.host.close();
    const back = await connect(relay);
    const reply = await back.req('room.join', { roomId: s.room.keys.roomId, announcement: host.announcement, resumeToken: host.resumeToken, newPage: true });
    if ('lobby' in reply) throw new Error('unexpected lobby');
    expect(reply.participantId).toBe(host.participantId);
    expect(await removed).toEqual({ producerId, participantId: host.participantId });
    expect(host.producers.size).toBe(0);
    expect(host.transports.size).toBe(0);
    // The new page's microphone is accepted: one producer per participant, the old one gone.
    const send = await back.req('transport.create', { direction: 'send' });
    await expect(back.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE })).resolves.toMatchObject({ producerId: expect.any(String) });
    for (const c of [s.guest, back]) c.close();
  });

  it('a reconnect of the same page keeps its producer and transports', async () => {
    const s = await setup();
    const host = relay.rooms.get(s.room.keys.roomId)!.members.values().next().value!;
    const producerId = await producing(s);
    s.host.close();
    const back = await connect(relay);
    await back.req('room.join', { roomId: s.room.keys.roomId, announcement: host.announcement, resumeToken: host.resumeToken });
    expect([...host.producers.keys()]).toEqual([producerId]);
    expect(host.transports.size).toBe(1);
    expect(s.guest.received.map((r) => r.event)).not.toContain('producer.removed');
    for (const c of [s.guest, back]) c.close();
  });
});

describe('the disconnect grace', () => {
  it('ends with a leave, after which the token no longer resumes', async () => {
    const s = await setup(hasty);
    const left = s.host.next('peer.left');
    s.guest.close();
    expect(await left).toEqual({ participantId: s.guestId, reason: 'disconnected' });
    const back = await connect(hasty);
    const j = await back.req('room.join', { roomId: s.room.keys.roomId, announcement: s.announcement, resumeToken: s.resumeToken });
    if ('lobby' in j) throw new Error('unexpected lobby');
    expect(j.participantId).not.toBe(s.guestId);
    for (const c of [s.host, back]) c.close();
  });

  it('a room whose members all dropped vanishes when the grace ends', async () => {
    const s = await setup(hasty);
    s.host.close();
    s.guest.close();
    await expect.poll(() => hasty.rooms.has(s.room.keys.roomId)).toBe(false);
  });
});
