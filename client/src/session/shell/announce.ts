// What this member says of itself and of the room, sealed under the link's keys: its announcement and the title.
import { sealMetadata } from '../../../../crypto/index.ts';
import type { MemberSession, SessionState } from './state.ts';
import { remember } from './storage.ts';

/** `kem`: with this member's KEM key, as a stage member's (who may distribute) must be; listeners' stay small. */
export function makeAnnouncement(s: MemberSession, kem = false): string {
  const sealedProfile = sealMetadata(s.keys.metaKey, s.keys.roomId, 'profile', { name: s.myName });
  return s.core.agent.announce(sealedProfile, kem);
}

export function sealTitle(s: SessionState, title: string): string {
  return sealMetadata(s.keys.metaKey, s.keys.roomId, 'room-title', title);
}

/** Announces again under the same identity (with the KEM key once on stage), stored for a reload to resume with. */
export function reannounce(s: MemberSession, kem: boolean): void {
  s.announcement = makeAnnouncement(s, kem);
  remember(s);
  void s.req('member.reannounce', { announcement: s.announcement }).catch(() => undefined);
}
