import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, randomBytes, sealRoomMessage, utf8, type Identity } from '../../crypto/index.ts';
import { ROOM_MESSAGE_CHARS, ROOM_MESSAGE_RATE } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { announce, connect, DECISION, newRoom, sealedTitle, startTestRelay, type TestClient, type TestRoom } from '../helpers/relay.ts';

let relay: Relay;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(() => relay?.close());

const epochSecret = randomBytes(32);
const commitHash = randomBytes(32);

function seal(room: TestRoom, who: Identity, text: string): string {
  return sealRoomMessage({ roomId: room.keys.roomId, epoch: 3, epochSecret, commitHash, sender: who, kind: 'chat', payload: utf8.encode(text) });
}

async function roomOfThree(): Promise<{ room: TestRoom; host: TestClient; a: TestClient; b: TestClient; ids: { a: string }; alice: Identity; aliceAnnouncement: string }> {
  const room = await newRoom();
  const host = await connect(relay);
  await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 't') });
  const alice = generateIdentity();
  const a = await connect(relay);
  const aliceAnnouncement = announce(room, 'Alice', alice);
  const joined = await a.req('room.join', { roomId: room.keys.roomId, announcement: aliceAnnouncement });
  const b = await connect(relay);
  await b.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Bob') });
  return { room, host, a, b, ids: { a: joined.participantId }, alice, aliceAnnouncement };
}

const messages = (c: TestClient) => c.received.filter((r) => r.event === 'room.message').map((r) => r.payload as { from: string; message: string });

describe('room messages at the relay', () => {
  it('are forwarded as they came to every other member, in one of the fixed sizes, and stored nowhere', async () => {
    const { room, host, a, b, ids, alice, aliceAnnouncement } = await roomOfThree();
    const short = seal(room, alice, 'the secret word is oolong');
    const long = seal(room, alice, 'x'.repeat(600));
    const atHost = host.next('room.message');
    await a.req('room.message', { message: short });
    // A listener's message carries its announcement: other listeners were never told about it.
    expect(await atHost).toEqual({ from: ids.a, message: short, announcement: aliceAnnouncement });
    await a.req('room.message', { message: long });
    await expect.poll(() => messages(b).length).toBe(2);
    for (const c of [host, b]) {
      expect(messages(c).map((m) => m.message)).toEqual([short, long]);
      for (const m of messages(c)) expect(ROOM_MESSAGE_CHARS).toContain(m.message.length);
    }
    expect(new Set([short.length, long.length]).size).toBe(2);
    expect(messages(a)).toEqual([]);
    // What the relay holds of the room says nothing of them; a newcomer gets none of what was said before.
    expect(JSON.stringify([...relay.rooms.get(room.keys.roomId)!.members.values()].map((m) => m.snapshot()))).not.toContain(short.slice(0, 40));
    const late = await connect(relay);
    await late.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Late') });
    await host.req('hand.lower', {});
    expect(messages(late)).toEqual([]);
    for (const c of [host, a, b, late]) c.close();
  });

  it('refuses oversize messages with MESSAGE_TOO_LARGE, odd sizes with BAD_REQUEST, and non-members with NOT_IN_ROOM', async () => {
    const { room, host, a, b, alice } = await roomOfThree();
    const largest = ROOM_MESSAGE_CHARS.at(-1)!;
    expect(await a.raw('room.message', { message: 'A'.repeat(largest + 4) })).toMatchObject({ ok: false, error: { code: 'MESSAGE_TOO_LARGE' } });
    expect(await a.raw('room.message', { message: 'A'.repeat(ROOM_MESSAGE_CHARS[0] + 1) })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('room.message') } });
    const stranger = await connect(relay);
    expect(await stranger.raw('room.message', { message: seal(room, alice, 'hi') })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    await host.req('hand.lower', {});
    expect(messages(b)).toEqual([]);
    for (const c of [host, a, b, stranger]) c.close();
  });

  it('rate-limits each member with RATE_LIMITED, and loses nothing it forwarded before', async () => {
    const { room, host, a, b, alice } = await roomOfThree();
    const sent = Array.from({ length: ROOM_MESSAGE_RATE.burst + 6 }, (_, i) => seal(room, alice, `m${i}`));
    const replies = (await Promise.all(sent.map((message) => a.raw('room.message', { message })))) as { ok: boolean; error?: { code: string } }[];
    const accepted = sent.filter((_, i) => replies[i]!.ok);
    expect(replies.filter((r) => !r.ok).map((r) => r.error!.code)).toContain('RATE_LIMITED');
    expect(accepted.length).toBeGreaterThanOrEqual(ROOM_MESSAGE_RATE.burst);
    await expect.poll(() => messages(host).length).toBe(accepted.length);
    expect(messages(host).map((m) => m.message)).toEqual(accepted);
    // Another member's allowance is its own.
    expect(await b.raw('room.message', { message: seal(room, alice, 'mine') })).toMatchObject({ ok: true });
    for (const c of [host, a, b]) c.close();
  });

  it('a visitor waiting in the lobby of a locked room receives none', async () => {
    const room = await newRoom();
    const host = await connect(relay);
    await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 't') });
    await host.req('room.lock', { locked: true, decision: DECISION });
    const visitor = await connect(relay);
    expect(await visitor.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'V') })).toMatchObject({ lobby: true });
    expect(await visitor.raw('room.message', { message: seal(room, generateIdentity(), 'knock') })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    await host.req('room.message', { message: seal(room, generateIdentity(), 'inside') });
    await host.req('hand.lower', {}).catch(() => undefined);
    expect(messages(visitor)).toEqual([]);
    for (const c of [host, visitor]) c.close();
  });
});
