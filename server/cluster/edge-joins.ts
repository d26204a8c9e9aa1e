// Listeners' joins and link peeks answered by the relay they reached, from the room's join view in the directory, and the origin told of the newcomers in batches.
import type { Logger } from 'pino';
import type { JoinResult, ReplyOf } from '../../protocol/messages.ts';
import type { RelayConfig } from '../config.ts';
import { newId, resumeHash } from '../rooms/participant.ts';
import { RelayUnavailableError, type RelayBus } from './bus.ts';
import type { RoomDirectory } from './directory.ts';
import type { EdgeMember } from './edge-rooms.ts';
import { edgeDecision, edgeJoinReply, edgePeek, type AdmittedBatch, type JoinView } from './join-view.ts';

/**
 * Telling the origin is tried again, half a heartbeat apart, for at most this many heartbeats in all, and at least
 * ADMISSION_TRIES times: one try can take the bus's whole timeout (a reply lost in a Redis restart).
 */
const ADMISSION_BEATS = 10;
const ADMISSION_TRIES = 3;
/**
 * The origin missing from the directory this many heartbeats running is taken for dead, and telling it is given up. A
 * Redis restart empties the directory until each relay reconnects and beats again, which is well within it.
 */
const ORIGIN_MISSING_BEATS = 5;

/** Newcomers per message to the origin: well within what `members.admitted` takes (join-view.ts). */
const BATCH_MAX = 500;

interface Waiting {
  entry: Omit<AdmittedBatch['members'][number], 'shown'>;
  view: JoinView;
  done: (refused: boolean) => void;
}

/**
 * A join here costs the origin no request: the edge reads the room's join view from the directory (one Redis round
 * trip, the origin not involved), admits the listener, answers, and tells the origin afterwards. The origin takes
 * newcomers in as they are told, one message per room for all that came while the previous one was under way, and
 * tells the stage, whose distributor keys them; until then a newcomer hears nothing (it holds no key), as after any
 * join. Its requests to the origin wait until it is taken in (`EdgeMember.admitted`).
 */
export class EdgeJoins {
  /** Newcomers waiting to be told to their origin, per origin and room. */
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly sending = new Set<string>();
  /** Joins and peeks answered here, and batches told to origins (the cluster tests count them). */
  readonly counts = { joins: 0, peeks: 0, batches: 0 };

  private readonly bus: RelayBus;
  private readonly directory: RoomDirectory;
  private readonly config: RelayConfig;
  private readonly log: Logger;
  private readonly refused: (socketId: string) => void;

  constructor(bus: RelayBus, directory: RoomDirectory, config: RelayConfig, log: Logger, refused: (socketId: string) => void) {
    this.bus = bus;
    this.directory = directory;
    this.config = config;
    this.log = log;
    this.refused = refused;
  }

  /** A link's room as the view shows it; null: ask the origin (no view, its origin dead or this relay, or edge joins off). */
  async peek(roomId: string): Promise<ReplyOf<'room.peek'> | null> {
    const view = await this.view(roomId);
    if (!view) return null;
    this.counts.peeks++;
    return edgePeek(view);
  }

  /**
   * A newcomer's join answered here, or null when it is the origin's to answer (edgeDecision). `register` makes it this
   * relay's member of the room before the reply goes out, so that the room's events reach it.
   */
  async join(request: { roomId: string; announcement: string; resumeToken?: string | undefined }, socketId: string, register: (origin: string, participantId: string) => EdgeMember): Promise<JoinResult | null> {
    const view = await this.view(request.roomId);
    const decision = edgeDecision(view, request, this.config.maxParticipantsPerRoom);
    if (decision.kind === 'origin' || !view) return null;
    if (decision.kind === 'refuse') throw decision.error;
    const self = { participantId: newId(), resumeToken: newId(24), announcement: request.announcement };
    const member = register(view.origin, self.participantId);
    member.admitted = new Promise<void>((resolve, reject) => {
      const key = `${view.origin} ${view.roomId}`;
      const entry = { socketId, participantId: self.participantId, announcement: self.announcement, resumeHash: resumeHash(self.resumeToken), seq: view.seq + 1 };
      const queued = this.waiting.get(key) ?? [];
      queued.push({ entry, view, done: (refused) => (refused ? reject(new Error('refused')) : resolve()) });
      this.waiting.set(key, queued);
      this.send(key);
    });
    // The member's next request waits on it; a refusal is handled once, here.
    member.admitted.catch(() => undefined);
    this.counts.joins++;
    return edgeJoinReply(view, self);
  }

  private async view(roomId: string): Promise<JoinView | null> {
    if (this.config.edgeJoins === 'off') return null;
    const view = await this.directory.joinView(roomId);
    return view && view.origin !== this.bus.relayId ? view : null;
  }

  /** One message per room at a time: what came meanwhile goes in the next, so a burst of joins costs the origin few. */
  private send(key: string): void {
    if (this.sending.has(key)) return;
    const queued = this.waiting.get(key);
    if (!queued || queued.length === 0) return;
    const batch = queued.splice(0, BATCH_MAX);
    if (queued.length === 0) this.waiting.delete(key);
    this.sending.add(key);
    const origin = batch[0]!.view.origin;
    const stages = [...new Map(batch.map((w) => [w.view.stageHash, w.view])).values()];
    const body: AdmittedBatch = {
      roomId: batch[0]!.view.roomId,
      shown: stages.map((v) => ({ stageHash: v.stageHash, stage: v.stage.map((m) => ({ participantId: m.participantId, producerIds: m.producerIds })) })),
      members: batch.map((w) => ({ ...w.entry, shown: stages.findIndex((v) => v.stageHash === w.view.stageHash) })),
    };
    this.counts.batches++;
    const settle = (refused: ReadonlySet<string>) => {
      for (const w of batch) {
        const out = refused.has(w.entry.socketId);
        w.done(out);
        // Its page was told it is a member: it loses the connection, comes back, and joins again (or is refused plainly).
        if (out) this.refused(w.entry.socketId);
      }
    };
    // Told again when no answer came (a Redis restart loses what was in flight); the origin takes a member in once.
    const tell = async (): Promise<{ refused: string[] }> => {
      const beat = this.config.clusterHeartbeatMs;
      const started = performance.now();
      let missingSince: number | null = null;
      for (let tries = 1; ; tries++) {
        try {
          return await this.bus.request<{ refused: string[] }>(origin, 'members.admitted', body);
        } catch (error) {
          if (!(error instanceof RelayUnavailableError)) throw error;
          // Redis itself away: no word on the origin, which may well live.
          const alive = await this.directory.isAlive(origin).catch(() => true);
          const now = performance.now();
          missingSince = alive ? null : (missingSince ?? now);
          if ((tries >= ADMISSION_TRIES && now - started >= ADMISSION_BEATS * beat) || (missingSince !== null && now - missingSince >= ORIGIN_MISSING_BEATS * beat)) throw error;
          await new Promise((resolve) => setTimeout(resolve, beat / 2));
        }
      }
    };
    tell()
      .then(
        ({ refused }) => settle(new Set(refused)),
        (error: Error) => {
          this.log.warn({ err: error.name, members: batch.length }, 'the origin did not take in members admitted here');
          settle(new Set(batch.map((w) => w.entry.socketId)));
        },
      )
      .finally(() => {
        this.sending.delete(key);
        this.send(key);
      });
  }
}
