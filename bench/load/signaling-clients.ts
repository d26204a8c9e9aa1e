// The client side of the signaling load benchmark, run as a forked child: a host and N joiners against a relay URL.
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../../protocol/messages.ts';
import { announce, newRoom, sealedTitle } from '../../test/helpers/relay.ts';

export interface LoadPlan {
  /** The relay the host creates the room on. */
  url: string;
  /** The relays joiners connect to, round-robin (cluster mode); the host's relay alone unless given. */
  joinUrls?: string[];
  clients: number;
  /** Joiners started per second; 0 starts them all at once. */
  startsPerSecond: number;
}

export interface LoadReport {
  clients: number;
  startsPerSecond: number;
  /** Emit of room.join to its acknowledgement, per answered join. */
  ackMs: number[];
  /** The same, per relay of joinUrls (in cluster mode a join through another relay than the room's is forwarded to it). */
  ackMsByRelay: number[][];
  connectMs: number[];
  /** First connect started to last join answered. */
  totalMs: number;
  answered: number;
  failures: Record<string, number>;
  /** peer.joined events that all sockets, the host's included, received by the end. */
  eventsReceived: number;
  /** What a complete fan-out delivers: a listener's join goes to the stage (here the host) only. */
  eventsExpected: number;
  /** room.audience events received by all sockets: at most one per member per second. */
  audienceEvents: number;
}

const ACK_TIMEOUT_MS = 60_000;

function open(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: ACK_TIMEOUT_MS });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

function emit(socket: Socket, type: string, payload: unknown): Promise<Ack<unknown>> {
  return new Promise((resolve, reject) => socket.timeout(ACK_TIMEOUT_MS).emit(type, payload, (err: Error | null, reply: Ack<unknown>) => (err ? reject(err) : resolve(reply))));
}

export async function runLoad(plan: LoadPlan): Promise<LoadReport> {
  const room = await newRoom();
  const roomId = room.keys.roomId;
  const announcements = Array.from({ length: plan.clients }, (_, i) => announce(room, `Listener ${i}`));
  const sockets: Socket[] = [];
  let eventsReceived = 0;
  let audienceEvents = 0;
  const counted = (socket: Socket) => {
    sockets.push(socket);
    socket.onAny((event: string) => {
      if (event === 'peer.joined') eventsReceived++;
      else if (event === 'room.audience') audienceEvents++;
    });
    return socket;
  };

  const host = counted(await open(plan.url));
  const created = await emit(host, 'room.create', { roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Load') });
  if (!created.ok) throw new Error(`the host could not create the room: ${created.error.code}`);

  const joinUrls = plan.joinUrls ?? [plan.url];
  const report: LoadReport = {
    clients: plan.clients,
    startsPerSecond: plan.startsPerSecond,
    ackMs: [],
    ackMsByRelay: joinUrls.map(() => []),
    connectMs: [],
    totalMs: 0,
    answered: 0,
    failures: {},
    eventsReceived: 0,
    eventsExpected: 0,
    audienceEvents: 0,
  };
  const fail = (code: string) => (report.failures[code] = (report.failures[code] ?? 0) + 1);
  const gapMs = plan.startsPerSecond > 0 ? 1000 / plan.startsPerSecond : 0;
  const started = performance.now();
  const joiner = async (i: number) => {
    if (gapMs) await new Promise((r) => setTimeout(r, Math.max(0, started + i * gapMs - performance.now())));
    const t0 = performance.now();
    let socket: Socket;
    try {
      socket = counted(await open(joinUrls[i % joinUrls.length]!));
    } catch {
      return void fail('connect failed');
    }
    report.connectMs.push(performance.now() - t0);
    const t1 = performance.now();
    try {
      const reply = await emit(socket, 'room.join', { roomId, announcement: announcements[i] });
      const ackMs = performance.now() - t1;
      report.ackMs.push(ackMs);
      report.ackMsByRelay[i % joinUrls.length]!.push(ackMs);
      if (reply.ok) report.answered++;
      else fail(reply.error.code);
    } catch {
      fail('no answer');
    }
  };
  await Promise.all(Array.from({ length: plan.clients }, (_, i) => joiner(i)));
  report.totalMs = performance.now() - started;

  // Joins are answered before the relay's fan-out reaches everyone: wait until it has, or has stopped arriving.
  report.eventsExpected = report.answered;
  for (let last = -1; eventsReceived < report.eventsExpected && eventsReceived !== last; ) {
    last = eventsReceived;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  report.eventsReceived = eventsReceived;
  report.audienceEvents = audienceEvents;
  for (const socket of sockets) socket.disconnect();
  return report;
}

process.once('message', (plan: LoadPlan) => {
  runLoad(plan).then(
    (report) => process.send!(report, () => process.exit(0)),
    (error: Error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
