// Hostile input at scale: over 10,000 generated messages from several clients while a real room's audio flows.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, expect, it, onTestFailed } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { requests, type RequestType } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startAudioFlow } from '../helpers/audio-flow.ts';
import { fuzzMessage, harvest, resolve, type FuzzMessage } from '../helpers/fuzz-messages.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, sealedTitle, startTestRelay, type TestClient } from '../helpers/relay.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_808);
const CLIENTS = 4;
const PER_CLIENT = 2_600;
/** Messages in flight per client: enough to overlap, few enough that one slow mediasoup call does not stall all. */
const BATCH = 25;
const RAW_FRAMES = 200;

// The relay runs in this process: its heap is measured after full collections, not after whenever V8 felt like one.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function settledHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

const AckReply = z.union([z.strictObject({ ok: z.literal(true), data: z.unknown() }), z.strictObject({ ok: z.literal(false), error: z.strictObject({ code: z.enum(ERROR_CODES), message: z.string() }) })]);
const ErrorEvent = z.strictObject({ code: z.enum(ERROR_CODES), message: z.string() });

interface Tally {
  sent: number;
  withAck: number;
  answered: number;
  withoutAck: number;
  codes: Map<string, number>;
  problems: string[];
}

const newTally = (): Tally => ({ sent: 0, withAck: 0, answered: 0, withoutAck: 0, codes: new Map(), problems: [] });

let relay: Relay;
beforeAll(async () => {
  // Above the defaults so that most of the 10,000 messages reach validation and the handlers within the time box;
  // the flood below still goes past this limit.
  relay = await startTestRelay({ messagesPerSecond: 3_000, messageBurst: 600 });
});
afterAll(() => relay?.close());

it('answers 10,000 hostile messages with error codes while a room keeps its members and audio, and leaks nothing', { timeout: 120_000 }, async () => {
  onTestFailed(() => console.error(`signaling fuzz failed; reproduce with FUZZ_SEED=${SEED}`));

  // ---- the active room: a host, a listener, and audio through its router ----
  const room = await newRoom();
  const roomId = room.keys.roomId;
  const host = await connect(relay);
  const created = await host.req('room.create', { roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Under pressure') });
  const listener = await connect(relay);
  const joined = await listener.req('room.join', { roomId, announcement: announce(room, 'Listener') });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  const active = relay.rooms.get(roomId)!;
  const audio = await startAudioFlow(active.router);
  await expect.poll(() => audio.received).toBeGreaterThan(10);

  // Live values the generated payloads point at: the active room, rooms the fuzz clients may create, real members.
  const otherRooms = await Promise.all(Array.from({ length: 4 }, () => newRoom()));
  const announcements = [...otherRooms, room].flatMap((r, i) => [announce(r, `Fuzz ${i}`), announce(r, `Fuzz ${i}b`)]);
  // Each client learns ids from its own replies and events: the relay only acts on a connection's own transports.
  const seedPools = () =>
    new Map<string, unknown[]>([
      ['roomId', [roomId, ...otherRooms.map((r) => r.keys.roomId)]],
      ['announcement', announcements],
      ['participantId', [created.participantId, joined.participantId]],
      ['rtpParameters', [OPUS_RTP_PARAMETERS]],
      ['rtpCapabilities', [active.router.rtpCapabilities]],
    ]);
  const baseline = settledHeap();

  const send = (client: TestClient, pools: Map<string, unknown[]>, m: FuzzMessage, tally: Tally, label: string): Promise<void> => {
    const args = m.args.map((a) => resolve(a, pools));
    tally.sent++;
    if (!m.ack) {
      tally.withoutAck++;
      client.socket.emit(m.event, ...args);
      return Promise.resolve();
    }
    tally.withAck++;
    const event = m.event.slice(0, 40);
    return new Promise((done) => {
      client.socket.timeout(30_000).emit(m.event, ...args, (err: Error | null, reply: unknown) => {
        done();
        if (err) return void tally.problems.push(`${label} ${event}: no reply (${err.message})`);
        tally.answered++;
        const ack = AckReply.safeParse(reply);
        if (!ack.success) return void tally.problems.push(`${label} ${event}: malformed reply ${JSON.stringify(reply).slice(0, 200)}`);
        const code = ack.data.ok ? 'ok' : ack.data.error.code;
        tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
        // A hostile message is the client's fault: its code says what was wrong, never the relay's INTERNAL.
        if (code === 'INTERNAL') tally.problems.push(`${label} ${event}: INTERNAL for ${JSON.stringify(args).slice(0, 300)}`);
        if (!ack.data.ok) return;
        if (!Object.hasOwn(requests, m.event)) return void tally.problems.push(`${label} ${event}: an unknown message succeeded`);
        if (!requests[m.event as RequestType].reply.safeParse(ack.data.data).success) tally.problems.push(`${label} ${event}: reply off its schema`);
        harvest(ack.data.data, pools);
      });
    });
  };

  /** One client's generated stream in batches, then a flood past the rate limit; every ack must come back. */
  const fuzzClient = async (index: number): Promise<{ main: Tally; flood: Tally }> => {
    const client = await connect(relay);
    const pools = seedPools();
    client.socket.onAny((_event, payload) => harvest(payload, pools));
    const messages = fc.sample(fuzzMessage, { seed: SEED + index, numRuns: PER_CLIENT });
    const main = newTally();
    for (let i = 0; i < messages.length; i += BATCH) {
      await Promise.all(messages.slice(i, i + BATCH).map((m, j) => send(client, pools, m, main, `client ${index} message ${i + j}`)));
    }
    const flood = newTally();
    const peek: FuzzMessage = { event: 'room.peek', args: [{ roomId }], ack: true };
    for (let wave = 0; wave < 5 && !flood.codes.has('RATE_LIMITED'); wave++) {
      await Promise.all(Array.from({ length: relay.config.messageBurst * 3 }, () => send(client, pools, peek, flood, `client ${index} flood`)));
    }
    // Every message without an acknowledgement is answered with exactly one `error` event.
    const errors = () => client.received.filter((r) => r.event === 'error');
    await expect.poll(() => errors().length, { message: `client ${index} error events` }).toBe(main.withoutAck);
    for (const { payload } of errors()) expect(ErrorEvent.safeParse(payload).success, JSON.stringify(payload)).toBe(true);
    expect(client.socket.connected, `client ${index} still connected`).toBe(true);
    client.close();
    return { main, flood };
  };

  /** Messages past maxHttpBufferSize: socket.io drops those connections, one of them a member of the active room. */
  const oversized = async (): Promise<number> => {
    const member = await connect(relay);
    await member.req('room.join', { roomId, announcement: announce(room, 'Heavy') });
    const clients = [member, await connect(relay), await connect(relay)];
    const dropped = clients.map((c) => new Promise((r) => c.socket.once('disconnect', r)));
    const huge = relay.config.maxMessageBytes + 1_024;
    clients[0]!.socket.emit('key.commit', { commit: 'A'.repeat(huge), epoch: 2, packages: [] });
    clients[1]!.socket.emit('room.peek', Buffer.alloc(huge, 1));
    clients[2]!.socket.emit('x'.repeat(huge));
    await Promise.all(dropped);
    return clients.length;
  };

  /** Bytes that are not socket.io at all, on raw WebSockets: the parser closes those connections. */
  const rawGarbage = async (): Promise<number> => {
    const frames = fc.sample(
      fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.string({ maxLength: 200 }), fc.constantFrom('42["room.peek"', '42[1,{}]', '421[null]', '42{}', '451-["room.peek",{"_placeholder":true,"num":9}]', '4', '40garbage', '6')),
      { seed: SEED, numRuns: RAW_FRAMES },
    );
    const wsUrl = `${relay.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
    for (let i = 0; i < frames.length; i += 10) {
      const ws = new WebSocket(wsUrl);
      await new Promise((r) => ws.addEventListener('open', r, { once: true }));
      ws.send('40');
      for (const frame of frames.slice(i, i + 10)) ws.send(frame);
      await new Promise((r) => setTimeout(r, 50));
      ws.close();
    }
    return frames.length;
  };

  const before = { sent: audio.sent, received: audio.received };
  const [clients, droppedClients, rawFrames] = await Promise.all([Promise.all(Array.from({ length: CLIENTS }, (_, i) => fuzzClient(i))), oversized(), rawGarbage()]);
  const duringFuzz = { sent: audio.sent - before.sent, received: audio.received - before.received };

  const main = clients.map((c) => c.main);
  const flood = clients.map((c) => c.flood);
  const total = (tallies: Tally[], key: 'sent' | 'withAck' | 'answered' | 'withoutAck') => tallies.reduce((n, t) => n + t[key], 0);
  const codes = (tallies: Tally[]) => {
    const all: Record<string, number> = {};
    for (const t of tallies) for (const [code, n] of t.codes) all[code] = (all[code] ?? 0) + n;
    return all;
  };
  console.info(`fuzz seed ${SEED}: ${total(main, 'sent')} generated, ${total(flood, 'sent')} flood, ${droppedClients} oversize, ${rawFrames} raw frames;`, codes(main), `flood`, codes(flood), `audio`, duringFuzz);

  expect([...main, ...flood].flatMap((t) => t.problems)).toEqual([]);
  expect(total(main, 'sent')).toBeGreaterThanOrEqual(10_000);
  expect(total(main, 'answered')).toBe(total(main, 'withAck'));
  expect(total(flood, 'answered')).toBe(total(flood, 'withAck'));
  // The fuzz reached every layer: validation, unknown names, handlers refusing and handlers succeeding.
  expect(Object.keys(codes(main))).toEqual(expect.arrayContaining(['ok', 'BAD_REQUEST', 'UNKNOWN_MESSAGE', 'NOT_IN_ROOM', 'NOT_FOUND', 'FORBIDDEN']));
  for (const t of flood) expect(t.codes.get('RATE_LIMITED')).toBeGreaterThan(0);
  expect(duringFuzz.sent).toBeGreaterThan(50);
  expect(duringFuzz.received).toBeGreaterThanOrEqual(0.8 * duringFuzz.sent);

  // ---- afterwards: only the active room, exactly its two members, no media left behind by the fuzz ----
  await expect.poll(() => [...relay.rooms.keys()]).toEqual([roomId]);
  expect(relay.rooms.get(roomId)).toBe(active);
  // A fuzz client that joined this room and just closed its socket is removed once the relay hears of the close.
  await expect.poll(() => [...active.members.keys()].sort()).toEqual([created.participantId, joined.participantId].sort());
  expect(active.lobby.size).toBe(0);
  expect(active.locked).toBe(false);
  // The audio flow's PlainTransport and DirectTransport; every WebRTC transport a fuzz client made is closed.
  expect((await active.router.dump()).transportIds).toHaveLength(2);
  expect(host.socket.connected && listener.socket.connected).toBe(true);
  expect(await listener.req('room.peek', { roomId })).toMatchObject({ exists: true, locked: false });
  const flowing = audio.received;
  await expect.poll(() => audio.received).toBeGreaterThan(flowing + 10);

  const health = await fetch(`${relay.url}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok' });
  // The public health page tells no room count (docs/operations.md): the relay's own state does.
  expect(relay.rooms.size).toBe(1);

  audio.close();
  const grown = settledHeap() - baseline;
  console.info(`fuzz heap: ${(baseline / 1e6).toFixed(1)} MB before, ${(grown / 1e6).toFixed(1)} MB more after`);
  expect(grown, `heap grew by ${(grown / 1e6).toFixed(1)} MB`).toBeLessThan(50 * 1024 * 1024);
  host.close();
  listener.close();
});
