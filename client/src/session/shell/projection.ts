// The view as a projection of the session's state: the members, roles and lobby as the UI shows them.
import { openMetadata } from '../../../../crypto/index.ts';
import type { MemberView, RoomView } from '../view.ts';
import { refreshFingerprint } from './fingerprint.ts';
import type { SessionState } from './state.ts';

export function render(s: SessionState): void {
  const members: MemberView[] = [...s.members.values()]
    .sort((a, b) => a.snapshot.joinedSeq - b.snapshot.joinedSeq)
    .map((m) => ({
      participantId: m.snapshot.participantId,
      name: m.snapshot.participantId === s.me ? s.myName : (m.verified?.name ?? null),
      role: s.roleOf(m.snapshot.participantId),
      isMe: m.snapshot.participantId === s.me,
      speaking: m.speaking,
      muted: m.snapshot.muted,
      handRaisedSeq: m.snapshot.handRaisedSeq,
    }));
  const me = s.me ? s.members.get(s.me) : undefined;
  s.update({
    members,
    audienceKnown: s.relayRole() !== null && s.relayRole() !== 'listener',
    myRole: me ? s.roleOf(me.snapshot.participantId) : null,
    handRaised: me?.snapshot.handRaisedSeq != null,
    lobby: s.lobbyRaw.map((e) => ({ participantId: e.participantId, name: s.agent?.verify(e.participantId, e.announcement)?.name ?? null })),
  });
  refreshFingerprint(s);
}

/** Room life as the UI shows it: what was last projected of its messages, and this page's own controls. */
export function publishLife(s: SessionState, patch: Partial<RoomView> = {}): void {
  s.update({ life: { ...s.lifeShown, ...s.controls, recordingHere: s.recorder !== null, error: s.lifeError }, ...patch });
}

export function nameOf(s: SessionState, participantId: string): string | null {
  if (participantId === s.me) return s.myName;
  return s.members.get(participantId)?.verified?.name ?? null;
}

export function openTitle(s: SessionState, sealed: string | null): string | null {
  if (!sealed) return null;
  try {
    return openMetadata<string>(s.keys.metaKey, s.keys.roomId, 'room-title', sealed);
  } catch {
    return null;
  }
}
