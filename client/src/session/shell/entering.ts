// Entering a room: the join screen (peek), coming back after a reload, creating, joining, and the room as entered.
import { generateIdentity, generateKemKeyPair, initCrypto, type Identity, type KemKeyPair } from '../../../../crypto/index.ts';
import type { JoinResult } from '../../../../protocol/messages.ts';
import { markJoin } from '../../media/join-timeline.ts';
import type { MediaSession } from '../../media/media-session.ts';
import { RoomCore } from '../core/room-core.ts';
import { takeMemberLock, type MemberLock } from '../member-lock.ts';
import { forgetMember, storedKemSecrets, storedMember, type StoredMember } from '../member-store.ts';
import { SenderFloor } from '../sender-floor.ts';
import { makeAnnouncement, sealTitle } from './announce.ts';
import { run } from './effects.ts';
import { end, fail } from './ending.ts';
import { watchFreshness } from './epoch.ts';
import { deferFirstFingerprint, refreshFingerprint } from './fingerprint.ts';
import { makeLife } from './life.ts';
import { consume, mediaOrCreate, meterOrCreate, startWantedMic } from './media.ts';
import { openTitle, render } from './projection.ts';
import { becomeMember, type MemberSession, type SessionState } from './state.ts';
import { remember } from './storage.ts';

export async function peek(s: SessionState): Promise<void> {
  try {
    // The E2EE Worker loads and the relay connection opens while the person reads the join screen, not after the
    // click.
    mediaOrCreate(s);
    s.connection.connect();
    // This tab was in the room before a reload: it comes back as the same member, without asking again, unless
    // another live page is that member (a duplicated tab copied this storage): then this one is a new member.
    const stored = storedMember(s.keys.roomId);
    let otherTab = false;
    if (stored) {
      loadCrypto();
      s.setPhase({ kind: 'busy', message: 'joining' });
      const taken = await takeMemberLock(stored.identity.memberKeyId);
      s.memberLock = taken.lock;
      otherTab = taken.elsewhere;
      // Read again under the lock: the page before this one may have raised its watermark while it was going away.
      const current = s.memberLock ? storedMember(s.keys.roomId) : null;
      if (current) return await comeBack(s, current);
      s.memberLock?.release();
      s.memberLock = null;
      // Only this tab's copy: what it holds is the other page's, whose watermark moves on without this copy.
      forgetMember(s.keys.roomId);
    }
    const info = await s.req('room.peek', { roomId: s.keys.roomId });
    markJoin('peek-answered');
    if (!info.exists) return end(s, 'roomNotFound');
    // So is the mediasoup Device (it probes the browser's codecs): the click then goes straight to the relay.
    if (info.routerRtpCapabilities)
      void mediaOrCreate(s)
        .load(info.routerRtpCapabilities as never)
        .catch(() => undefined);
    s.setPhase({ kind: 'join', title: openTitle(s, info.sealedTitle), otherTab });
    // libsodium is first needed by the click (to sign the announcement): it loads while the person types a name, so
    // its evaluation holds up neither the relay's answers nor the join screen. The newcomer's keys and lock follow.
    loadCrypto();
    s.newcomer = makeNewcomer();
  } catch (error) {
    fail(s, error);
  }
}

/**
 * A new member's identity, KEM key pair and member lock, made before the click: about 10 ms of key generation and a
 * round trip to the browser's lock manager that the join would otherwise wait for. A new identity's lock is free;
 * without Web Locks a duplicate of this tab cannot tell, and joins as a new member.
 */
async function makeNewcomer(): Promise<{ identity: Identity; kem: KemKeyPair; lock: MemberLock | null } | null> {
  try {
    await initCrypto();
    const identity = generateIdentity();
    const kem = generateKemKeyPair();
    return { identity, kem, lock: (await takeMemberLock(identity.memberKeyId, 0)).lock };
  } catch {
    return null;
  }
}

function loadCrypto(): void {
  void initCrypto().then(
    () => markJoin('crypto-ready'),
    () => undefined,
  );
}

/**
 * After a reload: the same identity and resume token, so the relay keeps the seat (role, raised hand) within its
 * grace, and the distributor resends the current epoch (to a stage member, then a new one it may send under); a
 * distributor issues a fresh epoch itself. Past the grace it is a join like any other. The microphone stays closed
 * until the person switches it on.
 */
async function comeBack(s: SessionState, stored: StoredMember): Promise<void> {
  // The page before this one may have sent under any epoch up to the one it stored: this one never does.
  s.floor = new SenderFloor(stored.epoch);
  const m = await prepare(s, stored.name, stored.identity, stored.kem ?? undefined);
  const agent = m.core.agent;
  // Members offered to this KEM key once and will not again: a distributor back from a reload keys them with these.
  if (stored.kem) agent.restoreTakenOffers(storedKemSecrets(s.keys.roomId));
  s.announcement = stored.announcement;
  agent.resumeAnnouncement(stored.announcement);
  agent.resumeAbove(stored.epoch - 1);
  meterOrCreate(s).resume();
  const result = await s.req('room.join', { roomId: s.keys.roomId, announcement: s.announcement!, resumeToken: stored.resumeToken, newPage: true });
  if ('lobby' in result) {
    s.me = result.participantId;
    return s.setPhase({ kind: 'lobby' });
  }
  const same = result.participantId === stored.participantId;
  // Back as the distributor: nobody else would answer its request for an epoch. It goes on with a fresh one above
  // every epoch it made, with the stage it held.
  if (same && stored.distribution) agent.resumeDistributing(stored.epoch, stored.distribution);
  await enter(m, result);
  if (same && stored.distribution) {
    run(m, m.core.distributeFresh());
    render(s);
  } else if (same)
    askForEpoch(
      s,
      result.room.participants.filter((p) => p.role !== 'listener').map((p) => p.participantId),
    );
}

/** Asks who may distribute to send this member the current epoch again (only the distributor answers). */
function askForEpoch(s: SessionState, participantIds: string[]): void {
  for (const to of participantIds) if (to !== s.me) void s.req('key.resend', { to }).catch(() => undefined);
}

export async function create(s: SessionState, title: string, name: string): Promise<void> {
  // Still inside the click: iOS unlocks audio only from a user gesture, and the host will hear later speakers.
  meterOrCreate(s).resume();
  s.setPhase({ kind: 'busy', message: 'creating' });
  try {
    const m = await prepare(s, name);
    s.micWanted = true;
    // The host distributes: its announcement carries its KEM key, which every joiner offers to.
    s.announcement = makeAnnouncement(m, true);
    const result = await s.req('room.create', { roomId: s.keys.roomId, announcement: s.announcement!, sealedTitle: sealTitle(s, title) });
    await enter(m, result, true);
  } catch (error) {
    fail(s, error);
  }
}

export function join(s: SessionState, name: string): void {
  // Once: a second click (a double click lands before the screen changes) would make a second identity.
  if (s.phase.kind !== 'join') return;
  markJoin('join-click');
  meterOrCreate(s).resume();
  s.setPhase({ kind: 'busy', message: 'joining' });
  void (async () => {
    try {
      const m = await prepare(s, name);
      // A Device loaded on the join screen lets the relay make the receive side with the join itself.
      const rtpCapabilities = s.media?.recvCapabilities();
      const receive = rtpCapabilities ? { receive: { rtpCapabilities: rtpCapabilities as never } } : {};
      const result = await s.req('room.join', { roomId: s.keys.roomId, announcement: s.announcement!, ...receive });
      markJoin('join-answered');
      if ('lobby' in result) {
        s.me = result.participantId;
        s.setPhase({ kind: 'lobby' });
      } else await enter(m, result);
    } catch (error) {
      fail(s, error);
    }
  })();
}

/**
 * `identity`: the one kept for this tab (a reload); otherwise the one the join screen made, or a new one, made only
 * once libsodium is ready.
 */
async function prepare(s: SessionState, name: string, identity?: Identity, kem?: KemKeyPair): Promise<MemberSession> {
  // Taken before any wait, so that no other caller can take the same keys, or release the lock this one keeps.
  const premade = s.newcomer;
  s.newcomer = null;
  const made = await premade;
  const newcomer = identity ? null : made;
  if (made && !newcomer) made.lock?.release();
  await initCrypto();
  s.myName = name;
  const m = becomeMember(s, new RoomCore(s.keys, identity ?? newcomer?.identity ?? generateIdentity(), s.roster, s.rejected, kem ?? newcomer?.kem));
  if (s.memberLock) newcomer?.lock?.release();
  else s.memberLock = newcomer ? newcomer.lock : (await takeMemberLock(m.core.agent.me, 0)).lock;
  s.life = makeLife(s, m.core.agent);
  s.announcement = makeAnnouncement(m);
  s.connection.connect();
  return m;
}

/** How long the room screen waits at most for the receive side to start connecting (showRoom). */
const RECEIVE_FIRST_MS = 150;

/**
 * Shows the room screen, once the receive side the join reply made is connecting when there is one. Its first render
 * and layout (10-30 ms of the main thread here, several times that on a loaded device) would otherwise run between
 * the join reply and the browser's set-up of the first consumer, and hold up ICE, DTLS and the first sound by as
 * much; after it, they overlap the handshake instead.
 */
async function showRoom(s: SessionState, media: MediaSession, receiving: boolean): Promise<void> {
  if (receiving) await Promise.race([media.receiving, new Promise((resolve) => setTimeout(resolve, RECEIVE_FIRST_MS))]);
  // Unless the session ended meanwhile, or another path showed the room already.
  if (s.phase.kind === 'room') s.update({ phase: s.phase });
}

/** `created`: this member made the room (or re-created it), so it is the host and issues the first epoch. */
export async function enter(s: MemberSession, result: JoinResult, created = false): Promise<void> {
  // The receive transport's requests go out before anything else: the first consume then finds it (nearly) ready.
  const media = mediaOrCreate(s);
  const loaded = media.load(result.routerRtpCapabilities as never);
  media.prepareReceive(result.receive as never);
  s.me = result.participantId;
  // Consumers the join reply made are taken up before the room renders: ICE and DTLS then run meanwhile.
  for (const c of result.receive?.consumers ?? []) void consume(s, c.producerId, c.participantId);
  s.core.keyBatchMs = result.keyBatchMs;
  s.resumeToken = result.resumeToken;
  remember(s);
  // A list still being verified is of the room as it was before this join reply (a rebuilt room, a resume).
  s.verifying.cancel();
  s.members.clear();
  for (const p of result.room.participants) s.members.set(p.participantId, { snapshot: p, verified: s.core.agent.verify(p.participantId, p.announcement), speaking: false });
  // Offers first: a distributor keys this member only once its offer is in, and a resend asked below needs it.
  run(s, s.core.offerAll());
  s.lobbyRaw = result.room.lobby;
  s.phase = { kind: 'room' };
  s.title = openTitle(s, result.room.sealedTitle);
  s.locked = result.room.locked;
  s.update({ title: s.title, locked: s.locked, me: result.participantId, audienceCount: result.room.audienceCount });
  void showRoom(s, media, (result.receive?.consumers.length ?? 0) > 0);
  if (!created) deferFirstFingerprint(s);
  refreshFingerprint(s);
  run(s, s.core.retryPending());
  if (!s.e2eeChannel!.supported) s.setE2ee({ state: 'error', epoch: null, reason: 'no encoded transform support' });
  await loaded;
  if (created) run(s, s.core.distributeFresh(new Map([[s.core.agent.me, 'host' as const]])));
  watchFreshness(s);
  for (const m of s.members.values()) for (const producerId of m.snapshot.producerIds) void consume(s, producerId, m.snapshot.participantId);
  render(s);
  await startWantedMic(s);
}
