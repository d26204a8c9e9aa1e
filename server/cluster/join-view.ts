// What an edge relay needs to answer a listener's join without the room's origin: the view the origin writes beside the room's record, the edge's decision, its reply, and the batch that tells the origin.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { announcementSignKey } from '../../crypto/announcement.ts';
import { SignalingError } from '../../protocol/errors.ts';
import { Announcement, MAX_KEY_BATCH_MS, ParticipantSnapshot, RoomId, SealedTitle, type JoinResult, type ReplyOf } from '../../protocol/messages.ts';
import { clientRtpCapabilities } from '../media/codecs.ts';
import type { Room } from '../rooms/room.ts';
import type { JoinViewFields } from './record.ts';

const stageView = z.object({ stage: z.array(ParticipantSnapshot), caps: z.record(z.string(), z.unknown()), keyBatchMs: z.number().int().min(0).max(MAX_KEY_BATCH_MS) });
const countView = z.object({ audience: z.number().int().nonnegative(), size: z.number().int().nonnegative(), seq: z.number().int().nonnegative() });
const metaView = z.object({ sealedTitle: SealedTitle, locked: z.boolean(), banned: z.array(z.string().max(256)) });

/** A room as an edge reads it from the directory: what a listener's join reply holds, and what decides whether it may be given here. */
export interface JoinView {
  roomId: string;
  origin: string;
  sealedTitle: string;
  locked: boolean;
  banned: ReadonlySet<string>;
  stage: ParticipantSnapshot[];
  caps: Record<string, unknown>;
  keyBatchMs: number;
  audience: number;
  size: number;
  seq: number;
  /** Names the stage as shown: the origin compares it with its own when it takes the member in, and tells what changed. */
  stageHash: string;
}

/** The stage's part, which changes only when the stage does (a join or leave of a listener rewrites only `count`). */
function stageField(room: Room, keyBatchMs: number): string {
  return JSON.stringify({ stage: [...room.stage].map((m) => m.snapshot()), caps: clientRtpCapabilities(room.router), keyBatchMs });
}

/** Written by the origin beside the room's record, within a round trip of each change (records.ts). */
export function joinViewFields(room: Room, keyBatchMs: number): JoinViewFields {
  const view = stageField(room, keyBatchMs);
  return { view, hash: hashOf(view), count: JSON.stringify({ audience: room.audienceSize, size: room.size, seq: room.lastSeq }) };
}

const hashOf = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** The origin's stage as it would write it now, named as an edge names the one it showed. */
export function currentStageHash(room: Room, keyBatchMs: number): string {
  return hashOf(stageField(room, keyBatchMs));
}

type StagePart = z.infer<typeof stageView> & { stageHash: string };

/**
 * Stage fields read lately, parsed: the field changes only with the stage, so a burst of joins through an edge parses
 * and hashes it (a few KB: the stage's announcements and the router's capabilities) once, not once per join.
 */
const stageParts = new Map<string, StagePart | null>();
const STAGE_PARTS_KEPT = 256;

function stagePart(raw: string): StagePart | null {
  let part = stageParts.get(raw);
  if (part === undefined) {
    const parsed = stageView.safeParse(JSON.parse(raw));
    part = parsed.success ? { ...parsed.data, stageHash: hashOf(raw) } : null;
    if (stageParts.size >= STAGE_PARTS_KEPT) stageParts.delete(stageParts.keys().next().value!);
    stageParts.set(raw, part);
  }
  return part;
}

/** Null when a field is missing or malformed (Redis is shared: the edge then asks the origin, as before). */
export function parseJoinView(roomId: string, origin: string, fields: { meta: string | null; view: string | null; count: string | null }): JoinView | null {
  if (fields.meta === null || fields.view === null || fields.count === null) return null;
  try {
    const meta = metaView.safeParse(JSON.parse(fields.meta));
    const view = stagePart(fields.view);
    const count = countView.safeParse(JSON.parse(fields.count));
    if (!meta.success || !view || !count.success) return null;
    return { roomId, origin, ...meta.data, banned: new Set(meta.data.banned), ...view, ...count.data };
  } catch {
    return null;
  }
}

export type EdgeDecision = { kind: 'origin' } | { kind: 'refuse'; error: SignalingError } | { kind: 'admit' };

/**
 * Whether this edge admits a newcomer itself. Only a plain listener's join of an open room: a member coming back (its
 * token is the origin's to check), a locked room (the lobby is the origin's) and a room without a view go to the origin.
 * A refusal here is the origin's own, from the view it wrote; the origin checks again when it takes the member in.
 */
export function edgeDecision(view: JoinView | null, request: { announcement: string; resumeToken?: string | undefined }, maxParticipants: number): EdgeDecision {
  if (request.resumeToken !== undefined || !view || view.locked) return { kind: 'origin' };
  const signKey = announcementSignKey(request.announcement);
  if (!signKey) return { kind: 'refuse', error: new SignalingError('BAD_REQUEST', 'announcement: not a Teahouse announcement') };
  if (view.banned.has(signKey)) return { kind: 'refuse', error: new SignalingError('IDENTITY_BANNED', 'you were removed from this room') };
  if (view.size >= maxParticipants) return { kind: 'refuse', error: new SignalingError('ROOM_FULL', `this room is full (${maxParticipants} participants)`) };
  return { kind: 'admit' };
}

/** The join reply a listener gets from an edge: the origin's would hold the same, up to what changed since the view was written. */
export function edgeJoinReply(view: JoinView, self: { participantId: string; resumeToken: string; announcement: string }): JoinResult {
  const me: ParticipantSnapshot = { participantId: self.participantId, role: 'listener', announcement: self.announcement, joinedSeq: view.seq + 1, handRaisedSeq: null, muted: false, producerIds: [] };
  return {
    participantId: self.participantId,
    resumeToken: self.resumeToken,
    role: 'listener',
    room: { roomId: view.roomId, sealedTitle: view.sealedTitle, locked: false, participants: [...view.stage, me], audienceCount: view.audience + 1, lobby: [] },
    routerRtpCapabilities: view.caps,
    keyBatchMs: view.keyBatchMs,
  };
}

export function edgePeek(view: JoinView): ReplyOf<'room.peek'> {
  return { exists: true, sealedTitle: view.sealedTitle, locked: view.locked, routerRtpCapabilities: view.caps };
}

const Id = z.string().max(64);

/**
 * Newcomers an edge admitted to one room, told to its origin in one message (`members.admitted`): the stages they were
 * shown (by hash, and each member's producers), and per newcomer its socket, identity, the hash of its resume token
 * (never the token) and the join sequence it was shown.
 */
export const admittedBatch = z.object({
  roomId: RoomId,
  shown: z.array(z.object({ stageHash: z.string().max(64), stage: z.array(z.object({ participantId: Id, producerIds: z.array(Id).max(8) })).max(10_000) })).max(1_000),
  members: z.array(z.object({ socketId: Id, participantId: Id, announcement: Announcement, resumeHash: z.string().max(64), seq: z.number().int().nonnegative(), shown: z.number().int().nonnegative() })).max(1_000),
});
export type AdmittedBatch = z.infer<typeof admittedBatch>;
