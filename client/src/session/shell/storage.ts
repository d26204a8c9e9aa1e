// What the tab keeps of this member (member-store.ts): written here, so that a reload comes back as the same member.
import { storeKemSecrets, storeMember } from '../member-store.ts';
import type { SessionState } from './state.ts';

/** Keeps who this tab is in the room, so that a reload comes back as the same member. */
export function remember(s: SessionState): void {
  const agent = s.agent;
  if (!agent || !s.me || !s.resumeToken) return;
  const current = agent.current;
  const epoch = current?.epoch ?? 0;
  const distribution = current?.distributor === agent.me ? { stage: current.stage, locked: current.locked, removed: [...agent.removed] } : null;
  const write = storeMember(s.keys.roomId, { identity: agent.identity, kem: agent.kem, name: s.myName, announcement: s.announcement!, resumeToken: s.resumeToken, participantId: s.me, epoch, distribution });
  s.floor.recorded(epoch, write);
}

/** Offers come in bursts (a join, a new stage member): what was taken is written at most once a second. */
export function keepOffersSoon(s: SessionState): void {
  if (s.offersTimer) return;
  s.offersTimer = setTimeout(() => {
    s.offersTimer = null;
    if (s.agent && s.inRoomOrLobby()) storeKemSecrets(s.keys.roomId, s.agent.takenOffers());
  }, 1_000);
}

/** The page goes away: offers taken within the last second are not written yet, and a reload must not lose them. */
export function keepOffersNow(s: SessionState): void {
  if (s.offersTimer && s.agent) storeKemSecrets(s.keys.roomId, s.agent.takenOffers());
}
