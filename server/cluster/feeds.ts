// The pipes this edge relay feeds a remote room's media through to its child relays in the room's tree: the origin's pipe.* side, for an edge.
import type { types } from 'mediasoup';
import { z } from 'zod';
import { describeIssue, SignalingError } from '../../protocol/errors.ts';
import type { RelayConfig } from '../config.ts';
import { certificateOf } from '../media/endpoint.ts';
import type { RelayBus } from './bus.ts';
import type { EdgeRooms } from './edge-rooms.ts';
import { connectPipe, createPipe, pipeEnd } from './pipes.ts';

const feedOpen = pipeEnd.extend({ roomId: z.string().max(128) });
const feedConsume = z.object({ pipeId: z.string().max(64), producerId: z.string().max(64) });
const feedRef = z.object({ pipeId: z.string().max(64) });

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new SignalingError('BAD_REQUEST', `${what}: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

interface Feed {
  relay: string;
  roomId: string;
  transport: types.PipeTransport;
}

/**
 * A child relay asks this edge as it would ask the origin (feed.open, feed.consume, feed.close), and is told what
 * the origin would tell it (pipe.closed, pipe.producerClosed, pipe.producerPaused, pipe.producerResumed). What it
 * pipes on is what this relay holds of the room: the producers piped in here from its own parent (piped in now if
 * no member here has asked yet), and speakers' own producers here. A feed's pipe is on the edge room's router, so it
 * goes with the room here, and the child is told.
 */
export class Feeds {
  readonly feeds = new Map<string, Feed>();
  private readonly bus: RelayBus;
  private readonly rooms: EdgeRooms;
  private readonly config: RelayConfig;

  constructor(bus: RelayBus, rooms: EdgeRooms, config: RelayConfig) {
    this.bus = bus;
    this.rooms = rooms;
    this.config = config;
    bus.handle('feed.open', (from, body) => this.open(from, parse(feedOpen, body, 'feed.open')));
    bus.handle('feed.consume', (from, body) => this.consume(from, parse(feedConsume, body, 'feed.consume')));
    bus.handle('feed.close', (from, body) => this.closeFeed(from, parse(feedRef, body, 'feed.close').pipeId));
  }

  private async open(from: string, { roomId, ...remote }: z.infer<typeof feedOpen>): Promise<unknown> {
    const room = this.rooms.room(roomId);
    if (!room) throw new SignalingError('ROOM_NOT_FOUND', 'this relay does not carry that room');
    const { transport, end } = await createPipe(await room.router, this.config);
    try {
      await connectPipe(transport, remote);
    } catch (error) {
      transport.close();
      throw new SignalingError('BAD_REQUEST', `pipe refused: ${(error as Error).message}`);
    }
    this.feeds.set(transport.id, { relay: from, roomId, transport });
    transport.observer.once('close', () => {
      if (this.feeds.delete(transport.id)) this.bus.tell(from, 'pipe.closed', { pipeId: transport.id });
    });
    return { pipeId: transport.id, ...end };
  }

  private async consume(from: string, { pipeId, producerId }: z.infer<typeof feedConsume>): Promise<unknown> {
    const feed = this.feeds.get(pipeId);
    const room = feed && this.rooms.room(feed.roomId);
    if (!feed || feed.relay !== from || !room) throw new SignalingError('NOT_FOUND', 'no such pipe');
    const { producer, participantId } = await this.rooms.pipedIn(room, producerId).catch(() => {
      throw new SignalingError('NOT_FOUND', 'no such producer in this room');
    });
    const consumer = await feed.transport.consume({ producerId: producer.id });
    const tell = (op: string) => () => this.bus.tell(from, op, { pipeId, producerId });
    consumer.on('producerclose', tell('pipe.producerClosed'));
    consumer.on('producerpause', tell('pipe.producerPaused'));
    consumer.on('producerresume', tell('pipe.producerResumed'));
    // The speaker's stream certificate goes down the tree unchanged, as the origin answers pipe.consume.
    return { participantId, kind: consumer.kind, rtpParameters: consumer.rtpParameters, paused: consumer.producerPaused, streamCertificate: certificateOf(producer) };
  }

  private closeFeed(from: string, pipeId: string): void {
    const feed = this.feeds.get(pipeId);
    if (!feed || feed.relay !== from) return;
    this.feeds.delete(pipeId);
    feed.transport.close();
  }

  /** A child relay died: its pipes here go. */
  relayDied(relay: string): void {
    for (const [id, feed] of this.feeds) {
      if (feed.relay !== relay) continue;
      this.feeds.delete(id);
      feed.transport.close();
    }
  }

  /** The child relays this one feeds: the ones whose death it must notice. */
  peers(): Set<string> {
    return new Set([...this.feeds.values()].map((f) => f.relay));
  }
}
