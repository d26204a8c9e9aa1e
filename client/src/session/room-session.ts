// One room in the browser: signaling with the relay, membership and keys, media, and the view the UI renders.
import { io, type Socket } from 'socket.io-client';
import {
  buildRoomLink,
  deriveRoomKeys,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  newChallengeNonce,
  openMetadata,
  parseRoomLink,
  sealMetadata,
  toHex,
  verifyConfirmation,
  type DecisionAction,
  type Identity,
  type KemKeyPair,
  type RoomFingerprint,
  type RoomKeys,
} from '../../../crypto/index.ts';
import { onEvent, request } from '../../../protocol/client.ts';
import { SignalingError } from '../../../protocol/errors.ts';
import type { EventOf, EventType, JoinResult, ParticipantSnapshot, ReplyOf, RequestOf, RequestType } from '../../../protocol/messages.ts';
import { AudioMeter } from '../media/audio-meter.ts';
import { capturePlaintext, E2eeChannel } from '../media/e2ee.ts';
import type { StatsMessage } from '../media/e2ee-messages.ts';
import { MediaHealth } from '../media/media-health.ts';
import { MediaSession, type MediaSignaling } from '../media/media-session.ts';
import type { RoomActions } from './actions.ts';
import { EpochFreshness, FRESHNESS } from './freshness.ts';
import { Outbox } from './outbox.ts';
import type { Membership, EpochState, VerifiedMember } from './membership.ts';
import type { Effect } from './core/effects.ts';
import type { Input } from './core/inputs.ts';
import { RoomCore } from './core/room-core.ts';
import { Roster, type Member } from './core/roster.ts';
import { cachedFingerprint } from './fingerprint-cache.ts';
import { forgetMember, storedKemSecrets, storeKemSecrets, storeMember, storedMember, type StoredMember } from './member-store.ts';
import { forgetLinkSecret, hideLinkSecret } from './link-store.ts';
import { markJoin } from '../media/join-timeline.ts';
import { takeMemberLock, type MemberLock } from './member-lock.ts';
import { SenderFloor } from './sender-floor.ts';
import { MemberPages } from './member-pages.ts';
import { Slices } from './slices.ts';
import { planRebuild, REBUILD, rebuildStep, retryDelayMs, rolesToRestore, type RestoredRole } from './rebuild.ts';
import { RoomLife, RoomLifeError, ROOM_LIFE_LIMITS } from './room-life.ts';
import type { AudiencePage, MemberView, Phase, Role, RoomView } from './view.ts';

type Listener = (view: RoomView) => void;

/** A newcomer's first fingerprint starts when the room is heard, or this long after entering if nobody speaks. */
const FINGERPRINT_AFTER_JOIN_MS = 1_500;

/**
 * Endings after which this tab has no use for the room secret. A room not found or lost (a relay restart) keeps it:
 * the room may come back, and a reload tries again.
 */
const FORGET_SECRET_WHEN = new Set<string>(['leftRoom', 'kicked', 'roomEnded', 'linkRevoked', 'lobbyDeclined']);

export class RoomSession implements RoomActions {
  link: string;
  private secret: Uint8Array;
  private keys: RoomKeys;
  private readonly origin: string;
  private socket: Socket | null = null;
  /** The keys, commits and stage decisions (core/room-core.ts): there once this member has an identity. */
  private core: RoomCore | null = null;
  private readonly roster = new Roster();
  private readonly freshness = new EpochFreshness();
  /** Room messages (each as the call that sends it) waiting for the distributor to confirm this member's epoch. */
  private readonly outbox = new Outbox<() => void>();
  /** A room message was dropped for want of a confirmation of this epoch: said in the status until one comes. */
  private confirmFailed = false;
  private freshnessTimer: ReturnType<typeof setInterval> | null = null;
  private sendAllowed = true;
  /** The epochs this page may send under: never one another page of this member may have sent under. */
  private floor = new SenderFloor();
  /** Held while this page is this member in the room: a duplicated tab finds it taken and joins as a new member. */
  private memberLock: MemberLock | null = null;
  /** Messages from the relay refused because a signature, an authority or the key schedule did not hold. */
  private readonly rejected = { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 };
  /**
   * The room's whole list (`room.members`, on moving onto the stage) is verified a slice per task: about 0.3 ms per
   * announcement would hold the page for seconds in a room of 10,000. 100 a task keeps each task near 30 ms.
   */
  private readonly verifying = new Slices(100);
  /** Pages of `room.members` until the last is in. */
  private readonly memberPages = new MemberPages();
  /** Who left while a list was being verified: the list is older than their leave. */
  private readonly leftWhileVerifying = new Set<string>();
  /** Listeners known only from the announcements their room messages carried, by memberKeyId. */
  private readonly messageSenders = new Map<string, VerifiedMember>();
  private batchTimer: ReturnType<typeof setTimeout> | null = null;
  private myName = '';
  private resumeToken: string | null = null;
  private announcement: string | null = null;
  private lobbyRaw: { participantId: string; announcement: string }[] = [];
  private e2ee: E2eeChannel | null = null;
  private media: MediaSession | null = null;
  private meter: AudioMeter | null = null;
  private stats: StatsMessage | null = null;
  /** Whether audio really flows (frames decrypt, transports hold), shown apart from the keys. */
  private readonly health = new MediaHealth();
  /** A rotated room secret received in a commit, applied when the relay confirms the move to its room id. */
  private pendingSecret: Uint8Array | null = null;
  /** A resume or a rebuild is under way: a reconnect meanwhile must not start a second one. */
  private rejoining = false;
  /** Media resets so far (the relay's or our own): a resume tells from it whether one came while it restarted ICE. */
  private mediaResets = 0;
  /**
   * The person asked for the microphone (created the room, accepted an invitation, switched it on) and has not been
   * taken off stage since. Nothing the relay says sets this: a role it claims never opens a microphone.
   */
  private micWanted = false;
  /** The fingerprint derivation for the current secret and host, shown or still computing. */
  private fingerprintPending: Promise<RoomFingerprint> | null = null;
  /**
   * The first derivation waits until the room is heard or FINGERPRINT_AFTER_JOIN_MS have passed: Argon2id holds a
   * core and 64 MiB for about a second, which on a small device would compete with the join itself.
   */
  private fingerprintDeferred = false;
  /** Who distributed the last epoch this page used, against which a hand-over is shown. */
  private lastDistributor: string | null = null;
  /** Text of the fingerprint last shown, against which a new one is "changed". */
  private fingerprintShown: string | null = null;
  private readonly listeners = new Set<Listener>();
  private view: RoomView;
  /** Reactions, chat, pins and recording notices, sealed under the epoch's keys (room-life.ts has the rules). */
  private life: RoomLife | null = null;
  private lifeTimer: ReturnType<typeof setTimeout> | null = null;
  private announceTimer: ReturnType<typeof setTimeout> | null = null;
  private offersTimer: ReturnType<typeof setTimeout> | null = null;
  private recorder: { stop(): Promise<Blob> } | null = null;

  private constructor(origin: string, secret: Uint8Array) {
    this.origin = origin;
    this.secret = secret;
    this.keys = deriveRoomKeys(secret);
    this.link = buildRoomLink(origin, secret);
    this.view = {
      phase: { kind: 'busy', message: 'checkingRoom' },
      roomId: this.keys.roomId,
      link: this.link,
      title: null,
      fingerprint: null,
      fingerprintVerified: false,
      fingerprintChanged: false,
      e2ee: { state: 'waiting-for-key', epoch: null, reason: null },
      epochCode: null,
      distributorChanged: null,
      lineageCode: null,
      compareLineage: false,
      fingerprintNoHost: false,
      me: null,
      myRole: null,
      micOn: false,
      micError: false,
      handRaised: false,
      invitedBy: null,
      members: [],
      audienceCount: 0,
      audienceKnown: false,
      lobby: [],
      locked: false,
      reconnecting: false,
      networkBlocked: false,
      notice: null,
      sent: { encrypted: 0, droppedNoKey: 0, droppedStale: 0 },
      speakers: [],
      media: { state: 'idle', reason: null, silent: [] },
      droppedEvents: 0,
      recordingFile: null,
      life: { messages: [], pinned: null, reactions: [], recording: null, recordingHere: false, error: null, pushToTalk: false, talking: true, processing: true, volumes: {} },
    };
  }

  /** Throws RoomLinkError with a readable reason when the link is mangled. */
  static fromLink(href: string): RoomSession {
    const { secret, origin } = parseRoomLink(href);
    return new RoomSession(origin, secret);
  }

  static createNew(origin: string): RoomSession {
    return new RoomSession(origin, generateRoomSecret());
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    listener(this.view);
    return () => this.listeners.delete(listener);
  }

  /**
   * Diagnostics for browser tests and benchmarks (epoch keys, plaintext, fault injection): test builds only, so a
   * production bundle carries none of it (docs/operations.md). Nothing here leaves the page.
   */
  diagnostics() {
    if (!__TEAHOUSE_TEST_BUILD__) return undefined;
    return {
      view: () => this.view,
      spectrumPeak: (participantId: string) => this.meter?.spectrumPeak(participantId) ?? null,
      capturePlaintext: (frames: number) => (this.e2ee ? capturePlaintext(this.e2ee, frames).then((f) => f.map((b) => toHex(b))) : Promise.resolve([])),
      currentEpochKey: () => (this.agent?.current ? { epoch: this.agent.current.epoch, secret: toHex(this.agent.current.secret), hash: toHex(this.agent.current.hash) } : null),
      firstDecryptedAt: () => this.stats?.firstDecryptedAt ?? null,
      frameCost: () => (this.stats ? { ...this.stats.cost, crossOriginIsolated } : null),
      dropConnection: (holdMs = 0) => this.dropConnection(holdMs),
      rejected: () => ({ ...this.rejected }),
      sealedPackages: () => (this.agent ? { ...this.agent.sealed } : null),
      recordedFile: async () => (this.recording ? { type: this.recording.type, bytes: toHex(new Uint8Array(await this.recording.arrayBuffer())) } : null),
    };
  }

  // ---- entering ----

  async peek(): Promise<void> {
    try {
      // The E2EE Worker loads and the relay connection opens while the person reads the join screen, not after the
      // click.
      this.mediaOrCreate();
      this.connect();
      // libsodium is first needed by the click (to sign the announcement): the join screen does not wait for it.
      void initCrypto().then(() => markJoin('crypto-ready'), () => undefined);
      // This tab was in the room before a reload: it comes back as the same member, without asking again, unless
      // another live page is that member (a duplicated tab copied this storage): then this one is a new member.
      const stored = storedMember(this.keys.roomId);
      if (stored) {
        this.update({ phase: { kind: 'busy', message: 'joining' } });
        this.memberLock = await takeMemberLock(stored.identity.memberKeyId);
        // Read again under the lock: the page before this one may have raised its watermark while it was going away.
        const current = this.memberLock ? storedMember(this.keys.roomId) : null;
        if (current) return await this.comeBack(current);
        this.memberLock?.release();
        this.memberLock = null;
        // Only this tab's copy: what it holds is the other page's, whose watermark moves on without this copy.
        forgetMember(this.keys.roomId);
      }
      const info = await this.req('room.peek', { roomId: this.keys.roomId });
      markJoin('peek-answered');
      if (!info.exists) return this.end('roomNotFound');
      // So is the mediasoup Device (it probes the browser's codecs): the click then goes straight to the relay.
      if (info.routerRtpCapabilities) void this.mediaOrCreate().load(info.routerRtpCapabilities as never).catch(() => undefined);
      this.update({ phase: { kind: 'join', title: this.openTitle(info.sealedTitle) } });
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * After a reload: the same identity and resume token, so the relay keeps the seat (role, raised hand) within its
   * grace, and the distributor resends the current epoch (to a stage member, then a new one it may send under); a
   * distributor issues a fresh epoch itself. Past the grace it is a join like any other. The microphone stays closed
   * until the person switches it on.
   */
  private async comeBack(stored: StoredMember): Promise<void> {
    // The page before this one may have sent under any epoch up to the one it stored: this one never does.
    this.floor = new SenderFloor(stored.epoch);
    await this.prepare(stored.name, stored.identity, stored.kem ?? undefined);
    // Members offered to this KEM key once and will not again: a distributor back from a reload keys them with these.
    if (stored.kem) this.agent!.restoreTakenOffers(storedKemSecrets(this.keys.roomId));
    this.announcement = stored.announcement;
    this.agent!.resumeAnnouncement(stored.announcement);
    this.agent!.resumeAbove(stored.epoch - 1);
    this.meterOrCreate().resume();
    const result = await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement!, resumeToken: stored.resumeToken, newPage: true });
    if ('lobby' in result) {
      this.me = result.participantId;
      return this.update({ phase: { kind: 'lobby' } });
    }
    const same = result.participantId === stored.participantId;
    // Back as the distributor: nobody else would answer its request for an epoch. It goes on with a fresh one above
    // every epoch it made, with the stage it held.
    if (same && stored.distribution) this.agent!.resumeDistributing(stored.epoch, stored.distribution);
    await this.enter(result);
    if (same && stored.distribution) {
      this.run(this.core!.distributeFresh());
      this.render();
    } else if (same) this.askForEpoch(result.room.participants.filter((p) => p.role !== 'listener').map((p) => p.participantId));
  }

  /** Asks who may distribute to send this member the current epoch again (only the distributor answers). */
  private askForEpoch(participantIds: string[]): void {
    for (const to of participantIds) if (to !== this.me) void this.req('key.resend', { to }).catch(() => undefined);
  }

  async create(title: string, name: string): Promise<void> {
    // Still inside the click: iOS unlocks audio only from a user gesture, and the host will hear later speakers.
    this.meterOrCreate().resume();
    this.update({ phase: { kind: 'busy', message: 'creating' } });
    try {
      await this.prepare(name);
      this.micWanted = true;
      // The host distributes: its announcement carries its KEM key, which every joiner offers to.
      this.announcement = this.makeAnnouncement(true);
      const result = await this.req('room.create', { roomId: this.keys.roomId, announcement: this.announcement!, sealedTitle: this.sealTitle(title) });
      await this.enter(result, true);
    } catch (error) {
      this.fail(error);
    }
  }

  join(name: string): void {
    markJoin('join-click');
    this.meterOrCreate().resume();
    this.update({ phase: { kind: 'busy', message: 'joining' } });
    void (async () => {
      try {
        await this.prepare(name);
        // A Device loaded on the join screen lets the relay make the receive side with the join itself.
        const rtpCapabilities = this.media?.recvCapabilities();
        const receive = rtpCapabilities ? { receive: { rtpCapabilities: rtpCapabilities as never } } : {};
        const result = await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement!, ...receive });
        markJoin('join-answered');
        if ('lobby' in result) {
          this.me = result.participantId;
          this.update({ phase: { kind: 'lobby' } });
        } else await this.enter(result);
      } catch (error) {
        this.fail(error);
      }
    })();
  }

  /** `identity`: the one kept for this tab (a reload); otherwise a new one, made only once libsodium is ready. */
  private async prepare(name: string, identity?: Identity, kem?: KemKeyPair): Promise<void> {
    await initCrypto();
    this.myName = name;
    this.core = new RoomCore(this.keys, identity ?? generateIdentity(), this.roster, this.rejected, kem);
    // A new identity's lock is free; without Web Locks a duplicate of this tab cannot tell, and joins as a new member.
    this.memberLock ??= await takeMemberLock(this.core.agent.me, 0);
    this.life = this.makeLife(this.core.agent);
    this.announcement = this.makeAnnouncement();
    this.connect();
  }

  private sealTitle(title: string): string {
    return sealMetadata(this.keys.metaKey, this.keys.roomId, 'room-title', title);
  }

  /** `kem`: with this member's KEM key, as a stage member's (who may distribute) must be; listeners' stay small. */
  private makeAnnouncement(kem = false): string {
    const sealedProfile = sealMetadata(this.keys.metaKey, this.keys.roomId, 'profile', { name: this.myName });
    return this.agent!.announce(sealedProfile, kem);
  }

  /** `created`: this member made the room (or re-created it), so it is the host and issues the first epoch. */
  private async enter(result: JoinResult, created = false): Promise<void> {
    // The receive transport's requests go out before anything else: the first consume then finds it (nearly) ready.
    const media = this.mediaOrCreate();
    const loaded = media.load(result.routerRtpCapabilities as never);
    media.prepareReceive(result.receive as never);
    this.me = result.participantId;
    // Consumers the join reply made are taken up before the room renders: ICE and DTLS then run meanwhile.
    for (const c of result.receive?.consumers ?? []) void this.consume(c.producerId, c.participantId);
    this.core!.keyBatchMs = result.keyBatchMs;
    this.resumeToken = result.resumeToken;
    this.remember();
    // A list still being verified is of the room as it was before this join reply (a rebuilt room, a resume).
    this.verifying.cancel();
    this.members.clear();
    for (const p of result.room.participants) this.members.set(p.participantId, { snapshot: p, verified: this.agent!.verify(p.participantId, p.announcement), speaking: false });
    // Offers first: a distributor keys this member only once its offer is in, and a resend asked below needs it.
    this.run(this.core!.offerAll());
    this.lobbyRaw = result.room.lobby;
    this.update({
      phase: { kind: 'room' },
      title: this.openTitle(result.room.sealedTitle),
      locked: result.room.locked,
      me: result.participantId,
      audienceCount: result.room.audienceCount,
    });
    if (!created && this.fingerprintShown === null && this.fingerprintPending === null && !this.fingerprintDeferred) {
      this.fingerprintDeferred = true;
      setTimeout(() => this.startFingerprint(), FINGERPRINT_AFTER_JOIN_MS);
    }
    this.refreshFingerprint();
    this.retryPendingCommits();
    if (!this.e2ee!.supported) this.update({ e2ee: { state: 'error', epoch: null, reason: 'no encoded transform support' } });
    await loaded;
    if (created) this.run(this.core!.distributeFresh(new Map([[this.agent!.me, 'host' as const]])));
    this.freshnessTimer ??= setInterval(() => this.tickFreshness(), FRESHNESS.challengeEveryMs);
    for (const m of this.members.values()) for (const producerId of m.snapshot.producerIds) void this.consume(producerId, m.snapshot.participantId);
    this.render();
    if (this.micWanted && this.relayRole() !== 'listener') await this.startMic();
  }

  private mediaOrCreate(): MediaSession {
    this.e2ee ??= new E2eeChannel((stats) => this.onStats(stats));
    this.media ??= new MediaSession(this.mediaSignaling(), this.e2ee, {
      onBlocked: (blocked) => this.update({ networkBlocked: blocked }),
      onTransportState: (direction, state) => {
        this.health.transport(direction, state);
        this.publishMedia();
      },
    });
    return this.media;
  }

  // ---- signaling ----

  private connect(): void {
    if (this.socket) return;
    const socket = io(this.origin, { transports: ['websocket'], reconnectionDelayMax: 3_000 });
    this.socket = socket;
    // Every event is parsed against its schema first: a malformed one is counted and dropped, never acted on.
    const on = <T extends EventType>(event: T, handler: (payload: EventOf<T>) => void) =>
      onEvent(socket, event, handler, () => this.update({ droppedEvents: this.view.droppedEvents + 1 }));
    on('peer.joined', ({ participant }) => this.step({ kind: 'peer.joined', participant, now: Date.now() }));
    on('peer.updated', ({ participant }) => this.onPeerUpdated(participant));
    on('peer.left', ({ participantId }) => this.onPeerLeft(participantId));
    on('room.members', (page) => {
      const participants = this.memberPages.add(page);
      if (participants) this.onRoomMembers(participants);
    });
    on('room.audience', ({ count }) => this.update({ audienceCount: count }));
    on('producer.added', ({ producerId, participantId }) => void this.consume(producerId, participantId));
    on('producer.removed', ({ producerId, participantId }) => {
      this.media?.closeConsumer(producerId);
      this.meter?.remove(participantId);
    });
    on('key.commit', ({ commit, epoch, package: pkg }) => this.step({ kind: 'key.commit', commit, epoch, package: pkg ?? null }));
    on('key.package', ({ package: pkg, epoch }) => this.step({ kind: 'key.package', package: pkg, epoch }));
    on('stage.invited', ({ decision }) => this.step({ kind: 'stage.invited', decision, now: Date.now() }));
    on('stage.decision', ({ decision }) => this.step({ kind: 'stage.decision', decision, now: Date.now() }));
    on('epoch.challenge', ({ from, nonce }) => this.step({ kind: 'epoch.challenge', from, nonce }));
    on('key.resend', ({ from }) => this.step({ kind: 'key.resend', from, now: Date.now() }));
    on('key.kem', ({ from, offer }) => {
      this.step({ kind: 'key.kem', from, offer, now: Date.now() });
      this.keepOffersSoon();
    });
    on('epoch.confirm', ({ confirmation }) => this.onConfirmation(confirmation));
    on('lobby.updated', ({ lobby }) => {
      this.lobbyRaw = lobby;
      if (this.core) this.run(this.core.admitFormer(this.lobbyRaw, Date.now()));
      this.render();
    });
    // Only a visitor waiting in the lobby is admitted: in the room, entering again would reset the member list.
    on('lobby.admitted', (result) => {
      if (this.view.phase.kind === 'lobby') void this.enter(result).catch((e) => this.fail(e));
      else this.rejected.relayEvents++;
    });
    on('lobby.declined', () => this.end('lobbyDeclined'));
    on('member.kicked', () => this.end('kicked'));
    on('room.updated', ({ locked }) => this.update({ locked }));
    on('room.ended', () => this.end('roomEnded'));
    on('room.rotated', ({ newRoomId }) => {
      const next = this.pendingSecret;
      // Only a move to the room id of a secret the distributor sealed to us: the relay's word alone changes nothing.
      if (next && deriveRoomKeys(next).roomId === newRoomId) void this.switchSecret(next);
      else this.rejected.relayEvents++;
    });
    on('room.mediaReset', () => void this.resetMedia());
    on('room.message', ({ from, message, announcement }) => this.onRoomMessage(message, from, announcement));
    on('relay.shuttingDown', () => this.update({ reconnecting: true }));
    socket.on('disconnect', () => {
      if (this.view.phase.kind === 'room') this.update({ reconnecting: true });
    });
    // Every connect after the first is a way back: socket.io's own reconnection, or one started by dropConnection.
    let connectedBefore = false;
    socket.on('connect', () => {
      markJoin('socket-connected');
      if (connectedBefore) void this.resume();
      connectedBefore = true;
    });
    // Closing the tab is a leave, not a lost network; but a reload looks the same from here. So the page tells the
    // relay it is going away: it is kept only for the short away grace, within which a reload comes back as itself.
    addEventListener('pagehide', () => {
      if (this.view.phase.kind === 'room' || this.view.phase.kind === 'lobby') socket.emit('room.away', {}, () => undefined);
      // Offers taken within the last second are not written yet: a reload must not lose them.
      if (this.offersTimer && this.agent) storeKemSecrets(this.keys.roomId, this.agent.takenOffers());
    });
  }

  /** A lobby visitor is back too: the relay dropped it from the lobby with its connection, so it queues again. */
  private async resume(): Promise<void> {
    if (!this.inRoomOrLobby() || !this.announcement || this.rejoining) return;
    this.rejoining = true;
    try {
      try {
        await this.rejoined(await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement, ...(this.resumeToken ? { resumeToken: this.resumeToken } : {}) }));
      } catch (error) {
        // Rooms live only in the relay's memory: a room it does not know after a reconnect means the relay restarted.
        if (error instanceof SignalingError && error.code === 'ROOM_NOT_FOUND') await this.rebuild();
        else throw error;
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.rejoining = false;
    }
  }

  /** Back in the room: as the same member (only ICE restarts), or as a new one whose old media is gone with it. */
  private async rejoined(result: ReplyOf<'room.join'>, recreated = false): Promise<void> {
    if (result.participantId === this.me && !('lobby' in result)) {
      this.update({ reconnecting: false });
      const resets = this.mediaResets;
      await this.media?.restartIce().catch(async (error: unknown) => {
        // Back through another relay of a cluster (its own died): the old transports are not known there. Unless the
        // relay's mediaReset already made new ones meanwhile, media starts afresh as after one.
        if (!(error instanceof SignalingError && error.code === 'NOT_FOUND')) throw error;
        if (this.mediaResets === resets) await this.resetMedia();
      });
      return;
    }
    this.media?.resetTransports();
    for (const id of this.members.keys()) this.meter?.remove(id);
    // A new member starts in the audience; only the member re-creating the room as its host keeps its microphone.
    if (!recreated) {
      this.micWanted = false;
      // What it held is kept first, and nothing the relay says: the stage its last commit signed, and its own hand.
      if (this.core) this.core.held = { stage: this.agent?.current?.stage ?? [], handRaised: this.view.handRaised, until: Date.now() + REBUILD.giveUpMs, backAt: null };
      this.agent?.restart();
    }
    this.update({ reconnecting: false, micOn: false, invitedBy: null });
    if ('lobby' in result) {
      this.me = result.participantId;
      this.update({ phase: { kind: 'lobby' } });
    } else await this.enter(result, recreated);
  }

  /**
   * The relay restarted and forgot the room: the member whose turn it is (docs/protocol.md §5) re-creates it under the
   * same room id and identity and distributes a fresh epoch; everyone else rejoins as a new member.
   */
  private async rebuild(): Promise<void> {
    const plan = planRebuild(this.agent!.handOver(), this.agent!.me);
    const former = new Set(this.verifiedMembers().map((m) => m.memberKeyId));
    const started = Date.now();
    // What this member already holds, and nothing the relay says: the stage its last accepted commit signed.
    const heldStage = this.agent!.current?.stage ?? [];
    let roomExists = false;
    for (let attempt = 0; this.inRoomOrLobby(); attempt++) {
      const step = rebuildStep(plan, Date.now() - started, roomExists);
      if (step.kind === 'give-up') return this.end('roomLost');
      try {
        if (step.kind === 'join') return await this.rejoined(await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement! }));
        // A locked room stays locked: strangers with the link wait in the lobby, former members are let back in.
        const sealedTitle = this.sealTitle(this.view.title ?? '');
        // The re-creator distributes: its KEM key goes in the announcement the new room starts from.
        this.announcement = this.makeAnnouncement(true);
        const result = await this.req('room.create', { roomId: this.keys.roomId, announcement: this.announcement!, sealedTitle, locked: this.view.locked });
        this.agent!.raiseNextEpoch((this.agent!.current?.epoch ?? 0) + REBUILD.epochLeap);
        this.core!.formerMembers = { keyIds: former, admitted: new Set(), until: Date.now() + REBUILD.giveUpMs, seats: rolesToRestore(heldStage, this.agent!.me), restored: new Set() };
        return await this.rejoined(result, true);
      } catch (error) {
        if (!(error instanceof SignalingError)) throw error;
        if (error.code === 'ROOM_EXISTS') roomExists = true;
        // INTERNAL: no answer, the connection dropped again; it is retried like an absent room.
        else if (error.code !== 'ROOM_NOT_FOUND' && error.code !== 'INTERNAL') throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
  }

  private inRoomOrLobby(): boolean {
    return this.view.phase.kind === 'room' || this.view.phase.kind === 'lobby';
  }

  /** Diagnostics: cuts the relay connection as a network drop would, and keeps it down for holdMs before coming back. */
  private dropConnection(holdMs: number): void {
    const socket = this.socket;
    if (!socket) return;
    socket.io.reconnection(holdMs === 0);
    socket.io.engine.close();
    if (holdMs > 0) {
      setTimeout(() => {
        socket.io.reconnection(true);
        socket.connect();
      }, holdMs);
    }
  }

  private req<T extends RequestType>(type: T, payload: RequestOf<T>): Promise<ReplyOf<T>> {
    this.connect();
    return request(this.socket!, type, payload);
  }

  private mediaSignaling(): MediaSignaling {
    return {
      createTransport: async (direction) => {
        const t = await this.req('transport.create', { direction });
        return t as never;
      },
      connectTransport: async (transportId, dtlsParameters) => {
        await this.req('transport.connect', { transportId, dtlsParameters: dtlsParameters as never });
      },
      produce: async (transportId, rtpParameters) => (await this.req('producer.create', { transportId, kind: 'audio', rtpParameters: rtpParameters as never })).producerId,
      consume: async (producerId, rtpCapabilities) => (await this.req('consumer.create', { producerId, rtpCapabilities: rtpCapabilities as never })) as never,
      resumeConsumer: async (consumerId) => {
        await this.req('consumer.resume', { consumerId });
      },
      restartIce: async (transportId) => (await this.req('transport.restartIce', { transportId })).iceParameters as never,
      iceServers: async () => (await this.req('turn.credentials', {})).iceServers,
    };
  }

  // ---- membership and keys: the core decides, the shell runs what it returns ----

  private get agent(): Membership | null {
    return this.core?.agent ?? null;
  }

  private get members(): Map<string, Member> {
    return this.roster.members;
  }

  private get me(): string | null {
    return this.roster.me;
  }

  private set me(participantId: string | null) {
    this.roster.me = participantId;
  }

  private byKey(memberKeyId: string): Member | undefined {
    return this.roster.byKey(memberKeyId);
  }

  private keyOf(participantId: string): string | null {
    return this.core?.keyOf(participantId) ?? null;
  }

  private roleOf(participantId: string): Role {
    return this.core?.roleOf(participantId) ?? 'listener';
  }

  private isDistributor(): boolean {
    return this.core?.isDistributor() ?? false;
  }

  private verifiedMembers(): VerifiedMember[] {
    return this.roster.verifiedMembers();
  }

  private trustedSignKey(memberKeyId: string): Uint8Array | null {
    return this.roster.trustedSignKey(memberKeyId);
  }

  /** A validated relay event (or the batch window) through the core; nothing before this member has an identity. */
  private step(input: Input): void {
    if (this.core) this.run(this.core.step(input));
  }

  /** Signs this member's decision in the core (a distributor applies it at once) and runs what that takes. */
  private decide(action: DecisionAction, target: string | null, embedded?: string): string {
    const { blob, effects } = this.core!.decide(action, target, embedded, Date.now());
    this.run(effects);
    return blob;
  }

  /**
   * Runs the core's effects in their order. Each request leaves (is emitted) when its effect comes; the promise
   * settles when the commits among them were taken by the relay (a rotation waits for that before moving).
   */
  private run(effects: readonly Effect[]): Promise<void> {
    const commits: Promise<void>[] = [];
    for (const effect of effects) {
      switch (effect.kind) {
        case 'request':
          if (effect.errors === 'fail') this.act(effect.type, effect.payload as never);
          else void this.req(effect.type, effect.payload as never).catch(() => undefined);
          break;
        case 'epoch':
          this.useEpoch(effect.state, effect.senders);
          break;
        case 'commit':
          commits.push(this.sendCommit(effect));
          break;
        case 'batch-timer':
          this.batchTimer = setTimeout(() => {
            this.batchTimer = null;
            this.step({ kind: 'batch-timer', now: Date.now() });
          }, effect.ms);
          break;
        case 'notice':
          this.update({ notice: effect.text });
          break;
        case 'mic-pause':
          this.media?.setMicPaused(true);
          this.update({ micOn: false });
          break;
        case 'rotate':
          void this.rotate();
          break;
        case 'announce-recording':
          this.announceRecording();
          break;
        case 'room-secret':
          this.pendingSecret = effect.secret;
          break;
        case 'restore-seat':
          this.restoreSeat(effect.participantId, effect.memberKeyId, effect.seat);
          break;
        case 'invited':
          this.update({ invitedBy: effect.by });
          break;
        case 'reannounce-kem':
          this.reannounce(true);
          break;
        case 'render':
          this.render();
          break;
      }
    }
    return Promise.all(commits).then(() => undefined);
  }

  /** The header to everyone, each package to its member alone, in messages of at most LIMITS.packagesPerMessage. */
  private async sendCommit(commit: Extract<Effect, { kind: 'commit' }>): Promise<void> {
    const [first, ...rest] = commit.packages;
    try {
      // A fresh epoch keys every member it names: the header goes with each package and to nobody else.
      await this.req('key.commit', { commit: commit.blob, epoch: commit.epoch, packages: first!, ...(commit.fresh ? { withPackages: true as const } : {}) });
      for (const packages of rest) await this.req('key.packages', { epoch: commit.epoch, packages });
    } catch (error) {
      this.fail(error);
    }
  }

  /** Re-creator: a former speaker is invited (its page takes the invitation as its seat); a moderator named, then muted. */
  private restoreSeat(participantId: string, memberKeyId: string, seat: RestoredRole): void {
    void (async () => {
      if (seat === 'speaker') return void (await this.req('stage.invite', { participantId, decision: this.decide('invite', memberKeyId) }));
      await this.req('role.setModerator', { participantId, moderator: true, decision: this.decide('set-moderator', memberKeyId) });
      await this.req('stage.mute', { participantId, decision: this.decide('mute', memberKeyId) });
    })().catch((error) => this.fail(error));
  }

  private onPeerUpdated(participant: ParticipantSnapshot): void {
    const member = this.members.get(participant.participantId);
    if (!member) return void (this.core && this.run(this.core.stageEntered(participant)));
    if (this.forgetsAudience(participant)) return;
    const before = member.snapshot;
    member.snapshot = participant;
    // A re-announcement after a link rotation verifies under the new keys. Until then, one verified under the old link
    // is stale (switchSecret); one that does not verify here (this member missed the rotation) keeps what it had.
    if (before.announcement !== participant.announcement || member.stale) {
      const again = this.agent?.verify(participant.participantId, participant.announcement) ?? null;
      if (again) this.run(this.core!.reverified(member, again, Date.now()));
    }
    if (participant.participantId === this.me) {
      // The relay took this member off stage or muted it: closing the microphone is always safe, so its word is
      // enough. Putting it on stage opens nothing: only the person's own action does.
      if (before.role !== 'listener' && participant.role === 'listener') this.closeMic();
      if (!before.muted && participant.muted) {
        this.media?.setMicPaused(true);
        this.update({ micOn: false });
      }
    }
    this.render();
  }

  // ---- audience: what a listener is not told (docs/protocol.md §9) ----

  /** The relay's full member list, once, when this member moved onto the stage: merged like the join snapshot. */
  /**
   * The whole room, once, on moving onto the stage. Members already known are refreshed at once; the others are
   * verified a slice per task, and whatever the relay said about one since the list came (a join, an update, a
   * leave) is newer than the list and wins. A member that became the distributor meanwhile keys those it verifies
   * late and its epoch left out.
   */
  private onRoomMembers(participants: ParticipantSnapshot[]): void {
    const unknown: ParticipantSnapshot[] = [];
    for (const p of participants) {
      const known = this.members.get(p.participantId);
      if (!known) unknown.push(p);
      else if (known.snapshot.announcement === p.announcement) known.snapshot = p;
      else this.members.set(p.participantId, { snapshot: p, verified: this.agent?.verify(p.participantId, p.announcement) ?? null, speaking: false });
    }
    this.leftWhileVerifying.clear();
    const late: VerifiedMember[] = [];
    this.verifying.start(
      unknown,
      (p) => {
        if (this.leftWhileVerifying.has(p.participantId) || this.members.has(p.participantId)) return;
        const verified = this.agent?.verify(p.participantId, p.announcement) ?? null;
        this.members.set(p.participantId, { snapshot: p, verified, speaking: false });
        if (verified) late.push(verified);
      },
      () => {
        if (this.core) this.run(this.core.lateVerified(late, Date.now()));
        late.length = 0;
        if (!this.verifying.busy) this.leftWhileVerifying.clear();
        this.render();
      },
    );
  }

  /**
   * A listener at the relay is not told of other listeners' updates or leaves, so it forgets them rather than show
   * them stale: one that moved off the stage, or all of them when this member did. True when that was the update.
   */
  private forgetsAudience(participant: ParticipantSnapshot): boolean {
    if (participant.role !== 'listener') return false;
    if (participant.participantId === this.me) {
      this.verifying.cancel();
      for (const [id, m] of this.members) if (id !== this.me && m.snapshot.role === 'listener') this.members.delete(id);
      return false;
    }
    if (this.relayRole() !== 'listener') return false;
    this.members.delete(participant.participantId);
    this.meter?.remove(participant.participantId);
    this.render();
    return true;
  }

  /** Listeners after the cursor, as the relay lists them, each verified here before its name is shown. */
  async audiencePage(after: number | null, limit: number): Promise<AudiencePage> {
    const page = await this.req('audience.page', after === null ? { limit } : { after, limit });
    const members = page.members.map((p): MemberView => {
      const verified = this.agent?.verify(p.participantId, p.announcement) ?? null;
      const isMe = p.participantId === this.me;
      return {
        participantId: p.participantId,
        name: isMe ? this.myName : (verified?.name ?? null),
        role: (verified && this.agent?.roleOf(verified.memberKeyId)) || 'listener',
        isMe,
        speaking: false,
        muted: p.muted,
        handRaisedSeq: p.handRaisedSeq,
      };
    });
    return { members, next: page.next };
  }

  private closeMic(): void {
    this.micWanted = false;
    this.media?.stopMic();
    this.update({ micOn: false });
  }

  private onPeerLeft(participantId: string): void {
    if (this.verifying.busy) this.leftWhileVerifying.add(participantId);
    const key = this.keyOf(participantId);
    if (key) this.life?.forget(key);
    this.meter?.remove(participantId);
    if (this.core) this.step({ kind: 'peer.left', participantId, now: Date.now() });
    else {
      this.members.delete(participantId);
      this.render();
    }
  }

  private retryPendingCommits(): void {
    if (this.core) this.run(this.core.retryPending());
  }

  private onConfirmation(blob: string): void {
    const distributor = this.agent?.current?.distributor;
    if (!distributor) return;
    try {
      this.freshness.confirm(verifyConfirmation({ roomId: this.keys.roomId, blob, signKeyOf: (id) => (id === distributor ? this.trustedSignKey(id) : null) }));
    } catch {
      this.rejected.confirmations++;
    }
    this.checkFreshness();
  }

  /**
   * A sender keeps encrypting only while the distributor confirms, within FRESHNESS.validForMs, that its epoch is
   * current; otherwise a relay withholding a commit (after a kick) would keep it sending under a key the kicked holds.
   */
  private tickFreshness(): void {
    const now = performance.now();
    if (this.outbox.expire(now).length > 0) {
      this.confirmFailed = true;
      this.renderLife('WAITING_FOR_KEY');
    }
    // A member without a producer challenges only while a room message waits, one challenge at a time (a room of
    // 10,000 listeners challenging every 2 s would cost the distributor 5,000 signatures a second).
    if (this.media?.producerId || (this.outbox.size > 0 && !this.freshness.outstanding(now))) this.challenge();
    this.checkFreshness();
  }

  private challenge(): void {
    const agent = this.agent;
    if (!agent?.current || this.isDistributor()) return;
    const distributor = this.byKey(agent.current.distributor);
    if (!distributor) return;
    const nonce = newChallengeNonce();
    this.freshness.challenge(nonce, performance.now());
    void this.req('epoch.challenge', { to: distributor.snapshot.participantId, nonce }).catch(() => undefined);
  }

  /** Whether this member may seal under its epoch now: the same rule for room messages as for audio. */
  private isFresh(): boolean {
    return this.isDistributor() || this.freshness.state(performance.now()) === 'confirmed';
  }

  /** A room message that may not be sealed yet waits (a few, a few seconds) for a confirmation asked for now. */
  private holdLife(retry: () => void): boolean {
    if (!this.outbox.hold(retry, performance.now())) return false;
    if (!this.freshness.outstanding(performance.now())) this.challenge();
    return true;
  }

  private checkFreshness(): void {
    const state = this.isDistributor() ? 'confirmed' : this.freshness.state(performance.now());
    const allowed = state === 'confirmed';
    if (allowed !== this.sendAllowed) {
      this.sendAllowed = allowed;
      this.e2ee?.setSendAllowed(allowed);
    }
    // Sealed now, under the epoch just confirmed: each call seals under the current epoch only while it is confirmed.
    if (allowed) this.confirmFailed = false;
    if (allowed && this.agent?.current) for (const retry of this.outbox.release()) retry();
    const e2ee = this.view.e2ee;
    if (e2ee.state === 'error' || !this.agent?.current) return;
    const sending = this.media?.producerId != null;
    const current = this.agent.current;
    const floored = current.myIndex !== null && !this.floor.allows(current.epoch);
    // A listener told of a newer epoch it does not hold, or whose message found no confirmation, is not shown
    // "encrypted" either.
    const next =
      sending && floored
        ? { state: 'waiting-for-key' as const, reason: 'new-epoch' }
        : (sending || state === 'stale' || this.confirmFailed) && !allowed
          ? { state: 'waiting-for-key' as const, reason: state }
          : { state: 'encrypted' as const, reason: null };
    if (next.state !== e2ee.state || next.reason !== e2ee.reason) this.update({ e2ee: { ...e2ee, ...next } });
  }

  /** Installs an epoch the core took or made: the Worker's keys, the stored watermark, freshness, room life, the view. */
  private useEpoch(state: EpochState, senders: Record<string, number>): void {
    if (state.epoch !== this.view.e2ee.epoch) this.remember();
    // Each frame must prove the identity key the signed stage names for its sender (by memberKeyId, a hash of it).
    const signKeys: Record<string, Uint8Array> = {};
    for (const entry of state.stage) {
      const mine = entry.memberKeyId === this.agent?.me;
      const participantId = mine ? this.me : this.byKey(entry.memberKeyId)?.snapshot.participantId;
      const signKey = mine ? this.agent!.identity.signPublicKey : this.trustedSignKey(entry.memberKeyId);
      if (participantId && signKey) signKeys[participantId] = signKey;
    }
    // Written ahead: the stored watermark covers this epoch before a sender for it exists (sender-floor.ts).
    const myIndex = this.floor.senderIndex(state.epoch, state.myIndex);
    this.e2ee?.setEpoch(state.epoch, state.secret, myIndex, senders, signKeys, this.agent?.identity.signSecretKey ?? null);
    markJoin('epoch-key');
    this.freshness.setEpoch(state.epoch, state.hash);
    if (state.epoch !== this.view.e2ee.epoch) this.confirmFailed = false;
    this.lifeEpoch(state);
    this.showHandOver(state.distributor);
    if (this.view.e2ee.state !== 'error') this.update({ e2ee: { state: 'encrypted', epoch: state.epoch, reason: null }, epochCode: state.code, locked: state.locked });
    // A hand-over (or a lineage the relay chose for this member) is when people compare the lineage code aloud.
    const handedOver = this.view.lineageCode !== null && this.view.lineageCode !== state.lineage;
    this.update({ lineageCode: state.lineage, ...(handedOver ? { compareLineage: true } : {}) });
    this.checkFreshness();
  }

  /** Someone else distributes now: the page says who, so people can compare who took over (and the epoch code). */
  private showHandOver(distributor: string): void {
    const before = this.lastDistributor;
    this.lastDistributor = distributor;
    if (before === null || before === distributor) return;
    const me = distributor === this.agent?.me;
    this.update({ distributorChanged: { me, name: me ? this.myName : (this.byKey(distributor)?.verified?.name ?? null) } });
  }

  private startFingerprint(): void {
    if (!this.fingerprintDeferred) return;
    this.fingerprintDeferred = false;
    this.refreshFingerprint();
  }

  private refreshFingerprint(): void {
    if (this.fingerprintDeferred) return;
    // The fingerprint names the host of the signed stage; after the host leaves it stays the one that was read aloud.
    const hostKey = this.agent?.current?.stage.find((m) => m.role === 'host')?.memberKeyId;
    const host = hostKey === this.agent?.me ? this.agent?.identity : hostKey ? this.byKey(hostKey)?.verified : undefined;
    // A first stage without a host (a colluder's, or a room whose host left before this member came) names nobody.
    const noHost = !hostKey && this.agent?.current != null && this.fingerprintShown === null;
    if (noHost !== this.view.fingerprintNoHost) this.update({ fingerprintNoHost: noHost });
    if (!host) return;
    // The derivation is slow (Argon2id, in a Worker): the panel says "computing" meanwhile, and a result whose secret
    // or host was replaced before it arrived is dropped. The cache hands back the same promise for the same pair.
    const pending = cachedFingerprint(this.secret, host.signPublicKey);
    if (pending === this.fingerprintPending) return;
    this.fingerprintPending = pending;
    this.update({ fingerprint: null });
    pending.then((fp) => {
      if (pending !== this.fingerprintPending) return;
      const changed = this.fingerprintShown !== null && this.fingerprintShown !== fp.text;
      this.fingerprintShown = fp.text;
      this.update({ fingerprint: fp, ...(changed ? { fingerprintChanged: true, fingerprintVerified: false } : {}) });
    }, () => {
      if (pending === this.fingerprintPending) this.fingerprintPending = null;
    });
  }

  // ---- media ----

  private meterOrCreate(): AudioMeter {
    this.meter ??= new AudioMeter((id, speaking) => {
      const m = this.members.get(id);
      if (m) {
        m.speaking = speaking;
        this.render();
      }
    });
    this.gateAudio();
    return this.meter;
  }

  private async consume(producerId: string, participantId: string): Promise<void> {
    if (!this.media || participantId === this.me) return;
    try {
      const track = await this.media.consume(producerId, participantId);
      this.meterOrCreate().add(participantId, track);
      this.rememberedVolume(participantId);
    } catch (error) {
      if (!(error instanceof SignalingError && error.code === 'NOT_FOUND')) this.fail(error);
    }
  }

  private async startMic(): Promise<void> {
    if (!this.media || !this.e2ee?.supported) return;
    try {
      await this.media.startMic();
      this.update({ micOn: true, micError: false });
    } catch (error) {
      if ((error as Error).name === 'NotAllowedError') this.update({ micError: true });
      else this.fail(error);
    }
  }

  /**
   * Switching the microphone on is the person's own unmute: a producer the relay made paused, because it had this
   * member muted (a seat given back after a relay restart), resumes.
   */
  private unmuteAtRelay(): void {
    const producerId = this.media?.producerId;
    if (producerId && this.me && this.members.get(this.me)?.snapshot.muted) this.act('producer.resume', { producerId });
  }

  private async resetMedia(): Promise<void> {
    this.mediaResets++;
    this.media?.resetTransports();
    for (const m of this.members.values()) this.meter?.remove(m.snapshot.participantId);
    for (const m of this.members.values()) for (const id of m.snapshot.producerIds) void this.consume(id, m.snapshot.participantId);
    if (this.micWanted && this.relayRole() !== 'listener') await this.startMic();
  }

  private onStats(stats: StatsMessage): void {
    this.stats = stats;
    if (stats.firstDecryptedAt !== null) {
      markJoin('first-decrypt', stats.firstDecryptedAt - performance.timeOrigin);
      this.startFingerprint();
    }
    this.update({
      sent: stats.sent,
      speakers: Object.entries(stats.received).map(([participantId, c]) => ({ participantId, name: this.nameOf(participantId), ...c, ...stats.source[participantId] })),
    });
    this.publishMedia();
  }

  /** Muted speakers send nothing by design: only the others' frames are waited for. */
  private publishMedia(): void {
    const now = performance.now();
    const speaking = (this.media?.consumedParticipants() ?? []).filter((id) => this.members.get(id)?.snapshot.muted === false);
    this.health.watch(speaking, now);
    this.health.producing(this.media?.sending ?? false, now);
    if (this.stats) this.health.counters(Object.fromEntries(Object.entries(this.stats.received).map(([id, c]) => [id, c.decrypted])), this.stats.sent.encrypted, now);
    const next = this.health.status(now);
    const shown = this.view.media;
    if (next.state !== shown.state || next.reason !== shown.reason || next.silent.join() !== shown.silent.join()) this.update({ media: next });
  }

  /**
   * The person's retry when media does not flow: an ICE restart on both transports. Not new transports: the relay
   * allows a member only four, and has no message to close one.
   */
  retryMedia(): void {
    this.media?.restartIce().catch((error: unknown) => this.fail(error));
  }

  // ---- view ----

  /** What the relay lets this member do (it must allow a producer); never a reason to open the microphone. */
  private relayRole(): Role | null {
    return this.me ? (this.members.get(this.me)?.snapshot.role ?? null) : null;
  }

  private nameOf(participantId: string): string | null {
    if (participantId === this.me) return this.myName;
    return this.members.get(participantId)?.verified?.name ?? null;
  }

  private openTitle(sealed: string | null): string | null {
    if (!sealed) return null;
    try {
      return openMetadata<string>(this.keys.metaKey, this.keys.roomId, 'room-title', sealed);
    } catch {
      return null;
    }
  }

  private render(): void {
    const members: MemberView[] = [...this.members.values()]
      .sort((a, b) => a.snapshot.joinedSeq - b.snapshot.joinedSeq)
      .map((m) => ({
        participantId: m.snapshot.participantId,
        name: m.snapshot.participantId === this.me ? this.myName : (m.verified?.name ?? null),
        role: this.roleOf(m.snapshot.participantId),
        isMe: m.snapshot.participantId === this.me,
        speaking: m.speaking,
        muted: m.snapshot.muted,
        handRaisedSeq: m.snapshot.handRaisedSeq,
      }));
    const me = this.me ? this.members.get(this.me) : undefined;
    this.update({
      members,
      audienceKnown: this.relayRole() !== null && this.relayRole() !== 'listener',
      myRole: me ? this.roleOf(me.snapshot.participantId) : null,
      handRaised: me?.snapshot.handRaisedSeq != null,
      lobby: this.lobbyRaw.map((e) => ({ participantId: e.participantId, name: this.agent?.verify(e.participantId, e.announcement)?.name ?? null })),
    });
    this.refreshFingerprint();
  }

  private update(patch: Partial<RoomView>): void {
    this.view = { ...this.view, ...patch };
    for (const listener of this.listeners) listener(this.view);
  }

  /** Offers come in bursts (a join, a new stage member): what was taken is written at most once a second. */
  private keepOffersSoon(): void {
    if (this.offersTimer) return;
    this.offersTimer = setTimeout(() => {
      this.offersTimer = null;
      if (this.agent && this.inRoomOrLobby()) storeKemSecrets(this.keys.roomId, this.agent.takenOffers());
    }, 1_000);
  }

  /** Keeps who this tab is in the room, so that a reload comes back as the same member. */
  private remember(): void {
    if (!this.agent || !this.me || !this.resumeToken) return;
    const current = this.agent.current;
    const epoch = current?.epoch ?? 0;
    const distribution = current?.distributor === this.agent.me ? { stage: current.stage, locked: current.locked, removed: [...this.agent.removed] } : null;
    const write = storeMember(this.keys.roomId, { identity: this.agent.identity, kem: this.agent.kem, name: this.myName, announcement: this.announcement!, resumeToken: this.resumeToken, participantId: this.me, epoch, distribution });
    this.floor.recorded(epoch, write);
  }

  private end(reason: Extract<Phase, { kind: 'ended' }>['reason']): void {
    // Gone from the room for good: a reload must not try to come back (a relay restart keeps it for the rebuild).
    if (reason !== 'roomLost') forgetMember(this.keys.roomId);
    if (FORGET_SECRET_WHEN.has(reason)) forgetLinkSecret(this.keys.roomId);
    this.update({ phase: { kind: 'ended', reason } });
    this.teardown();
  }

  private fail(error: unknown): void {
    if (error instanceof SignalingError) {
      if (error.code === 'ROOM_NOT_FOUND') return this.end('roomNotFound');
      if (error.code === 'LINK_REVOKED') return this.end('linkRevoked');
      if (error.code === 'IDENTITY_BANNED') return this.end('kicked');
    }
    const message = error instanceof Error ? error.message : String(error);
    if (this.view.phase.kind === 'room') this.update({ notice: message });
    else this.update({ phase: { kind: 'error', message } });
    console.error(error);
  }

  private teardown(): void {
    this.verifying.cancel();
    if (this.freshnessTimer) clearInterval(this.freshnessTimer);
    this.freshnessTimer = null;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.media?.close();
    this.e2ee?.close();
    this.meter?.close();
    this.media = null;
    this.e2ee = null;
    this.meter = null;
    this.life?.clear();
    if (this.lifeTimer) clearTimeout(this.lifeTimer);
    if (this.announceTimer) clearTimeout(this.announceTimer);
    if (this.offersTimer) clearTimeout(this.offersTimer);
    this.socket?.disconnect();
    this.socket = null;
    this.memberLock?.release();
    this.memberLock = null;
  }

  // ---- actions ----

  private act<T extends RequestType>(type: T, payload: RequestOf<T>): void {
    void this.req(type, payload).catch((error) => this.fail(error));
  }

  leave(): void {
    const socket = this.socket;
    if (socket) request(socket, 'room.leave', {}).catch(() => undefined).finally(() => this.end('leftRoom'));
    else this.end('leftRoom');
  }

  toggleMic(): void {
    const producerId = this.media?.producerId;
    if (!producerId) {
      this.micWanted = true;
      return void this.startMic().then(() => this.unmuteAtRelay());
    }
    const on = !this.view.micOn;
    this.media!.setMicPaused(!on);
    this.update({ micOn: on });
    this.act(on ? 'producer.resume' : 'producer.pause', { producerId });
  }

  markVerified(): void {
    this.update({ fingerprintVerified: true, fingerprintChanged: false });
  }

  dismissCompareLineage(): void {
    this.update({ compareLineage: false });
  }

  raiseHand(): void {
    this.act('hand.raise', {});
  }

  lowerHand(): void {
    this.act('hand.lower', {});
  }

  /** Acts on someone through the relay with this member's signed decision, naming them by their identity key. */
  private actOn<T extends 'stage.invite' | 'stage.moveToAudience' | 'stage.mute' | 'member.kick' | 'lobby.admit'>(
    type: T,
    action: DecisionAction,
    participantId: string,
    memberKeyId: string | null = this.keyOf(participantId),
  ): void {
    if (!this.agent?.current || !memberKeyId) return this.update({ notice: 'that member is not verified yet' });
    this.act(type, { participantId, decision: this.decide(action, memberKeyId) } as RequestOf<T>);
  }

  invite(participantId: string): void {
    this.actOn('stage.invite', 'invite', participantId);
  }

  /** Accepting is the person's own action, so it is what opens the microphone once the relay lets it send. */
  respondInvite(accept: boolean): void {
    const invitation = this.core?.pendingInvite ?? null;
    if (this.core) this.core.pendingInvite = null;
    this.update({ invitedBy: null });
    if (!invitation || !this.agent) return;
    // Answered once: the same invitation replayed by the relay later prompts nobody.
    try {
      this.agent.markApplied(this.agent.check(invitation).decision);
    } catch {
      return;
    }
    void (async () => {
      try {
        if (!accept) return void (await this.req('stage.respond', { accept: false }));
        await this.req('stage.respond', { accept: true, decision: this.decide('accept', this.agent!.me, invitation) });
        this.micWanted = true;
        await this.startMic();
      } catch (error) {
        this.fail(error);
      }
    })();
  }

  moveToAudience(participantId: string): void {
    this.actOn('stage.moveToAudience', 'move-to-audience', participantId);
  }

  leaveStage(): void {
    if (!this.agent) return;
    this.closeMic();
    this.act('stage.leave', { decision: this.decide('leave-stage', this.agent.me) });
  }

  mute(participantId: string): void {
    this.actOn('stage.mute', 'mute', participantId);
  }

  kick(participantId: string): void {
    this.actOn('member.kick', 'kick', participantId);
  }

  setModerator(participantId: string, moderator: boolean): void {
    const key = this.keyOf(participantId);
    if (!this.agent?.current || !key) return;
    this.act('role.setModerator', { participantId, moderator, decision: this.decide(moderator ? 'set-moderator' : 'unset-moderator', key) });
  }

  lock(locked: boolean): void {
    if (!this.agent?.current) return;
    this.act('room.lock', { locked, decision: this.decide(locked ? 'lock' : 'unlock', null) });
  }

  admit(participantId: string): void {
    const entry = this.lobbyRaw.find((e) => e.participantId === participantId);
    const verified = entry ? this.agent?.verify(entry.participantId, entry.announcement) : null;
    this.actOn('lobby.admit', 'admit', participantId, verified?.memberKeyId ?? null);
  }

  decline(participantId: string): void {
    this.act('lobby.decline', { participantId });
  }

  /** Host: a new room secret for a leaked link. Members get it sealed in a fresh commit; the old link stops working. */
  rotateLink(): void {
    if (this.isDistributor()) void this.rotate();
  }

  /** A fresh epoch carrying a new room secret, sealed to everyone this distributor still admits, then the move. */
  private async rotate(): Promise<void> {
    try {
      const next = generateRoomSecret();
      const nextKeys = deriveRoomKeys(next);
      await this.run(this.core!.rotateTo(next));
      const sealedTitle = sealMetadata(nextKeys.metaKey, nextKeys.roomId, 'room-title', this.view.title ?? '');
      await this.req('room.rotate', { newRoomId: nextKeys.roomId, sealedTitle });
      await this.switchSecret(next);
    } catch (error) {
      this.fail(error);
    }
  }

  private async switchSecret(next: Uint8Array): Promise<void> {
    forgetMember(this.keys.roomId);
    forgetLinkSecret(this.keys.roomId);
    this.pendingSecret = null;
    this.secret = next;
    this.keys = deriveRoomKeys(next);
    this.agent!.keys = this.keys;
    // What was verified under the old link counts no more: each member is believed and keyed again once it re-announces.
    this.agent!.forgetVerified();
    this.messageSenders.clear();
    for (const m of this.members.values()) if (m.verified) m.stale = true;
    this.link = buildRoomLink(this.origin, next);
    hideLinkSecret(this.link);
    this.announcement = this.makeAnnouncement(this.agent!.publishesKem);
    this.update({ roomId: this.keys.roomId, link: this.link });
    this.remember();
    this.refreshFingerprint();
    await this.req('member.reannounce', { announcement: this.announcement });
  }

  /** Announces again under the same identity (with the KEM key once on stage), stored for a reload to resume with. */
  private reannounce(kem: boolean): void {
    this.announcement = this.makeAnnouncement(kem);
    this.remember();
    void this.req('member.reannounce', { announcement: this.announcement }).catch(() => undefined);
  }

  endRoom(): void {
    this.act('room.end', {});
  }

  // ---- room life: reactions, chat and questions, pins, volume, push-to-talk, recording ----

  private makeLife(agent: Membership): RoomLife {
    return new RoomLife({
      roomId: () => this.keys.roomId,
      identity: agent.identity,
      signKeyOf: (id) => (id === agent.me ? agent.identity.signPublicKey : (this.trustedSignKey(id) ?? this.messageSenders.get(id)?.signPublicKey ?? null)),
      roleOf: (id) => agent.roleOf(id),
      fresh: () => this.isFresh(),
    });
  }

  /** A new epoch seals what follows; the host tells everyone again whether it records (newcomers wait for it to play audio). */
  private lifeEpoch(state: EpochState): void {
    const life = this.life;
    if (!life) return;
    const { refused } = life.setEpoch(state.epoch, state.secret, state.hash);
    this.rejected.messages += refused.length;
    if (this.agent?.roleOf(this.agent.me) === 'host') this.announceRecording();
    this.renderLife();
  }

  /** Host: the recording state, on or off, under the current epoch; a notice refused for its rate is sent again soon. */
  private announceRecording(): void {
    const life = this.life;
    if (!life || this.announceTimer) return;
    const retry = () => {
      this.announceTimer = setTimeout(() => {
        this.announceTimer = null;
        this.announceRecording();
      }, ROOM_LIFE_LIMITS.announceRetryMs);
    };
    let message: string;
    try {
      message = life.recordingNotice(this.recorder !== null);
    } catch (error) {
      if (error instanceof RoomLifeError && error.code === 'RATE_LIMITED') retry();
      if (error instanceof RoomLifeError && error.code === 'WAITING_FOR_KEY') this.holdLife(() => this.announceRecording());
      return;
    }
    void this.req('room.message', { message }).catch((error) => {
      if (error instanceof SignalingError && error.code === 'RATE_LIMITED') retry();
    });
  }

  /** Remote audio stays silent until room life says what this member hears is announced (room-life.ts mayPlay). */
  private gateAudio(): void {
    const stage = this.agent?.current?.stage;
    this.meter?.hold(!(this.life && stage && this.life.mayPlay(stage)));
  }

  private onRoomMessage(blob: string, from: string, announcement?: string): void {
    // A listener this member was never shown: its announcement, verified with the link like any other, names its key.
    if (announcement && !this.members.get(from)?.verified) {
      const sender = this.agent?.verify(from, announcement);
      if (sender) {
        this.messageSenders.set(sender.memberKeyId, sender);
        if (this.messageSenders.size > ROOM_LIFE_LIMITS.knownSenders) this.messageSenders.delete(this.messageSenders.keys().next().value!);
      }
    }
    try {
      this.life?.receive(blob);
    } catch {
      // Forged, replayed, flooding or without authority: counted, never shown.
      this.rejected.messages++;
    }
    this.renderLife();
  }

  /**
   * Seals with `make` and sends, then runs `sent`; a refusal (too long, too fast, no key, not allowed) is shown in the
   * page. One that must wait for the distributor's confirmation is held and sent (or dropped, and said so) later.
   */
  private sendLife(make: (life: RoomLife) => string, report = true, sent?: () => void): boolean {
    const life = this.life;
    if (!life) return false;
    let message: string;
    try {
      message = make(life);
    } catch (error) {
      if (error instanceof RoomLifeError && error.code === 'WAITING_FOR_KEY' && this.holdLife(() => this.sendLife(make, report, sent))) return true;
      if (report) this.renderLife(error instanceof RoomLifeError ? error.code : 'FAILED');
      return false;
    }
    this.renderLife(null);
    void this.req('room.message', { message }).catch((error) => {
      if (report) this.renderLife(error instanceof SignalingError ? error.code : 'FAILED');
    });
    sent?.();
    return true;
  }

  private renderLife(error?: string | null): void {
    const life = this.life;
    if (!life) return;
    this.gateAudio();
    const participantOf = (key: string) => (key === this.agent?.me ? this.me : (this.byKey(key)?.snapshot.participantId ?? this.messageSenders.get(key)?.participantId ?? null));
    const nameOf = (key: string) => (key === this.agent?.me ? this.myName : (this.byKey(key)?.verified?.name ?? this.messageSenders.get(key)?.name ?? null));
    const reactions = life.reactions();
    this.update({
      life: {
        ...this.view.life,
        messages: life.messages.map((m) => ({ id: m.id, participantId: participantOf(m.sender), name: nameOf(m.sender), text: m.text, question: m.question, mine: m.sender === this.agent?.me })),
        pinned: life.pinned ? { kind: life.pinned.kind, text: life.pinned.text, by: nameOf(life.pinned.by) } : null,
        reactions: reactions.flatMap((r) => {
          const participantId = participantOf(r.sender);
          return participantId ? [{ id: r.id, participantId, emoji: r.emoji }] : [];
        }),
        recording: life.recording ? { by: nameOf(life.recording.by) } : this.recorder ? { by: this.myName } : null,
        recordingHere: this.recorder !== null,
        ...(error !== undefined ? { error } : {}),
      },
    });
    // Reactions float for a few seconds: redraw when the next one is due to go.
    if (this.lifeTimer) clearTimeout(this.lifeTimer);
    this.lifeTimer = reactions.length ? setTimeout(() => this.renderLife(), ROOM_LIFE_LIMITS.reactionMs / 4) : null;
  }

  react(emoji: string): void {
    this.sendLife((life) => life.reaction(emoji));
  }

  sendChat(text: string, question: boolean): boolean {
    return this.sendLife((life) => life.chat(text, question));
  }

  pin(pin: { kind: 'question' | 'link'; text: string } | null): void {
    this.sendLife((life) => life.pin(pin));
  }

  setVolume(participantId: string, volume: number): void {
    const v = Math.min(1, Math.max(0, volume));
    this.meterOrCreate().setVolume(participantId, v);
    const key = this.keyOf(participantId);
    // Remembered for the tab, by the speaker's identity key: the same speaker after a reconnect keeps its volume.
    if (key) sessionStorage.setItem(`teahouse-volume:${key}`, String(v));
    this.update({ life: { ...this.view.life, volumes: { ...this.view.life.volumes, [participantId]: v } } });
  }

  /** The volume this tab remembers for a speaker, applied when its track arrives. */
  private rememberedVolume(participantId: string): void {
    const key = this.keyOf(participantId);
    const saved = key ? sessionStorage.getItem(`teahouse-volume:${key}`) : null;
    if (saved !== null && Number.isFinite(Number(saved))) this.setVolume(participantId, Number(saved));
  }

  setPushToTalk(on: boolean): void {
    this.media?.setTalking(!on);
    this.update({ life: { ...this.view.life, pushToTalk: on, talking: !on } });
  }

  setTalking(on: boolean): void {
    if (!this.view.life.pushToTalk) return;
    this.media?.setTalking(on);
    this.update({ life: { ...this.view.life, talking: on } });
  }

  setProcessing(on: boolean): void {
    this.update({ life: { ...this.view.life, processing: on } });
    void this.media?.setProcessing(on).catch((error) => this.fail(error));
  }

  /** Host: records the decrypted stage on this device; everyone is told first, with the host's signature. */
  startRecording(): void {
    if (this.recorder || !this.meter) return;
    // The recorder runs only once the notice went out: a host that is not the distributor may wait for its epoch.
    this.sendLife((life) => life.recordingNotice(true), true, () => {
      if (this.recorder || !this.meter) return;
      this.recorder = this.meter.record(this.media?.micTrack() ?? null);
      this.renderLife();
    });
  }

  stopRecording(): void {
    const recorder = this.recorder;
    if (!recorder) return;
    this.recorder = null;
    this.sendLife((life) => life.recordingNotice(false));
    void recorder.stop().then((file) => {
      this.recording = file;
      this.update({ life: { ...this.view.life, recordingHere: false }, recordingFile: URL.createObjectURL(file) });
    });
    this.renderLife();
  }

  /** The last finished recording, held only in this page. */
  private recording: Blob | null = null;
}
