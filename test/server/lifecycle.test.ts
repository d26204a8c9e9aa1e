import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { alive } from '../helpers/process.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay } from '../helpers/relay.ts';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('relay lifecycle', () => {
  it('close() tells clients and leaves no worker process or port behind', async () => {
    const relay = await startTestRelay({ workers: 2 });
    const pids = relay.workers().map((w) => w.pid);
    expect(pids.every(alive)).toBe(true);
    const room = await newRoom();
    const client = await connect(relay);
    await client.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'H'), sealedTitle: sealedTitle(room, 'T') });
    const transport = await client.req('transport.create', { direction: 'send' });
    const tcp = transport.iceCandidates.find((c) => c.protocol === 'tcp') as { port: number } | undefined;
    const rtcPort = tcp!.port;
    expect(await portOpen(rtcPort)).toBe(true);
    expect(await portOpen(relay.port)).toBe(true);
    const told = client.next('relay.shuttingDown');
    await relay.close();
    await told;
    expect(pids.some(alive)).toBe(false);
    expect(await portOpen(relay.port)).toBe(false);
    expect(await portOpen(rtcPort)).toBe(false);
    client.close();
  });

  it('places rooms on the least-loaded worker', async () => {
    const relay = await startTestRelay({ workers: 2 });
    const clients = [];
    for (let i = 0; i < 2; i++) {
      const room = await newRoom();
      const c = await connect(relay);
      await c.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'H'), sealedTitle: sealedTitle(room, 'T') });
      clients.push(c);
    }
    const workersUsed = new Set([...relay.rooms.values()].map((r) => r.worker.pid));
    expect(workersUsed.size).toBe(2);
    for (const c of clients) c.close();
    await relay.close();
  });
});
