import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { announce, connect, fakePackage, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, startTestRelay, type TestClient, type TestRoom, DECISION } from '../helpers/relay.ts';

let relay: Relay;
beforeAll(async () => {
  relay = await startTestRelay({ maxSpeakers: 3 });
});
afterAll(() => relay?.close());

async function setup(): Promise<{ room: TestRoom; host: TestClient; guest: TestClient; guestId: string }> {
  const room = await newRoom();
  const host = await connect(relay);
  await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
  const guest = await connect(relay);
  const joined = await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') });
  return { room, host, guest, guestId: joined.participantId };
}

describe('roles at the relay', () => {
  it('refuses a listener who tries to produce', async () => {
    const { host, guest } = await setup();
    await expect(guest.req('transport.create', { direction: 'send' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const recv = await guest.req('transport.create', { direction: 'recv' });
    await expect(guest.req('producer.create', { transportId: recv.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    host.close();
    guest.close();
  });

  it("invite needs consent; a demoted speaker's producer is closed at once", async () => {
    const { room, host, guest, guestId } = await setup();
    const invited = guest.next('stage.invited');
    await host.req('stage.invite', { participantId: guestId, decision: DECISION });
    await invited;
    await expect(guest.req('transport.create', { direction: 'send' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await guest.req('stage.respond', { accept: true, decision: DECISION });
    const send = await guest.req('transport.create', { direction: 'send' });
    const { producerId } = await guest.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    const member = relay.rooms.get(room.keys.roomId)!.members.get(guestId)!;
    const producer = member.producers.get(producerId)!;

    const muted = host.next('peer.updated');
    await host.req('stage.mute', { participantId: guestId, decision: DECISION });
    expect((await muted).participant).toMatchObject({ muted: true });
    expect(producer.paused).toBe(true);

    const removed = host.next('producer.removed');
    await host.req('stage.moveToAudience', { participantId: guestId, decision: DECISION });
    expect(await removed).toMatchObject({ producerId, participantId: guestId });
    expect(producer.closed).toBe(true);
    expect(member.producers.size).toBe(0);
    host.close();
    guest.close();
  });

  it('a room can be created locked (a host rebuilding a locked room after a relay restart): the first joiner waits in the lobby', async () => {
    const room = await newRoom();
    const host = await connect(relay);
    const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T'), locked: true });
    expect(created.room.locked).toBe(true);
    const visitor = await connect(relay);
    expect(await visitor.req('room.peek', { roomId: room.keys.roomId })).toMatchObject({ exists: true, locked: true });
    const lobbyUpdate = host.next('lobby.updated');
    expect(await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Visitor') })).toMatchObject({ lobby: true });
    expect((await lobbyUpdate).lobby).toHaveLength(1);
    host.close();
    visitor.close();
  });

  it('a locked room keeps newcomers in the lobby with no key until admitted', async () => {
    const { room, host, guest } = await setup();
    await host.req('room.lock', { locked: true, decision: DECISION });
    const visitor = await connect(relay);
    const lobbyUpdate = host.next('lobby.updated');
    const res = await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Visitor') });
    expect(res).toMatchObject({ lobby: true });
    const { lobby } = await lobbyUpdate;
    expect(lobby).toHaveLength(1);
    const visitorId = lobby[0]!.participantId;
    const guestCommit = guest.next('key.commit');
    await host.req('key.commit', { commit: 'U0VDUkVU', epoch: 2, packages: [{ to: visitorId, package: fakePackage('visitor2') }] });
    await host.req('key.packages', { epoch: 2, packages: [{ to: visitorId, package: fakePackage('visitor2b') }] });
    await guestCommit;
    await expect(visitor.req('hand.raise', {})).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    expect(visitor.received.map((r) => r.event)).not.toContain('key.commit');
    expect(visitor.received.map((r) => r.event)).not.toContain('key.package');
    expect(visitor.received.map((r) => r.event)).not.toContain('peer.joined');

    const admitted = visitor.next('lobby.admitted');
    await host.req('lobby.admit', { participantId: visitorId, decision: DECISION });
    expect((await admitted).role).toBe('listener');
    const commit = visitor.next('key.commit');
    await host.req('key.commit', { commit: 'U0VDUkVU', epoch: 4, packages: [{ to: visitorId, package: fakePackage('visitor4') }] });
    expect(await commit).toMatchObject({ epoch: 4, package: fakePackage('visitor4') });

    const declinedVisitor = await connect(relay);
    const update = host.next('lobby.updated');
    await declinedVisitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Nope') });
    const entry = (await update).lobby;
    const declined = declinedVisitor.next('lobby.declined');
    await host.req('lobby.decline', { participantId: entry.at(-1)!.participantId });
    await declined;
    for (const c of [host, guest, visitor, declinedVisitor]) c.close();
  });

  it('every member gets the header and only its own package, in one event when they come together; key.packages reaches the addressed members alone', async () => {
    const { room, host, guest, guestId } = await setup();
    const others: { client: TestClient; id: string }[] = [];
    for (const name of ['B', 'C']) {
      const client = await connect(relay);
      const j = await client.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, name) });
      if ('lobby' in j) throw new Error('unexpected lobby');
      others.push({ client, id: j.participantId });
    }
    const [b, c] = others as [(typeof others)[0], (typeof others)[0]];
    await host.req('room.lock', { locked: true, decision: DECISION });
    const visitor = await connect(relay);
    const lobbyUpdate = host.next('lobby.updated');
    await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Visitor') });
    const visitorId = (await lobbyUpdate).lobby[0]!.participantId;
    const members = [{ client: guest, id: guestId }, b, c];

    // The header and two packages in one message (one for the lobby, one for nobody in the room), the rest later.
    await host.req('key.commit', {
      commit: 'SEVBREVS',
      epoch: 2,
      packages: [
        { to: guestId, package: fakePackage('guest') },
        { to: visitorId, package: fakePackage('visitor') },
        { to: 'nobody-here', package: fakePackage('nobody') },
      ],
    });
    await host.req('key.packages', {
      epoch: 2,
      packages: [
        { to: c.id, package: fakePackage('c') },
        { to: visitorId, package: fakePackage('visitor2') },
      ],
    });
    // A marker after both: events reach each socket in order, so whatever the requests above sent has arrived by then.
    const markers = members.map((m) => m.client.next('key.commit'));
    await host.req('key.commit', { commit: 'TUFSS0VS', epoch: 3, packages: [] });
    await Promise.all(markers);

    const keyEvents = (client: TestClient) => client.received.filter((r) => r.event.startsWith('key.')).map((r) => ({ event: r.event, ...(r.payload as object) }));
    const hostId = [...relay.rooms.get(room.keys.roomId)!.members.values()].find((p) => p.role === 'host')!.participantId;
    const header = { event: 'key.commit', from: hostId, commit: 'SEVBREVS', epoch: 2 };
    const marker = { event: 'key.commit', from: hostId, commit: 'TUFSS0VS', epoch: 3 };
    const own = (tag: string) => ({ event: 'key.package', from: hostId, epoch: 2, package: fakePackage(tag) });
    expect(keyEvents(guest)).toEqual([{ ...header, package: fakePackage('guest') }, marker]);
    expect(keyEvents(b.client)).toEqual([header, marker]);
    expect(keyEvents(c.client)).toEqual([header, own('c'), marker]);
    expect(keyEvents(visitor)).toEqual([]);
    expect(keyEvents(host)).toEqual([]);

    // A fresh epoch (withPackages): the header goes only with the packages, in the first message and in the later
    // ones of the same epoch, even with a ratchet sent in between; a member with no package gets nothing of it, and
    // another epoch's packages go alone.
    for (const m of [...members, { client: visitor }, { client: host }]) m.client.received.length = 0;
    await host.req('key.commit', { commit: 'RlJFU0g', epoch: 5, packages: [{ to: guestId, package: fakePackage('guest5') }], withPackages: true });
    await host.req('key.commit', { commit: 'UkFUQ0g', epoch: 6, packages: [] });
    await host.req('key.packages', {
      epoch: 5,
      packages: [
        { to: c.id, package: fakePackage('c5') },
        { to: visitorId, package: fakePackage('visitor5') },
      ],
    });
    await host.req('key.packages', { epoch: 6, packages: [{ to: b.id, package: fakePackage('b6') }] });
    const last = members.map((m) => m.client.next('key.commit'));
    await host.req('key.commit', { commit: 'TUFSS0VS', epoch: 7, packages: [] });
    await Promise.all(last);
    const fresh = { event: 'key.commit', from: hostId, commit: 'RlJFU0g', epoch: 5 };
    const between = { event: 'key.commit', from: hostId, commit: 'UkFUQ0g', epoch: 6 };
    const after = { ...marker, epoch: 7 };
    expect(keyEvents(guest)).toEqual([{ ...fresh, package: fakePackage('guest5') }, between, after]);
    expect(keyEvents(c.client)).toEqual([between, { ...fresh, package: fakePackage('c5') }, after]);
    expect(keyEvents(b.client)).toEqual([between, { event: 'key.package', from: hostId, epoch: 6, package: fakePackage('b6') }, after]);
    expect(keyEvents(visitor)).toEqual([]);
    expect(keyEvents(host)).toEqual([]);

    // Only the stage hands out packages.
    await expect(guest.req('key.packages', { epoch: 2, packages: [{ to: b.id, package: fakePackage('forged') }] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    for (const client of [host, visitor, ...members.map((m) => m.client)]) client.close();
  });

  it("a kicked identity is refused for the rest of the room's life", async () => {
    const { room, host, guest, guestId } = await setup();
    const { generateIdentity } = await import('../../crypto/index.ts');
    const identity = generateIdentity();
    const third = await connect(relay);
    const j = await third.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Trouble', identity) });
    const kicked = third.next('member.kicked');
    // The stage hears of a listener's leave; other listeners are not told about it (only the count changes).
    const left = host.next('peer.left');
    await host.req('member.kick', { participantId: j.participantId, decision: DECISION });
    await kicked;
    expect(await left).toMatchObject({ participantId: j.participantId, reason: 'kicked' });
    await expect(third.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Trouble again', identity) })).rejects.toMatchObject({ code: 'IDENTITY_BANNED' });
    await expect(guest.req('member.kick', { participantId: guestId, decision: DECISION })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    for (const c of [host, guest, third]) c.close();
  });

  it('rotating the link moves the room; the old id is refused with LINK_REVOKED', async () => {
    const { room, host, guest } = await setup();
    const next = await newRoom();
    const rotated = guest.next('room.rotated');
    await host.req('room.rotate', { newRoomId: next.keys.roomId, sealedTitle: sealedTitle(next, 'T') });
    expect(await rotated).toEqual({ newRoomId: next.keys.roomId });
    const late = await connect(relay);
    await expect(late.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Late') })).rejects.toMatchObject({ code: 'LINK_REVOKED' });
    await expect(late.req('room.peek', { roomId: room.keys.roomId })).rejects.toMatchObject({ code: 'LINK_REVOKED' });
    expect(await late.req('room.join', { roomId: next.keys.roomId, announcement: announce(next, 'Late') })).toMatchObject({ role: 'listener' });
    // Members re-announce under the new keys, but only with their own identity key.
    await expect(guest.req('member.reannounce', { announcement: announce(next, 'Someone else') })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    for (const c of [host, guest, late]) c.close();
  });

  it('the stage has a limit, and only the host ends the room', async () => {
    const { room, host, guest, guestId } = await setup();
    const others: TestClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await connect(relay);
      const j = await c.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `S${i}`) });
      await host.req('stage.invite', { participantId: j.participantId, decision: DECISION });
      others.push(c);
      if (i < 2) await c.req('stage.respond', { accept: true, decision: DECISION });
      else await expect(c.req('stage.respond', { accept: true, decision: DECISION })).rejects.toMatchObject({ code: 'STAGE_FULL' });
    }
    await expect(guest.req('room.end', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(guestId).toBeTruthy();
    const ended = guest.next('room.ended');
    await host.req('room.end', {});
    await ended;
    expect(relay.rooms.has(room.keys.roomId)).toBe(false);
    for (const c of [host, guest, ...others]) c.close();
  });
});

describe('KEM offers at the relay', () => {
  it('forwards each offer to its stage member alone; one addressed to a listener or to the sender is dropped', async () => {
    const { room, host, guest, guestId } = await setup();
    const other = await connect(relay);
    const joined = await other.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Other') });
    const hostId = [...relay.rooms.get(room.keys.roomId)!.members.values()].find((m) => m.role === 'host')!.participantId;
    const offer = (c: string) => c.repeat(1579);
    const arrived = host.next('key.kem');
    await guest.req('key.kem', {
      offers: [
        { to: hostId, offer: offer('A') },
        { to: joined.participantId, offer: offer('B') },
        { to: guestId, offer: offer('C') },
      ],
    });
    expect(await arrived).toEqual({ from: guestId, offer: offer('A') });
    // A round trip on each socket: whatever the relay queued before has arrived.
    await other.req('room.peek', { roomId: room.keys.roomId });
    await guest.req('room.peek', { roomId: room.keys.roomId });
    expect(other.received.filter((r) => r.event === 'key.kem')).toEqual([]);
    expect(guest.received.filter((r) => r.event === 'key.kem')).toEqual([]);
    expect(host.received.filter((r) => r.event === 'key.kem')).toHaveLength(1);
    for (const c of [host, guest, other]) c.close();
  });
});
