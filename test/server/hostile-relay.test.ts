// The hostile-relay fixture: each verdict acts on one recipient only, against the real relay and socket.io clients.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, JoinResult } from '../../protocol/messages.ts';
import { NoSuchRecipientError, startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import type { Relay } from '../../server/index.ts';
import { announce, connect, newRoom, sealedTitle, type TestClient, type TestRoom, DECISION } from '../helpers/relay.ts';

let relay: Relay;
let adversary: Adversary;
const uninstall: (() => void)[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
});
afterEach(() => {
  for (const off of uninstall.splice(0)) off();
  for (const c of clients.splice(0)) c.close();
});
afterAll(() => relay?.close());

async function member(room: TestRoom, name: string): Promise<{ client: TestClient; id: string }> {
  const client = await connect(relay);
  clients.push(client);
  const joined = await client.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, name) });
  return { client, id: joined.participantId };
}

/**
 * A host, b on stage (a speaker) and c a listener. b is on stage, and moved there before c joined, so that it is
 * told of c's join and updates as the host is; c, a listener, is told of no other listener (docs/protocol.md §9).
 */
async function threeMembers() {
  const room = await newRoom();
  const host = await connect(relay);
  clients.push(host);
  const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
  const b = await member(room, 'B');
  const invited = b.client.next('stage.invited');
  await host.req('stage.invite', { participantId: b.id, decision: DECISION });
  await invited;
  await b.client.req('stage.respond', { accept: true, decision: DECISION });
  const c = await member(room, 'C');
  return { room, host: { client: host, id: created.participantId }, b, c };
}

const events = (client: TestClient, event: string) => client.received.filter((r) => r.event === event);
const about = (id: string) => (r: { payload: unknown }) => (r.payload as EventOf<'peer.updated'>).participant?.participantId === id;

/** Everything a relay sent a client before it sends `marker` has arrived once the marker has: one socket, in order. */
async function arrived(client: TestClient, event: string, count = 1): Promise<void> {
  await expect.poll(() => events(client, event).length).toBeGreaterThanOrEqual(count);
}

describe('hostile relay fixture', () => {
  it('knows each connection by the participant id the relay gave it, and records what clients send', async () => {
    const { room, host, b, c } = await threeMembers();
    const ids = adversary.recipients().map((r) => r.participantId);
    expect(ids).toEqual(expect.arrayContaining([host.id, b.id, c.id]));
    const bConnection = adversary.recipients().find((r) => r.participantId === b.id)!.connection;
    expect(bConnection).toBe(b.client.socket.io.engine.id);
    expect(adversary.received(b.id).map((m) => [m.event, (m.payload as { roomId?: string }).roomId])).toEqual([
      ['room.join', room.keys.roomId],
      ['stage.respond', undefined],
    ]);
    await c.client.req('hand.raise', {});
    expect(adversary.received(c.id).map((m) => m.event)).toEqual(['room.join', 'hand.raise']);
    expect(adversary.sent(b.id).find((m) => m.kind === 'ack')).toMatchObject({ request: 'room.join', payload: { ok: true, data: { participantId: b.id } }, fate: 'passed' });
  });

  it('drop: one recipient misses an event the others get', async () => {
    const { room, host, b, c } = await threeMembers();
    uninstall.push(adversary.forEvent('peer.updated', (_, m) => (m.recipient.participantId === b.id ? verdict.drop : verdict.pass)));
    await c.client.req('hand.raise', {});
    await member(room, 'Marker');
    await arrived(b.client, 'peer.joined', 2);
    await arrived(host.client, 'peer.joined', 3);
    expect(events(b.client, 'peer.updated').filter(about(c.id))).toEqual([]);
    expect(events(host.client, 'peer.updated').filter(about(c.id))).toHaveLength(1);
    expect(
      adversary
        .sent(b.id)
        .filter((m) => m.event === 'peer.updated' && about(c.id)(m))
        .map((m) => m.fate),
    ).toEqual(['dropped']);
  });

  it('delay: held for one recipient until released, so a later event overtakes it (reorder)', async () => {
    const { room, host, b } = await threeMembers();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    uninstall.push(adversary.forEvent('peer.joined', (_, m) => (m.recipient.participantId === b.id ? verdict.delay(released) : undefined)));
    const d = await member(room, 'D');
    await d.client.req('room.leave', {});
    await arrived(b.client, 'peer.left');
    await arrived(host.client, 'peer.left');
    expect(events(b.client, 'peer.joined').filter(about(d.id))).toEqual([]);
    release();
    await expect.poll(() => events(b.client, 'peer.joined').filter(about(d.id)).length).toBe(1);
    const order = (client: TestClient) => client.received.filter((r) => r.event === 'peer.left' || about(d.id)(r)).map((r) => r.event);
    expect(order(b.client)).toEqual(['peer.left', 'peer.joined']);
    expect(order(host.client)).toEqual(['peer.joined', 'peer.left']);
  });

  it('duplicate: one recipient gets the event twice', async () => {
    const { room, host, b, c } = await threeMembers();
    uninstall.push(adversary.forEvent('peer.updated', (_, m) => (m.recipient.participantId === b.id ? verdict.duplicate() : undefined)));
    await c.client.req('hand.raise', {});
    await member(room, 'Marker');
    await arrived(b.client, 'peer.joined', 2);
    await arrived(host.client, 'peer.joined', 3);
    expect(events(b.client, 'peer.updated').filter(about(c.id))).toHaveLength(2);
    expect(events(host.client, 'peer.updated').filter(about(c.id))).toHaveLength(1);
  });

  it('replace: one recipient is told a forged role, the relay and the others keep the real one', async () => {
    const { room, host, b, c } = await threeMembers();
    uninstall.push(
      adversary.forEvent('peer.updated', (payload, m) => {
        if (m.recipient.participantId !== b.id) return;
        const { participant } = payload as EventOf<'peer.updated'>;
        return verdict.replace({ participant: { ...participant, role: 'moderator' } });
      }),
    );
    await c.client.req('hand.raise', {});
    const handOf = (client: TestClient) => events(client, 'peer.updated').filter((r) => about(c.id)(r));
    await expect.poll(() => handOf(b.client).length).toBe(1);
    await expect.poll(() => handOf(host.client).length).toBe(1);
    expect(handOf(b.client)[0]!.payload).toMatchObject({ participant: { participantId: c.id, role: 'moderator', handRaisedSeq: expect.any(Number) } });
    expect(handOf(host.client)[0]!.payload).toMatchObject({ participant: { participantId: c.id, role: 'listener' } });
    expect(relay.rooms.get(room.keys.roomId)!.members.get(c.id)!.role).toBe('listener');
  });

  it('inject: a forged event reaches one recipient only; an unknown recipient is an error', async () => {
    const { host, b, c } = await threeMembers();
    const reset = b.client.next('room.mediaReset');
    adversary.inject(b.id, 'room.mediaReset', {});
    await reset;
    await c.client.req('hand.raise', {});
    await expect.poll(() => events(host.client, 'peer.updated').filter(about(c.id)).length).toBe(1);
    await expect.poll(() => events(b.client, 'peer.updated').filter(about(c.id)).length).toBe(1);
    expect(events(host.client, 'room.mediaReset')).toEqual([]);
    expect(adversary.sent(b.id).at(-2)).toMatchObject({ event: 'room.mediaReset', fate: 'injected' });
    expect(() => adversary.inject('nobody', 'room.mediaReset', {})).toThrow(NoSuchRecipientError);
  });

  it('rewriteAck: a joiner is told it is a speaker while the relay and the room know a listener', async () => {
    const { room, host } = await threeMembers();
    uninstall.push(adversary.rewriteAck('room.join', (data) => ({ ...(data as object), role: 'speaker' })));
    const d = await connect(relay);
    clients.push(d);
    const joined = (await d.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'D') })) as JoinResult;
    expect(joined.role).toBe('speaker');
    expect(relay.rooms.get(room.keys.roomId)!.members.get(joined.participantId)!.role).toBe('listener');
    await expect
      .poll(() =>
        events(host.client, 'peer.joined')
          .filter(about(joined.participantId))
          .map((r) => (r.payload as EventOf<'peer.joined'>).participant.role),
      )
      .toEqual(['listener']);
    expect(adversary.sent(joined.participantId).find((m) => m.kind === 'ack')).toMatchObject({ fate: 'replaced', payload: { data: { role: 'listener' } } });
  });

  it('replay: an old message sent again, to its recipient or to another', async () => {
    const { host, b, c } = await threeMembers();
    const old = adversary.sent(b.id).find((m) => m.event === 'peer.joined' && about(c.id)(m))!;
    adversary.replay(old);
    await expect.poll(() => events(b.client, 'peer.joined').filter(about(c.id)).length).toBe(2);
    adversary.replay(old, host.id);
    await expect.poll(() => events(host.client, 'peer.joined').filter(about(c.id)).length).toBe(2);
    expect(events(c.client, 'peer.joined')).toEqual([]);
  });

  it('split: two groups stop hearing of each other, including in the member list of an admission', async () => {
    const { room, host, b, c } = await threeMembers();
    const before = (client: TestClient, id: string) => events(client, 'peer.updated').filter(about(id)).length;
    const bAboutSelf = before(b.client, b.id);
    const cAboutB = before(c.client, b.id);
    uninstall.push(adversary.split([b.id], [c.id]));
    // c raises its hand (told to the stage: host and b); the host mutes b (told to everyone, b on stage).
    await c.client.req('hand.raise', {});
    await host.client.req('stage.mute', { participantId: b.id, decision: DECISION });
    await expect.poll(() => events(host.client, 'peer.updated').filter((r) => about(c.id)(r) || about(b.id)(r)).length).toBeGreaterThanOrEqual(2);
    await host.client.req('room.lock', { locked: true, decision: DECISION });
    await arrived(b.client, 'room.updated');
    await arrived(c.client, 'room.updated');
    expect(events(b.client, 'peer.updated').filter(about(c.id))).toEqual([]);
    expect(before(c.client, b.id)).toBe(cAboutB);
    expect(before(b.client, b.id)).toBe(bAboutSelf + 1);

    const visitor = await connect(relay);
    clients.push(visitor);
    const waiting = (await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'V') })) as { lobby: true; participantId: string };
    uninstall.push(adversary.split([waiting.participantId], [b.id]));
    const admitted = visitor.next('lobby.admitted');
    await host.client.req('lobby.admit', { participantId: waiting.participantId, decision: DECISION });
    const seen = (await admitted).room.participants.map((p) => p.participantId);
    // A listener is shown the stage and itself: the host, and b unless the split hides it.
    expect(seen).toEqual(expect.arrayContaining([host.id, waiting.participantId]));
    expect(seen).not.toContain(b.id);
  });
});
