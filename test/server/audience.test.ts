// Audience at scale: listeners are not told about each other, the count is throttled, and paging lists each listener once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, ParticipantSnapshot } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { AUDIENCE_COUNT_INTERVAL_MS } from '../../server/rooms/room.ts';
import { announce, connect, DECISION, newRoom, sealedTitle, startTestRelay, type TestClient, type TestRoom } from '../helpers/relay.ts';

const LISTENERS = 300;

let relay: Relay;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(() => relay?.close());

/** Per-member events that name a participant: the ones a listener must not get about another listener. */
const PER_MEMBER = new Set(['peer.joined', 'peer.updated', 'peer.left']);
function namedIn(r: { event: string; payload: unknown }): string | null {
  if (!PER_MEMBER.has(r.event)) return null;
  const p = r.payload as { participant?: { participantId: string }; participantId?: string };
  return p.participant?.participantId ?? p.participantId ?? null;
}

/** Every listener, page by page, as a member sees them. */
async function allPages(client: TestClient, limit: number): Promise<ParticipantSnapshot[]> {
  const out: ParticipantSnapshot[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await client.req('audience.page', after === undefined ? { limit } : { after, limit });
    expect(page.members.length).toBeLessThanOrEqual(limit);
    out.push(...page.members);
    if (page.next === null) return out;
    after = page.next;
  }
}

const opened: TestClient[] = [];

interface Joined {
  client: TestClient;
  id: string;
}

async function joinListeners(room: TestRoom, n: number, name: string): Promise<Joined[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const client = await connect(relay);
      opened.push(client);
      const reply = await client.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, `${name}${i}`) });
      if ('lobby' in reply) throw new Error('unexpected lobby');
      return { client, id: reply.participantId };
    }),
  );
}

describe('a room with a few hundred listeners', () => {
  let room: TestRoom;
  let host: TestClient;
  let hostId: string;
  let speaker: Joined;
  let first: Joined;
  let listeners: Joined[];
  let started: number;
  let speakerMembers: Promise<{ participants: ParticipantSnapshot[] }>;
  const arrived: Joined[] = [];

  beforeAll(async () => {
    room = await newRoom();
    started = performance.now();
    host = await connect(relay);
    hostId = (await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Town hall') })).participantId;
    speaker = (await joinListeners(room, 1, 'Speaker'))[0]!;
    first = (await joinListeners(room, 1, 'First'))[0]!;
    listeners = await joinListeners(room, LISTENERS, 'L');
    // The speaker moves onto the stage after everyone joined: it is then told about all of them at once.
    speakerMembers = speaker.client.next('room.members');
    const invited = speaker.client.next('stage.invited');
    await host.req('stage.invite', { participantId: speaker.id, decision: DECISION });
    await invited;
    await speaker.client.req('stage.respond', { accept: true, decision: DECISION });
  }, 120_000);

  afterAll(() => {
    for (const c of [host, ...opened]) c?.close();
  });

  it('a listener is shown the stage and itself on joining, with the audience count', async () => {
    const late = await connect(relay);
    const reply = await late.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Late') });
    if ('lobby' in reply) throw new Error('unexpected lobby');
    expect(reply.room.participants.map((p) => p.participantId).sort()).toEqual([hostId, speaker.id, reply.participantId].sort());
    // The speaker, first and the listeners, and the newcomer itself.
    expect(reply.room.audienceCount).toBe(LISTENERS + 2);
    late.close();
    await expect.poll(() => relay.rooms.get(room.keys.roomId)!.members.size).toBe(LISTENERS + 3);
  });

  it('the member moved onto the stage gets every member once, in pages, to verify whoever it may have to key', async () => {
    await speakerMembers;
    // 302 members: two pages of room.members, back to back.
    const pages = () => speaker.client.received.filter((r) => r.event === 'room.members').map((r) => r.payload as EventOf<'room.members'>);
    await expect.poll(() => pages().length).toBe(2);
    expect(pages().map((p) => p.page)).toEqual([
      { index: 0, of: 2 },
      { index: 1, of: 2 },
    ]);
    const participants = pages().flatMap((p) => p.participants);
    const ids = new Set(participants.map((p) => p.participantId));
    expect(ids.size).toBe(participants.length);
    for (const id of [hostId, speaker.id, first.id, ...listeners.map((l) => l.id)]) expect(ids.has(id)).toBe(true);
  });

  it('paging the audience returns every listener exactly once, in join order, and no one on stage', async () => {
    for (const limit of [7, 37, 200]) {
      const pages = await allPages(first.client, limit);
      const ids = pages.map((p) => p.participantId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set([first.id, ...listeners.map((l) => l.id)]));
      expect(pages.every((p) => p.role === 'listener')).toBe(true);
      const seqs = pages.map((p) => p.joinedSeq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  }, 60_000);

  it('paging refuses bad limits and strangers', async () => {
    await expect(first.client.req('audience.page', { limit: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(first.client.req('audience.page', { limit: 201 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const stranger = await connect(relay);
    await expect(stranger.req('audience.page', { limit: 10 })).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    stranger.close();
  });

  it('a listener hears nothing per listener while the stage hears every join, update and leave', async () => {
    const raised = listeners[0]!;
    await raised.client.req('hand.raise', {});
    const leaving = listeners.slice(-50);
    await Promise.all(leaving.map((l) => l.client.req('room.leave', {})));
    const hostLeft = () => host.received.filter((r) => r.event === 'peer.left').length;
    await expect.poll(hostLeft).toBe(50 + 1);

    const listenerIds = new Set([first.id, ...listeners.map((l) => l.id)]);
    for (const l of [first, ...listeners.slice(1, 20)]) {
      const aboutOthers = l.client.received.filter((r) => {
        const id = namedIn(r);
        return id !== null && id !== l.id && listenerIds.has(id);
      });
      expect(aboutOthers).toEqual([]);
    }
    // Its own raised hand reaches the listener itself.
    expect(raised.client.received.some((r) => r.event === 'peer.updated' && namedIn(r) === raised.id)).toBe(true);
    // The speaker went on stage after the joins (room.members told it of them); it hears the hand and the leaves.
    const joined = new Set(host.received.filter((r) => r.event === 'peer.joined').map(namedIn));
    for (const l of listeners) expect(joined.has(l.id)).toBe(true);
    for (const stage of [host, speaker.client]) expect(stage.received.some((r) => r.event === 'peer.updated' && namedIn(r) === raised.id)).toBe(true);
    // The speaker's socket is its own: its leaves may still be on the way when the host has all of them.
    const speakerLeft = () => new Set(speaker.client.received.filter((r) => r.event === 'peer.left').map(namedIn));
    await expect.poll(() => leaving.every((l) => speakerLeft().has(l.id))).toBe(true);
    listeners = listeners.slice(0, -50);
  }, 60_000);

  it('moves onto and off the stage reach every listener', async () => {
    const mover = listeners[1]!;
    const seenOn = first.client.next('peer.updated');
    const invited = mover.client.next('stage.invited');
    await host.req('stage.invite', { participantId: mover.id, decision: DECISION });
    await invited;
    await mover.client.req('stage.respond', { accept: true, decision: DECISION });
    expect((await seenOn).participant).toMatchObject({ participantId: mover.id, role: 'speaker' });
    const seenOff = first.client.next('peer.updated');
    await mover.client.req('stage.leave', { decision: DECISION });
    expect((await seenOff).participant).toMatchObject({ participantId: mover.id, role: 'listener' });
    // Stage decisions go to the stage only: a listener acts on none.
    expect(first.client.received.filter((r) => r.event === 'stage.decision')).toEqual([]);
    expect(host.received.filter((r) => r.event === 'stage.decision').length).toBeGreaterThanOrEqual(2);
  });

  it('paging while listeners come and go lists each one at most once, and every one that stayed', async () => {
    const going = listeners.filter((_, i) => i % 5 === 4);
    const staying = [first, ...listeners.filter((_, i) => i % 5 !== 4)];
    const seen: string[] = [];
    let after: number | undefined;
    let page = await first.client.req('audience.page', { limit: 25 });
    const churn: Promise<unknown>[] = [];
    for (let n = 0; ; n++) {
      seen.push(...page.members.map((m) => m.participantId));
      if (page.next === null) break;
      after = page.next;
      // Between pages: some leave, some arrive.
      if (n < going.length / 10) {
        churn.push(...going.slice(n * 10, n * 10 + 10).map((l) => l.client.req('room.leave', {})));
        churn.push(
          joinListeners(room, 3, `Churn${n}-`).then((j) => {
            arrived.push(...j);
            return j;
          }),
        );
      }
      page = await first.client.req('audience.page', { after, limit: 25 });
    }
    await Promise.all(churn);
    expect(new Set(seen).size).toBe(seen.length);
    const seenSet = new Set(seen);
    for (const l of staying) expect(seenSet.has(l.id)).toBe(true);
    listeners = [...staying.slice(1), ...arrived];
  }, 60_000);

  it('the audience count reaches everyone at most once a second and ends on the right count', async () => {
    const expected = listeners.length + 1;
    const last = (c: TestClient) => (c.received.filter((r) => r.event === 'room.audience').at(-1)?.payload as { count: number } | undefined)?.count;
    for (const c of [host, first.client, listeners.at(-1)!.client]) await expect.poll(() => last(c), { timeout: 5_000 }).toBe(expected);
    expect(relay.rooms.get(room.keys.roomId)!.audienceSize).toBe(expected);
    // Every send is at least an interval after the one before; the host saw all of them since before the first.
    const sends = host.received.filter((r) => r.event === 'room.audience').length;
    const elapsed = performance.now() - started;
    expect(sends).toBeLessThanOrEqual(Math.floor(elapsed / AUDIENCE_COUNT_INTERVAL_MS) + 1);
    // Far fewer than the changes: 300 and more joins, 50 leaves, moves on and off the stage.
    expect(sends).toBeLessThan(LISTENERS);
  });
});
