// The move to a rotated room secret: new keys and link, everyone verified again, this member announced again.
import { buildRoomLink, deriveRoomKeys } from '../../../../crypto/index.ts';
import { forgetLinkSecret, hideLinkSecret } from '../link-store.ts';
import { forgetMember } from '../member-store.ts';
import { makeAnnouncement } from './announce.ts';
import { refreshFingerprint } from './fingerprint.ts';
import type { MemberSession } from './state.ts';
import { remember } from './storage.ts';

export async function switchSecret(s: MemberSession, next: Uint8Array): Promise<void> {
  forgetMember(s.keys.roomId);
  forgetLinkSecret(s.keys.roomId);
  s.pendingSecret = null;
  s.secret = next;
  s.keys = deriveRoomKeys(next);
  s.core.agent.keys = s.keys;
  // What was verified under the old link counts no more: each member is believed and keyed again once it re-announces.
  s.core.agent.forgetVerified();
  s.messageSenders.clear();
  for (const m of s.members.values()) if (m.verified) m.stale = true;
  s.link = buildRoomLink(s.origin, next);
  hideLinkSecret(s.link);
  s.announcement = makeAnnouncement(s, s.core.agent.publishesKem);
  s.update({ roomId: s.keys.roomId, link: s.link });
  remember(s);
  refreshFingerprint(s);
  await s.req('member.reannounce', { announcement: s.announcement });
}
