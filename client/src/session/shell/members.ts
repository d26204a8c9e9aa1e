// The members the relay tells of, and what a listener is not told (docs/protocol.md §9): updates, leaves, pages.
import type { ParticipantSnapshot } from '../../../../protocol/messages.ts';
import type { VerifiedMember } from '../membership.ts';
import type { AudiencePage, MemberView } from '../view.ts';
import { run, step } from './effects.ts';
import { closeMic, pauseMic } from './media.ts';
import { render } from './projection.ts';
import { isMember, type SessionState } from './state.ts';

export function onPeerUpdated(s: SessionState, participant: ParticipantSnapshot): void {
  const member = s.members.get(participant.participantId);
  if (!member) return void (isMember(s) && run(s, s.core.stageEntered(participant)));
  if (forgetsAudience(s, participant)) return;
  const before = member.snapshot;
  member.snapshot = participant;
  // A re-announcement after a link rotation verifies under the new keys. Until then, one verified under the old link
  // is stale (switchSecret); one that does not verify here (this member missed the rotation) keeps what it had.
  if ((before.announcement !== participant.announcement || member.stale) && isMember(s)) {
    const again = s.core.agent.verify(participant.participantId, participant.announcement);
    if (again) run(s, s.core.reverified(member, again, Date.now()));
  }
  if (participant.participantId === s.me) {
    // The relay took this member off stage or muted it: closing the microphone is always safe, so its word is
    // enough. Putting it on stage opens nothing: only the person's own action does.
    if (before.role !== 'listener' && participant.role === 'listener') closeMic(s);
    if (!before.muted && participant.muted) pauseMic(s);
  }
  render(s);
}

export function onPeerLeft(s: SessionState, participantId: string): void {
  if (s.verifying.busy) s.leftWhileVerifying.add(participantId);
  const key = s.keyOf(participantId);
  if (key) s.life?.forget(key);
  s.meter?.remove(participantId);
  if (s.core) step(s, { kind: 'peer.left', participantId, now: Date.now() });
  else {
    s.members.delete(participantId);
    render(s);
  }
}

/**
 * The whole room, once, on moving onto the stage. Members already known are refreshed at once; the others are
 * verified a slice per task, and whatever the relay said about one since the list came (a join, an update, a
 * leave) is newer than the list and wins. A member that became the distributor meanwhile keys those it verifies
 * late and its epoch left out.
 */
export function onRoomMembers(s: SessionState, participants: ParticipantSnapshot[]): void {
  const unknown: ParticipantSnapshot[] = [];
  for (const p of participants) {
    const known = s.members.get(p.participantId);
    if (!known) unknown.push(p);
    else if (known.snapshot.announcement === p.announcement) known.snapshot = p;
    else s.members.set(p.participantId, { snapshot: p, verified: s.agent?.verify(p.participantId, p.announcement) ?? null, speaking: false });
  }
  s.leftWhileVerifying.clear();
  const late: VerifiedMember[] = [];
  s.verifying.start(
    unknown,
    (p) => {
      if (s.leftWhileVerifying.has(p.participantId) || s.members.has(p.participantId)) return;
      const verified = s.agent?.verify(p.participantId, p.announcement) ?? null;
      s.members.set(p.participantId, { snapshot: p, verified, speaking: false });
      if (verified) late.push(verified);
    },
    () => {
      if (isMember(s)) run(s, s.core.lateVerified(late, Date.now()));
      late.length = 0;
      if (!s.verifying.busy) s.leftWhileVerifying.clear();
      render(s);
    },
  );
}

/**
 * A listener at the relay is not told of other listeners' updates or leaves, so it forgets them rather than show
 * them stale: one that moved off the stage, or all of them when this member did. True when that was the update.
 */
function forgetsAudience(s: SessionState, participant: ParticipantSnapshot): boolean {
  if (participant.role !== 'listener') return false;
  if (participant.participantId === s.me) {
    s.verifying.cancel();
    for (const [id, m] of s.members) if (id !== s.me && m.snapshot.role === 'listener') s.members.delete(id);
    return false;
  }
  if (s.relayRole() !== 'listener') return false;
  s.members.delete(participant.participantId);
  s.meter?.remove(participant.participantId);
  render(s);
  return true;
}

/** Listeners after the cursor, as the relay lists them, each verified here before its name is shown. */
export async function audiencePage(s: SessionState, after: number | null, limit: number): Promise<AudiencePage> {
  const page = await s.req('audience.page', after === null ? { limit } : { after, limit });
  const members = page.members.map((p): MemberView => {
    const verified = s.agent?.verify(p.participantId, p.announcement) ?? null;
    const isMe = p.participantId === s.me;
    return {
      participantId: p.participantId,
      name: isMe ? s.myName : (verified?.name ?? null),
      role: (verified && s.agent?.roleOf(verified.memberKeyId)) || 'listener',
      isMe,
      speaking: false,
      muted: p.muted,
      handRaisedSeq: p.handRaisedSeq,
    };
  });
  return { members, next: page.next };
}
