import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { alive } from '../helpers/process.ts';
import { announce, connect, newRoom, OPUS_RTP_PARAMETERS, STREAM_CERTIFICATE, sealedTitle, startTestRelay } from '../helpers/relay.ts';

describe('a mediasoup worker dies', () => {
  it('is replaced; its rooms get new routers, members are told to re-create transports, and nobody leaves', async () => {
    const lines: string[] = [];
    const relay = await startTestRelay({ logLevel: 'debug', logDestination: { write: (line) => lines.push(line) } });
    const room = await newRoom();
    const host = await connect(relay);
    const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'T') });
    const guest = await connect(relay);
    const joined = await guest.req('room.join', { roomId: room.keys.roomId, announcement: announce(room, 'Guest') });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    const send = await host.req('transport.create', { direction: 'send' });
    await host.req('producer.create', { transportId: send.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    await guest.req('transport.create', { direction: 'recv' });
    const state = relay.rooms.get(room.keys.roomId)!;
    const oldRouter = state.router;
    const [dead] = relay.workers();

    const resets = [host.next('room.mediaReset'), guest.next('room.mediaReset')];
    process.kill(dead!.pid, 'SIGKILL');
    await Promise.all(resets);

    const [fresh] = relay.workers();
    expect(fresh!.pid).not.toBe(dead!.pid);
    expect(alive(fresh!.pid)).toBe(true);
    expect(state.router).not.toBe(oldRouter);
    expect(state.router.closed).toBe(false);
    expect([...state.members.keys()].sort()).toEqual([created.participantId, joined.participantId].sort());
    expect([...state.members.values()].every((m) => m.transports.size === 0 && m.producers.size === 0)).toBe(true);
    expect([...host.received, ...guest.received].map((r) => r.event)).not.toContain('peer.left');

    // Media works again on the new router.
    const send2 = await host.req('transport.create', { direction: 'send' });
    const added = guest.next('producer.added');
    const { producerId } = await host.req('producer.create', { transportId: send2.transportId, kind: 'audio', rtpParameters: OPUS_RTP_PARAMETERS, streamCertificate: STREAM_CERTIFICATE });
    await added;
    await guest.req('transport.create', { direction: 'recv' });
    const consumer = await guest.req('consumer.create', { producerId, rtpCapabilities: state.router.rtpCapabilities as unknown as Record<string, unknown> });
    expect(consumer.producerId).toBe(producerId);

    host.close();
    guest.close();
    await relay.close();
    expect(alive(fresh!.pid)).toBe(false);

    // The operator learns that a worker died, and nothing about who was in the room.
    const log = lines.join('');
    expect(log).toContain('mediasoup worker died');
    for (const secret of [room.keys.roomId, created.participantId, joined.participantId, producerId, '127.0.0.1', created.room.sealedTitle]) {
      expect(log).not.toContain(secret);
    }
  });
});

describe('npm start', () => {
  it('SIGTERM tells connected clients and the process exits cleanly', async () => {
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const child = spawn(process.execPath, [main], {
      // Any free media port (RTC_PORT=0): the default 40000 may be another relay's while files run side by side.
      env: { ...process.env, PORT: '0', RTC_PORT: '0', WORKERS: '1', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const found = /open (http:\/\/\S+?)\/ in a browser/.exec(out);
        if (found) resolve(found[1]!);
      });
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', () => reject(new Error(`relay exited before listening: ${out}${err}`)));
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const told = new Promise((resolve) => socket.once('relay.shuttingDown', resolve));
    child.kill('SIGTERM');
    await told;
    expect(await exited).toBe(0);
    socket.disconnect();
  });
});
