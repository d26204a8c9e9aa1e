// The capacity benchmark's load process: one speaker sending Opus-sized RTP, and the sockets every listener's SRTP lands on.
// It runs apart from the relay so that counting packets does not share the relay's event loop.
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { cpuUsage } from 'node:process';
import { DEFAULT_CIPHER_SUITE, SframeSender, makeKid } from '../../crypto/index.ts';
import type { GroupResult, LoadCommand, LoadReply } from './messages.ts';

const FRAME_MS = 20;
const SAMPLES_PER_FRAME = 960;
const TS_BASE = 0x1000_0000;
/** Delay histogram: 0.1 ms buckets up to one second; anything later is counted as lost to the listener. */
const BUCKET_MS = 0.1;
const BUCKETS = 10_000;

const send = (reply: LoadReply) => process.send!(reply);

/** Opus at about 32 kbit/s: 80 bytes on average per 20 ms frame, varying as speech does. */
function opusFrame(): Uint8Array {
  return randomBytes(60 + Math.floor(Math.random() * 41));
}

function rtpPacket(seq: number, timestamp: number, ssrc: number, payload: Uint8Array): Buffer {
  const packet = Buffer.alloc(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = 111;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  packet.set(payload, 12);
  return packet;
}

class Speaker {
  private readonly socket = createSocket('udp4');
  private readonly sframe: SframeSender | null;
  private readonly port: number;
  private readonly ssrc: number;
  private seq = 0;
  private frame = 0;
  /** Send time of every frame index, in performance.now() milliseconds. */
  sentAt: number[] = [];

  constructor(port: number, ssrc: number, encrypt: boolean) {
    this.port = port;
    this.ssrc = ssrc;
    this.sframe = encrypt ? new SframeSender({ kid: makeKid(1, 0), baseKey: randomBytes(16), suite: DEFAULT_CIPHER_SUITE }) : null;
  }

  async sendOne(): Promise<number> {
    const index = this.frame++;
    const opus = opusFrame();
    const payload = this.sframe ? await this.sframe.encrypt(opus) : opus;
    const packet = rtpPacket(this.seq++, TS_BASE + index * SAMPLES_PER_FRAME, this.ssrc, payload);
    this.sentAt[index] = performance.now();
    this.socket.send(packet, this.port, '127.0.0.1');
    return index;
  }

  close(): void {
    this.socket.close();
  }
}

/** Packets received of the counted frames and their one-way delays, for all listeners or one group of sockets. */
class Tally {
  received = 0;
  late = 0;
  readonly histogram = new Uint32Array(BUCKETS);

  add(delayMs: number): void {
    this.received++;
    const bucket = Math.floor(delayMs / BUCKET_MS);
    if (bucket >= BUCKETS) this.late++;
    else this.histogram[bucket]!++;
  }

  reset(): void {
    this.received = 0;
    this.late = 0;
    this.histogram.fill(0);
  }

  percentile(p: number): number | null {
    const total = this.received - this.late;
    if (total === 0) return null;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.histogram[i]!;
      if (seen >= total * p) return (i + 0.5) * BUCKET_MS;
    }
    return BUCKETS * BUCKET_MS;
  }

  result(expected: number): GroupResult {
    const onTime = this.received - this.late;
    return { expected, received: this.received, lossPct: expected === 0 ? 0 : (100 * (expected - onTime)) / expected, p50Ms: this.percentile(0.5), p99Ms: this.percentile(0.99) };
  }
}

class Listeners {
  readonly sockets: Socket[] = [];
  private counting: { from: number; to: number } | null = null;
  readonly all = new Tally();
  /** Sockets opened as one group (say, the ones one relay's listeners send to) are also counted apart. */
  readonly groups: Tally[] = [];
  private readonly speaker: () => Speaker | null;

  constructor(speaker: () => Speaker | null) {
    this.speaker = speaker;
  }

  async open(count: number, group: number): Promise<number[]> {
    const tally = (this.groups[group] ??= new Tally());
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const socket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
      socket.on('message', (packet) => this.onPacket(packet, tally));
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      this.sockets.push(socket);
      ports.push(socket.address().port);
    }
    return ports;
  }

  private onPacket(packet: Buffer, group: Tally): void {
    const now = performance.now();
    // RTCP (sender reports) shares the port with RTP; SRTP leaves the header readable, so the timestamp says which frame.
    if (packet.length < 12 || (packet[1]! >= 192 && packet[1]! <= 223) || !this.counting) return;
    const index = (packet.readUInt32BE(4) - TS_BASE) / SAMPLES_PER_FRAME;
    if (index < this.counting.from || index >= this.counting.to) return;
    const sentAt = this.speaker()?.sentAt[index];
    if (sentAt === undefined) return;
    this.all.add(now - sentAt);
    group.add(now - sentAt);
  }

  count(from: number, to: number): void {
    this.counting = { from, to };
    this.all.reset();
    for (const tally of this.groups) tally?.reset();
  }
}

let speaker: Speaker | null = null;
const listeners = new Listeners(() => speaker);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends 20 ms frames on a fixed schedule (catching up after a late timer rather than drifting). */
async function speak(s: Speaker, frames: number, onFrame: (index: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    const due = start + i * FRAME_MS;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    onFrame(await s.sendOne());
  }
}

process.on('message', async (command: LoadCommand) => {
  switch (command.type) {
    case 'open': {
      send({ type: 'opened', ports: await listeners.open(command.sockets, command.group ?? 0) });
      break;
    }
    case 'speaker': {
      speaker?.close();
      speaker = new Speaker(command.port, command.ssrc, command.encrypt);
      // A few frames so that the relay's comedia transport learns where the speaker is.
      await speak(speaker, 5, () => undefined);
      send({ type: 'speaking' });
      break;
    }
    case 'run': {
      const s = speaker!;
      const warmupFrames = Math.round(command.warmupMs / FRAME_MS);
      const frames = Math.round(command.windowMs / FRAME_MS);
      let first = -1;
      let last = -1;
      await speak(s, warmupFrames, () => undefined);
      send({ type: 'window' });
      const cpuBefore = cpuUsage();
      const wallBefore = performance.now();
      await speak(s, frames, (index) => {
        if (first < 0) {
          first = index;
          listeners.count(index, index + frames);
        }
        last = index;
      });
      const windowMs = performance.now() - wallBefore + FRAME_MS;
      // Packets still in flight at the end of the window are late, not lost.
      await sleep(300);
      const cpu = cpuUsage(cpuBefore);
      const wall = performance.now() - wallBefore;
      const sent = last - first + 1;
      const { lossPct, p50Ms, p99Ms } = listeners.all.result(sent * command.listeners);
      send({
        type: 'result',
        sent,
        expected: sent * command.listeners,
        received: listeners.all.received,
        lossPct,
        p50Ms,
        p99Ms,
        loadCpuPct: (100 * (cpu.user + cpu.system)) / 1000 / wall,
        windowMs,
        ...(command.groups ? { groups: command.groups.map((n, g) => listeners.groups[g]?.result(sent * n) ?? new Tally().result(sent * n)) } : {}),
      });
      break;
    }
    case 'stop': {
      speaker?.close();
      for (const socket of listeners.sockets) socket.close();
      process.exit(0);
    }
  }
});
send({ type: 'ready' });
