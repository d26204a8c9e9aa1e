// Soak benchmark: a room with a speaker and steady churn for a long time, sampling the relay each interval; nothing may grow.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { generateIdentity, randomBytes, sealRoomMessage, utf8, type Identity } from '../crypto/index.ts';
import { announce, connect, DECISION, fakePackage, newRoom, sealedTitle, type TestClient, type TestRoom } from '../test/helpers/relay.ts';
import type { SoakCommand, SoakReply, SoakSample } from './load/soak-relay.ts';
import { writeJson, type Table } from './report.ts';

const SPEAKER_SSRC = 0x50a4;
/** The churn, in turn: as many arrivals as departures, so the room stays the same size and anything growing is a leak. */
const CHURN = ['join', 'message', 'leave', 'rekey', 'join', 'kick', 'reload', 'message'] as const;
type Action = (typeof CHURN)[number];
const METRICS = [
  'rssMb',
  'heapUsedMb',
  'heapTotalMb',
  'externalMb',
  'arrayBuffersMb',
  'v8MallocedMb',
  'anonMb',
  'fileMb',
  'workerRssMb',
  'handles',
  'routers',
  'transports',
  'consumers',
  'workerObjects',
  'members',
  'lagMeanMs',
  'lagP99Ms',
] as const;

interface Plan {
  durationMs: number;
  sampleMs: number;
  /** Samples before this are warm-up (JIT, pools, first allocations) and not in the slopes. */
  warmupMs: number;
  churnMs: number;
  members: number;
}

const PLANS: Record<'quick' | 'full', Plan> = {
  quick: { durationMs: 150_000, sampleMs: 10_000, warmupMs: 30_000, churnMs: 250, members: 8 },
  full: { durationMs: 30 * 60_000, sampleMs: 60_000, warmupMs: 5 * 60_000, churnMs: 500, members: 20 },
};

class SoakRelay {
  private readonly child: ChildProcess;
  private next = 0;
  private readonly pending = new Map<number, (reply: SoakReply) => void>();

  constructor() {
    // --expose-gc: the relay collects before each sample, so its heap is what it keeps, not when V8 last collected.
    this.child = fork(fileURLToPath(new URL('./load/soak-relay.ts', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, '--expose-gc'],
    });
    this.child.on('message', (reply: SoakReply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
    this.child.once('exit', (code) => {
      for (const resolve of this.pending.values()) resolve({ id: -1, type: 'error', message: `soak relay exited (${code})` });
    });
  }

  async ask<T extends SoakReply['type']>(command: SoakCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never, type: T): Promise<Extract<SoakReply, { type: T }>> {
    const id = this.next++;
    const reply = await new Promise<SoakReply>((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ ...command, id });
    });
    if (reply.type === 'error') throw new Error(reply.message);
    if (reply.type !== type) throw new Error(`soak relay answered ${reply.type}, not ${type}`);
    return reply as Extract<SoakReply, { type: T }>;
  }
}

interface Member {
  client: TestClient;
  identity: Identity;
  participantId: string;
  resumeToken: string;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export interface SoakResult {
  mode: 'quick' | 'full';
  plan: Plan;
  actions: Record<Action, number>;
  samples: (SoakSample & { atS: number })[];
  /** Per hour, from the samples after warm-up. */
  slopePerHour: Record<(typeof METRICS)[number], number>;
  /** Per hour, from the second half of the run only: a growth that levels off shows as a smaller slope here. */
  lateSlopePerHour: Record<(typeof METRICS)[number], number>;
  present: number;
  hearing: number;
  speakerPackets: number;
}

/** Slopes per hour of each measure over these samples; NaN for a measure this platform cannot read. */
function slopes(samples: SoakResult['samples']): SoakResult['slopePerHour'] {
  const xs = samples.map((s) => s.atS);
  return Object.fromEntries(
    METRICS.map((m) => [
      m,
      slope(
        xs,
        samples.map((s) => s[m] ?? Number.NaN),
      ) * 3600,
    ]),
  ) as SoakResult['slopePerHour'];
}

/** `minutes` overrides the mode's length (`--soak-minutes=N`): whether a growth levels off needs a longer run than the default. */
export async function runSoakBench({ quick, minutes }: { quick: boolean; minutes?: number }): Promise<Table[]> {
  const mode = quick ? 'quick' : 'full';
  const plan = minutes === undefined ? PLANS[mode] : { ...PLANS[mode], durationMs: minutes * 60_000 };
  const relay = new SoakRelay();
  const { url } = await relay.ask({ type: 'start' }, 'started');
  const room: TestRoom = await newRoom();
  const host = await connect({ url });
  const created = await host.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'Host'), sealedTitle: sealedTitle(room, 'Soak') });
  const caps = created.routerRtpCapabilities as Record<string, unknown>;
  const speaker = await relay.ask({ type: 'speaker', roomId: room.keys.roomId, participantId: created.participantId, ssrc: SPEAKER_SSRC }, 'speaker');
  const udp = createSocket('udp4');
  let sequence = 0;
  const rtp = setInterval(() => {
    const packet = Buffer.alloc(12 + 80, 0x5a);
    packet[0] = 0x80;
    packet[1] = 111;
    packet.writeUInt16BE(sequence & 0xffff, 2);
    packet.writeUInt32BE((sequence * 960) >>> 0, 4);
    packet.writeUInt32BE(SPEAKER_SSRC, 8);
    packet[12] = 0xf8;
    udp.send(packet, speaker.port, '127.0.0.1');
    sequence++;
  }, 20);

  const members: Member[] = [];
  let epoch = 0;
  let names = 0;
  const epochSecret = randomBytes(32);
  const commitHash = randomBytes(32);

  /** What a page does to hear the speaker: a receive transport and a consumer of the speaker's producer, resumed. */
  async function listen(client: TestClient): Promise<void> {
    await client.req('transport.create', { direction: 'recv' });
    const { consumerId } = await client.req('consumer.create', { producerId: speaker.producerId, rtpCapabilities: caps });
    await client.req('consumer.resume', { consumerId });
  }

  async function join(identity = generateIdentity(), resumeToken?: string): Promise<Member> {
    const client = await connect({ url });
    const joined = await client.req('room.join', {
      roomId: room.keys.roomId,
      announcement: announce(room, `M${names++}`, identity),
      ...(resumeToken ? { resumeToken, newPage: true as const } : {}),
    });
    if ('lobby' in joined) throw new Error('the soak room has no lobby');
    await listen(client);
    return { client, identity, participantId: joined.participantId, resumeToken: joined.resumeToken };
  }

  const pick = () => members.splice(Math.floor(Math.random() * members.length), 1)[0]!;
  const actions = Object.fromEntries(CHURN.map((a) => [a, 0])) as Record<Action, number>;
  async function churn(action: Action): Promise<void> {
    switch (action) {
      case 'join':
        members.push(await join());
        break;
      case 'leave': {
        const member = pick();
        await member.client.req('room.leave', {});
        member.client.close();
        break;
      }
      case 'kick': {
        const member = pick();
        const gone = member.client.next('member.kicked').catch(() => undefined);
        await host.req('member.kick', { participantId: member.participantId, decision: DECISION });
        await gone;
        member.client.close();
        break;
      }
      case 'reload': {
        // A page loaded again: it says it is going, drops its socket, and resumes with new media (newPage).
        const member = pick();
        await member.client.req('room.away', {});
        member.client.close();
        members.push(await join(member.identity, member.resumeToken));
        break;
      }
      case 'rekey':
        epoch++;
        await host.req('key.commit', {
          commit: 'Y29tbWl0',
          epoch,
          packages: members.map((m, i) => ({ to: m.participantId, package: fakePackage(`e${epoch}m${i}`) })),
          withPackages: true,
        });
        break;
      case 'message': {
        const member = members[Math.floor(Math.random() * members.length)]!;
        const message = sealRoomMessage({ roomId: room.keys.roomId, epoch: 3, epochSecret, commitHash, sender: member.identity, kind: 'chat', payload: utf8.encode('soak') });
        await member.client.req('room.message', { message });
        break;
      }
    }
    actions[action]++;
    // The clients' own logs of what they received would grow in this process, not the relay's; they are not needed.
    for (const m of [host, ...members.map((x) => x.client)]) m.received.length = 0;
  }

  try {
    for (let i = 0; i < plan.members; i++) members.push(await join());
    const started = Date.now();
    const samples: SoakResult['samples'] = [];
    let nextSample = started;
    let step = 0;
    while (Date.now() - started < plan.durationMs) {
      if (Date.now() >= nextSample) {
        const { sample } = await relay.ask({ type: 'sample' }, 'sample');
        samples.push({ ...sample, atS: (Date.now() - started) / 1000 });
        // A long run's progress, and its numbers so far should it be stopped early.
        if (!quick) console.log(JSON.stringify(samples.at(-1)));
        nextSample += plan.sampleMs;
      }
      await churn(CHURN[step++ % CHURN.length]!);
      await new Promise((resolve) => setTimeout(resolve, plan.churnMs));
    }
    const { sample } = await relay.ask({ type: 'sample' }, 'sample');
    samples.push({ ...sample, atS: (Date.now() - started) / 1000 });

    const steady = samples.filter((s) => s.atS * 1000 >= plan.warmupMs);
    const slopePerHour = slopes(steady);
    const lateSlopePerHour = slopes(steady.filter((s) => s.atS * 1000 >= plan.durationMs / 2));
    const before = await relay.ask({ type: 'hears', roomId: room.keys.roomId, producerId: speaker.producerId, participantIds: [] }, 'hears');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const heard = await relay.ask({ type: 'hears', roomId: room.keys.roomId, producerId: speaker.producerId, participantIds: members.map((m) => m.participantId) }, 'hears');
    const result: SoakResult = {
      mode,
      plan,
      actions,
      samples,
      slopePerHour,
      lateSlopePerHour,
      present: members.length,
      hearing: heard.hearing.length,
      speakerPackets: heard.packets - before.packets,
    };
    writeJson('soak', result);

    const first = steady[0]!;
    const last = samples.at(-1)!;
    return [
      {
        title: `Soak (${mode}): ${(plan.durationMs / 60_000).toFixed(1)} min, ${plan.members} members, churn every ${plan.churnMs} ms, the relay sampled every ${plan.sampleMs / 1000} s`,
        columns: ['measure', 'after warm-up', 'at the end', 'slope per hour', 'second half'],
        rows: METRICS.map((m) => [m, first[m], last[m], slopePerHour[m], lateSlopePerHour[m]]),
        notes: [
          `Churn: ${[...new Set(CHURN)].map((a) => `${actions[a]} ${a}`).join(', ')}; warm-up (first ${plan.warmupMs / 1000} s) is left out of the slopes.`,
          `At the end: ${result.hearing} of ${result.present} members present hold a live consumer of the speaker, whose producer took ${result.speakerPackets} packets in the last second.`,
          "Memory after a forced GC in the relay process; mediasoup counts from the workers' own dumps. Full mode: `npm run bench -- --only=soak`.",
        ],
      },
    ];
  } finally {
    clearInterval(rtp);
    udp.close();
    for (const m of members) m.client.close();
    host.close();
    await relay.ask({ type: 'stop' }, 'stopped').catch(() => undefined);
  }
}
