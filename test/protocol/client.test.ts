import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MalformedEventError, MalformedReplyError, onEvent, request } from '../../protocol/client.ts';
import { SignalingError } from '../../protocol/errors.ts';
import { LIMITS, type EventType } from '../../protocol/messages.ts';

// A bare socket.io server on loopback plays the relay: it sends whatever each test tells it to.
let http: HttpServer;
let server: Server;
let relaySide: ServerSocket;
let client: Socket;
let replyWith: (event: string, payload: unknown) => unknown = () => ({ ok: true, data: {} });

beforeAll(async () => {
  http = createServer();
  server = new Server(http);
  const connected = new Promise<ServerSocket>((resolve) => server.on('connection', resolve));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  client = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], reconnection: false });
  relaySide = await connected;
  relaySide.onAny((event: string, payload: unknown, ack: (reply: unknown) => void) => ack(replyWith(event, payload)));
});

afterAll(async () => {
  client.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

type Outcome = { ok: true; data: unknown } | { ok: false; error: MalformedEventError };

/** The relay emits one event; resolves with what onEvent made of it. */
function deliver(type: EventType, payload: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    const stop = onEvent(
      client,
      type,
      (data) => {
        stop();
        resolve({ ok: true, data });
      },
      (error) => {
        stop();
        resolve({ ok: false, error });
      },
    );
    relaySide.emit(type, payload);
  });
}

const id = 'p1';
const commit = 'AQID'.repeat(10);
const keyPackage = 'K'.repeat(107);
const participant = { participantId: id, role: 'listener', announcement: 'QUJD', joinedSeq: 3, handRaisedSeq: null, muted: false, producerIds: [] };

describe('onEvent: relay events reach the page only when they fit their schema', () => {
  it('hands over a valid payload, with fields the schema does not know stripped', async () => {
    const outcome = await deliver('key.commit', { from: id, commit, epoch: 7, injected: '<script>' });
    expect(outcome).toEqual({ ok: true, data: { from: id, commit, epoch: 7 } });
    expect(await deliver('peer.joined', { participant })).toEqual({ ok: true, data: { participant } });
    expect(await deliver('key.package', { from: id, epoch: 7, package: keyPackage, to: 'someone' })).toEqual({ ok: true, data: { from: id, epoch: 7, package: keyPackage } });
  });

  it.each([
    ['key.commit', { from: id, commit, epoch: '7' }, 'epoch'],
    ['key.commit', { from: id, commit, epoch: 1.5 }, 'epoch'],
    ['key.commit', { from: id, commit, epoch: 0 }, 'epoch'],
    ['key.commit', { from: id, commit, epoch: 2 ** 48 }, 'epoch'],
    ['key.commit', { from: id, epoch: 7 }, 'commit'],
    ['key.commit', { from: id, commit: 'not base64url!', epoch: 7 }, 'commit'],
    ['key.commit', { from: id, commit: 'A'.repeat(LIMITS.commit + 1), epoch: 7 }, 'commit'],
    ['key.commit', { from: 'x'.repeat(65), commit, epoch: 7 }, 'from'],
    ['key.package', { from: id, epoch: 7, package: keyPackage.slice(1) }, 'package'],
    ['key.package', { from: id, epoch: 7, package: `${keyPackage}K` }, 'package'],
    ['key.package', { from: id, epoch: 7, package: `${keyPackage.slice(1)}+` }, 'package'],
    ['key.package', { from: id, package: keyPackage }, 'epoch'],
    ['key.package', { epoch: 7, package: keyPackage }, 'from'],
    ['peer.joined', { participant: { ...participant, role: 'god' } }, 'participant.role'],
    ['peer.joined', { participant: { ...participant, joinedSeq: -1 } }, 'participant.joinedSeq'],
    ['peer.joined', { participant: { ...participant, producerIds: Array.from({ length: 9 }, (_, i) => `p${i}`) } }, 'participant.producerIds'],
    ['peer.joined', { participant: { ...participant, announcement: 'A'.repeat(LIMITS.announcement + 1) } }, 'participant.announcement'],
    ['peer.left', { participantId: id, reason: 'vanished' }, 'reason'],
    ['room.rotated', { newRoomId: 'short' }, 'newRoomId'],
    ['room.updated', {}, 'locked'],
    ['room.ended', null, 'message'],
    ['room.ended', 'ended', 'message'],
    ['lobby.admitted', { participantId: id }, 'resumeToken'],
  ] as [EventType, unknown, string][])('drops %s %j and names the field (%s)', async (type, payload, field) => {
    const outcome = await deliver(type, payload);
    expect(outcome.ok).toBe(false);
    const { error } = outcome as { ok: false; error: MalformedEventError };
    expect(error).toBeInstanceOf(MalformedEventError);
    expect(error.type).toBe(type);
    expect(error.message).toContain(`${field}:`);
    // The value itself never ends up in the message (it may be huge, or a script).
    expect(error.message.length).toBeLessThan(300);
  });

  it('stops listening when asked', async () => {
    let calls = 0;
    let witnessed = 0;
    const witness = onEvent(
      client,
      'room.updated',
      () => witnessed++,
      () => witnessed++,
    );
    const stop = onEvent(
      client,
      'room.updated',
      () => calls++,
      () => calls++,
    );
    stop();
    relaySide.emit('room.updated', { locked: true, decision: 'c2lnbmVkLWRlY2lzaW9u' });
    relaySide.emit('room.updated', 'garbage');
    await expect.poll(() => witnessed).toBe(2);
    witness();
    expect(calls).toBe(0);
  });
});

describe('request: replies are parsed against the reply schema too', () => {
  it('resolves with the parsed data, unknown fields stripped', async () => {
    replyWith = () => ({ ok: true, data: { exists: true, sealedTitle: 'QUJD', locked: false, routerRtpCapabilities: { codecs: [] }, extra: 1 } });
    expect(await request(client, 'room.peek', { roomId: 'A'.repeat(22) })).toEqual({ exists: true, sealedTitle: 'QUJD', locked: false, routerRtpCapabilities: { codecs: [] } });
  });

  it('rejects with the relay error when the relay refuses', async () => {
    replyWith = () => ({ ok: false, error: { code: 'ROOM_LOCKED', message: 'locked' } });
    const error = await request(client, 'room.lock', { locked: true, decision: 'c2lnbmVkLWRlY2lzaW9u' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignalingError);
    expect(error).not.toBeInstanceOf(MalformedReplyError);
    expect((error as SignalingError).code).toBe('ROOM_LOCKED');
  });

  it.each([
    ['a reply that is not an acknowledgement', 'yes'],
    ['an acknowledgement without ok', { data: {} }],
    ['data of the wrong shape', { ok: true, data: { exists: 'yes', sealedTitle: null, locked: false, routerRtpCapabilities: null } }],
    ['a reply without a field the protocol requires', { ok: true, data: { exists: true, sealedTitle: null, locked: false } }],
    ['missing data', { ok: true }],
    ['an error code the protocol does not have', { ok: false, error: { code: 'PWNED', message: 'x' } }],
    ['a huge title', { ok: true, data: { exists: true, sealedTitle: 'A'.repeat(1_000_000), locked: false, routerRtpCapabilities: null } }],
  ])('rejects %s with a MalformedReplyError', async (_name, reply) => {
    replyWith = () => reply;
    const error = await request(client, 'room.peek', { roomId: 'A'.repeat(22) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedReplyError);
    expect((error as MalformedReplyError).code).toBe('INTERNAL');
    expect((error as Error).message).toMatch(/^malformed reply from the relay to room\.peek: /);
  });

  it('cuts a long error message from the relay', async () => {
    replyWith = () => ({ ok: false, error: { code: 'FORBIDDEN', message: 'x'.repeat(100_000) } });
    const error = (await request(client, 'room.end', {}).catch((e: unknown) => e)) as SignalingError;
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message.length).toBe(300);
  });
});
