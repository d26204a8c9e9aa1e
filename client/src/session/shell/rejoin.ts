// The ways back into a room: a resume after a reconnect, and the rebuild after a relay restart forgot the room.
import { SignalingError } from '../../../../protocol/errors.ts';
import type { ReplyOf } from '../../../../protocol/messages.ts';
import { planRebuild, REBUILD, rebuildStep, retryDelayMs, rolesToRestore } from '../rebuild.ts';
import { makeAnnouncement, sealTitle } from './announce.ts';
import { end, fail } from './ending.ts';
import { enter } from './entering.ts';
import { resetMedia } from './media.ts';
import { isMember, type MemberSession, type SessionState } from './state.ts';

/** A lobby visitor is back too: the relay dropped it from the lobby with its connection, so it queues again. */
export async function resume(s: SessionState): Promise<void> {
  if (!s.inRoomOrLobby() || !isMember(s) || !s.announcement || s.rejoining) return;
  s.rejoining = true;
  try {
    try {
      await rejoined(s, await resumeRequest(s));
    } catch (error) {
      // Rooms live only in the relay's memory: a room it does not know after a reconnect means the relay restarted.
      if (error instanceof SignalingError && error.code === 'ROOM_NOT_FOUND') await rebuild(s);
      else throw error;
    }
  } catch (error) {
    fail(s, error);
  } finally {
    s.rejoining = false;
  }
}

/** Tries at a resume the relay could not complete ("try again"): a cluster's room may be moving to another relay. */
const RESUME_ATTEMPTS = 6;

/**
 * The resume itself. A relay that could not complete it (INTERNAL: in a cluster, the room's relay died and the room
 * is being taken over) is asked again, after the rebuild's growing waits (0.5 s doubling up to 3 s, about 12 s in
 * all), while the page shows it is reconnecting: the member is coming back, not failing.
 */
async function resumeRequest(s: MemberSession): Promise<ReplyOf<'room.join'>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await s.req('room.join', { roomId: s.keys.roomId, announcement: s.announcement!, ...(s.resumeToken ? { resumeToken: s.resumeToken } : {}) });
    } catch (error) {
      if (!(error instanceof SignalingError && error.code === 'INTERNAL') || attempt + 1 >= RESUME_ATTEMPTS || !s.inRoomOrLobby()) throw error;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
  }
}

/** Back in the room: as the same member (only ICE restarts), or as a new one whose old media is gone with it. */
async function rejoined(s: MemberSession, result: ReplyOf<'room.join'>, recreated = false): Promise<void> {
  if (result.participantId === s.me && !('lobby' in result)) {
    s.update({ reconnecting: false });
    const resets = s.mediaResets;
    await s.media?.restartIce().catch(async (error: unknown) => {
      // Back through another relay of a cluster (its own died): the old transports are not known there. Unless the
      // relay's mediaReset already made new ones meanwhile, media starts afresh as after one.
      if (!(error instanceof SignalingError && error.code === 'NOT_FOUND')) throw error;
      if (s.mediaResets === resets) await resetMedia(s);
    });
    return;
  }
  s.media?.resetTransports();
  for (const id of s.members.keys()) s.meter?.remove(id);
  // A new member starts in the audience; only the member re-creating the room as its host keeps its microphone.
  if (!recreated) {
    s.micWanted = false;
    // What it held is kept first, and nothing the relay says: the stage its last commit signed, and its own hand.
    const handRaised = (s.me ? s.members.get(s.me)?.snapshot.handRaisedSeq : null) != null;
    s.core.held = { stage: s.core.agent.current?.stage ?? [], handRaised, until: Date.now() + REBUILD.giveUpMs, backAt: null };
    s.core.agent.restart();
  }
  s.setMicOn(false, { reconnecting: false, invitedBy: null });
  if ('lobby' in result) {
    s.me = result.participantId;
    s.setPhase({ kind: 'lobby' });
  } else await enter(s, result, recreated);
}

/**
 * The relay restarted and forgot the room: the member whose turn it is (docs/protocol.md §5) re-creates it under the
 * same room id and identity and distributes a fresh epoch; everyone else rejoins as a new member.
 */
async function rebuild(s: MemberSession): Promise<void> {
  const agent = s.core.agent;
  const plan = planRebuild(agent.handOver(), agent.me);
  const former = new Set(s.roster.verifiedMembers().map((m) => m.memberKeyId));
  const started = Date.now();
  // What this member already holds, and nothing the relay says: the stage its last accepted commit signed.
  const heldStage = agent.current?.stage ?? [];
  let roomExists = false;
  for (let attempt = 0; s.inRoomOrLobby(); attempt++) {
    const step = rebuildStep(plan, Date.now() - started, roomExists);
    if (step.kind === 'give-up') return end(s, 'roomLost');
    try {
      if (step.kind === 'join') return await rejoined(s, await s.req('room.join', { roomId: s.keys.roomId, announcement: s.announcement! }));
      // A locked room stays locked: strangers with the link wait in the lobby, former members are let back in.
      const sealedTitle = sealTitle(s, s.title ?? '');
      // The re-creator distributes: its KEM key goes in the announcement the new room starts from.
      s.announcement = makeAnnouncement(s, true);
      const result = await s.req('room.create', { roomId: s.keys.roomId, announcement: s.announcement!, sealedTitle, locked: s.locked });
      agent.raiseNextEpoch((agent.current?.epoch ?? 0) + REBUILD.epochLeap);
      s.core.formerMembers = { keyIds: former, admitted: new Set(), until: Date.now() + REBUILD.giveUpMs, seats: rolesToRestore(heldStage, agent.me), restored: new Set() };
      return await rejoined(s, result, true);
    } catch (error) {
      if (!(error instanceof SignalingError)) throw error;
      if (error.code === 'ROOM_EXISTS') roomExists = true;
      // INTERNAL: no answer, the connection dropped again; it is retried like an absent room.
      else if (error.code !== 'ROOM_NOT_FOUND' && error.code !== 'INTERNAL') throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
  }
}
