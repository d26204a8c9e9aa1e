// One room in the browser: signaling with the relay, membership and keys, media, and the view the UI renders.
import { io, type Socket } from 'socket.io-client';
import {
  buildRoomLink,
  createAnnouncement,
  deriveRoomKeys,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  openMetadata,
  parseRoomLink,
  sealMetadata,
  toHex,
  type RoomFingerprint,
  type RoomKeys,
} from '../../../crypto/index.ts';
import { request } from '../../../protocol/client.ts';
import { SignalingError } from '../../../protocol/errors.ts';
import type { EventOf, EventType, JoinResult, ParticipantSnapshot, ReplyOf, RequestOf, RequestType } from '../../../protocol/messages.ts';
import { AudioMeter } from '../media/audio-meter.ts';
import { E2eeChannel } from '../media/e2ee.ts';
import type { StatsMessage } from '../media/e2ee-messages.ts';
import { MediaSession, type MediaSignaling } from '../media/media-session.ts';
import type { RoomActions } from '../ui/actions.ts';
import { chooseDistributor, type Candidate } from './distributor.ts';
import { cachedFingerprint } from './fingerprint-cache.ts';
import { KeyAgent, type EpochState, type VerifiedMember } from './key-agent.ts';
import { planRebuild, REBUILD, rebuildStep, retryDelayMs } from './rebuild.ts';
import type { MemberView, Phase, RoomView } from './view.ts';

interface Member {
  snapshot: ParticipantSnapshot;
  verified: VerifiedMember | null;
  speaking: boolean;
}

type Listener = (view: RoomView) => void;

export class RoomSession implements RoomActions {
  link: string;
  private secret: Uint8Array;
  private keys: RoomKeys;
  private readonly origin: string;
  private socket: Socket | null = null;
  private agent: KeyAgent | null = null;
  private myName = '';
  private me: string | null = null;
  private resumeToken: string | null = null;
  private announcement: string | null = null;
  private readonly members = new Map<string, Member>();
  private lobbyRaw: { participantId: string; announcement: string }[] = [];
  private e2ee: E2eeChannel | null = null;
  private media: MediaSession | null = null;
  private meter: AudioMeter | null = null;
  private stats: StatsMessage | null = null;
  /** A rotated room secret received in a commit, applied when the relay confirms the move to its room id. */
  private pendingSecret: Uint8Array | null = null;
  /** A resume or a rebuild is under way: a reconnect meanwhile must not start a second one. */
  private rejoining = false;
  /**
   * The person asked for the microphone (created the room, accepted an invitation, switched it on) and has not been
   * taken off stage since. Nothing the relay says sets this: a role it claims never opens a microphone.
   */
  private micWanted = false;
  /** After this member re-created the room: identities that were members before, let straight in from the lobby. */
  private formerMembers: { keyIds: Set<string>; admitted: Set<string>; until: number } | null = null;
  /** The fingerprint derivation for the current secret and host, shown or still computing. */
  private fingerprintPending: Promise<RoomFingerprint> | null = null;
  /** Text of the fingerprint last shown, against which a new one is "changed". */
  private fingerprintShown: string | null = null;
  private readonly listeners = new Set<Listener>();
  private view: RoomView;

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
      me: null,
      myRole: null,
      micOn: false,
      micError: false,
      handRaised: false,
      invitedBy: null,
      members: [],
      lobby: [],
      locked: false,
      reconnecting: false,
      notice: null,
      sent: { encrypted: 0, droppedNoKey: 0 },
      speakers: [],
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

  /** Read-only diagnostics for the console and automated checks; nothing here leaves the page. */
  diagnostics() {
    return {
      view: () => this.view,
      spectrumPeak: (participantId: string) => this.meter?.spectrumPeak(participantId) ?? null,
      capturePlaintext: (frames: number) => this.e2ee?.capturePlaintext(frames).then((f) => f.map((b) => toHex(b))) ?? Promise.resolve([]),
      currentEpochKey: () => (this.agent?.current ? { epoch: this.agent.current.epoch, secret: toHex(this.agent.current.secret) } : null),
      firstDecryptedAt: () => this.stats?.firstDecryptedAt ?? null,
      frameCost: () => (this.stats ? { ...this.stats.cost, crossOriginIsolated } : null),
      dropConnection: (holdMs = 0) => this.dropConnection(holdMs),
    };
  }

  // ---- entering ----

  async peek(): Promise<void> {
    try {
      await initCrypto();
      const info = await this.req('room.peek', { roomId: this.keys.roomId });
      if (!info.exists) return this.end('roomNotFound');
      this.update({ phase: { kind: 'join', title: this.openTitle(info.sealedTitle) } });
    } catch (error) {
      this.fail(error);
    }
  }

  async create(title: string, name: string): Promise<void> {
    this.update({ phase: { kind: 'busy', message: 'creating' } });
    try {
      await this.prepare(name);
      this.micWanted = true;
      const result = await this.req('room.create', { roomId: this.keys.roomId, announcement: this.announcement!, sealedTitle: this.sealTitle(title) });
      await this.enter(result);
    } catch (error) {
      this.fail(error);
    }
  }

  join(name: string): void {
    this.meterOrCreate().resume();
    this.update({ phase: { kind: 'busy', message: 'joining' } });
    void (async () => {
      try {
        await this.prepare(name);
        const result = await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement! });
        if ('lobby' in result) {
          this.me = result.participantId;
          this.update({ phase: { kind: 'lobby' } });
        } else await this.enter(result);
      } catch (error) {
        this.fail(error);
      }
    })();
  }

  private async prepare(name: string): Promise<void> {
    await initCrypto();
    this.myName = name;
    const identity = generateIdentity();
    this.agent = new KeyAgent(this.keys, identity);
    this.announcement = this.makeAnnouncement();
    this.connect();
  }

  private sealTitle(title: string): string {
    return sealMetadata(this.keys.metaKey, this.keys.roomId, 'room-title', title);
  }

  private makeAnnouncement(): string {
    const sealedProfile = sealMetadata(this.keys.metaKey, this.keys.roomId, 'profile', { name: this.myName });
    return createAnnouncement({ roomId: this.keys.roomId, authKey: this.keys.authKey, identity: this.agent!.identity, sealedProfile });
  }

  private async enter(result: JoinResult): Promise<void> {
    this.me = result.participantId;
    this.resumeToken = result.resumeToken;
    this.members.clear();
    for (const p of result.room.participants) this.members.set(p.participantId, { snapshot: p, verified: this.agent!.verify(p.participantId, p.announcement), speaking: false });
    this.lobbyRaw = result.room.lobby;
    this.update({
      phase: { kind: 'room' },
      title: this.openTitle(result.room.sealedTitle),
      locked: result.room.locked,
      me: result.participantId,
    });
    this.refreshFingerprint();
    this.e2ee ??= new E2eeChannel((stats) => this.onStats(stats));
    if (!this.e2ee.supported) this.update({ e2ee: { state: 'error', epoch: null, reason: 'no encoded transform support' } });
    this.media ??= new MediaSession(this.mediaSignaling(), this.e2ee);
    await this.media.load(result.routerRtpCapabilities as never);
    if (this.isDistributor()) this.distributeFresh();
    for (const m of this.members.values()) for (const producerId of m.snapshot.producerIds) void this.consume(producerId, m.snapshot.participantId);
    this.render();
    if (this.micWanted && this.myRole() !== 'listener') await this.startMic();
  }

  // ---- signaling ----

  private connect(): void {
    if (this.socket) return;
    const socket = io(this.origin, { transports: ['websocket'], reconnectionDelayMax: 3_000 });
    this.socket = socket;
    const on = <T extends EventType>(event: T, handler: (payload: EventOf<T>) => void) => socket.on(event as string, handler as never);
    on('peer.joined', ({ participant }) => this.onPeerJoined(participant));
    on('peer.updated', ({ participant }) => this.onPeerUpdated(participant));
    on('peer.left', ({ participantId }) => this.onPeerLeft(participantId));
    on('producer.added', ({ producerId, participantId }) => void this.consume(producerId, participantId));
    on('producer.removed', ({ producerId, participantId }) => {
      this.media?.closeConsumer(producerId);
      this.meter?.remove(participantId);
    });
    on('key.commit', ({ from, commit }) => this.onCommit(from, commit));
    on('stage.invited', ({ by }) => this.update({ invitedBy: this.nameOf(by) ?? '…' }));
    on('lobby.updated', ({ lobby }) => {
      this.lobbyRaw = lobby;
      this.admitFormerMembers();
      this.render();
    });
    on('lobby.admitted', (result) => void this.enter(result).catch((e) => this.fail(e)));
    on('lobby.declined', () => this.end('lobbyDeclined'));
    on('member.kicked', () => this.end('kicked'));
    on('room.updated', ({ locked }) => this.update({ locked }));
    on('room.ended', () => this.end('roomEnded'));
    on('room.rotated', ({ newRoomId }) => {
      const next = this.pendingSecret;
      if (next && deriveRoomKeys(next).roomId === newRoomId) void this.switchSecret(next);
      else this.end('linkRevoked');
    });
    on('room.mediaReset', () => void this.resetMedia());
    on('relay.shuttingDown', () => this.update({ reconnecting: true }));
    socket.on('disconnect', () => {
      if (this.view.phase.kind === 'room') this.update({ reconnecting: true });
    });
    // Every connect after the first is a way back: socket.io's own reconnection, or one started by dropConnection.
    let connectedBefore = false;
    socket.on('connect', () => {
      if (connectedBefore) void this.resume();
      connectedBefore = true;
    });
    // Closing the tab is a leave, not a lost network: tell the relay now so the room rekeys at once.
    addEventListener('pagehide', () => {
      if (this.view.phase.kind === 'room' || this.view.phase.kind === 'lobby') socket.emit('room.leave', {}, () => undefined);
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
      await this.media?.restartIce();
      return;
    }
    this.media?.resetTransports();
    for (const id of this.members.keys()) this.meter?.remove(id);
    // A new member starts in the audience; only the member re-creating the room as its host keeps its microphone.
    if (!recreated) this.micWanted = false;
    this.update({ reconnecting: false, micOn: false, invitedBy: null });
    if ('lobby' in result) {
      this.me = result.participantId;
      this.update({ phase: { kind: 'lobby' } });
    } else await this.enter(result);
  }

  /**
   * The relay restarted and forgot the room: the member whose turn it is (docs/protocol.md §5) re-creates it under the
   * same room id and identity and distributes a fresh epoch; everyone else rejoins as a new member.
   */
  private async rebuild(): Promise<void> {
    const plan = planRebuild(this.candidates(), this.me);
    const former = new Set(this.verifiedMembers().map((m) => m.memberKeyId));
    const started = Date.now();
    let roomExists = false;
    for (let attempt = 0; this.inRoomOrLobby(); attempt++) {
      const step = rebuildStep(plan, Date.now() - started, roomExists);
      if (step.kind === 'give-up') return this.end('roomLost');
      try {
        if (step.kind === 'join') return await this.rejoined(await this.req('room.join', { roomId: this.keys.roomId, announcement: this.announcement! }));
        // A locked room stays locked: strangers with the link wait in the lobby, former members are let back in.
        const sealedTitle = this.sealTitle(this.view.title ?? '');
        const result = await this.req('room.create', { roomId: this.keys.roomId, announcement: this.announcement!, sealedTitle, locked: this.view.locked });
        this.agent!.raiseNextEpoch((this.agent!.current?.epoch ?? 0) + REBUILD.epochLeap);
        this.formerMembers = { keyIds: former, admitted: new Set(), until: Date.now() + REBUILD.giveUpMs };
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

  /** The host of a re-created room admits, by their verified identity keys, the members it had before the restart. */
  private admitFormerMembers(): void {
    const former = this.formerMembers;
    if (!former || Date.now() > former.until || this.myRole() !== 'host') return;
    for (const entry of this.lobbyRaw) {
      const verified = this.agent?.verify(entry.participantId, entry.announcement);
      if (!verified || !former.keyIds.has(verified.memberKeyId) || former.admitted.has(entry.participantId)) continue;
      former.admitted.add(entry.participantId);
      this.act('lobby.admit', { participantId: entry.participantId });
    }
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
    };
  }

  // ---- membership and keys ----

  private hostMember(): Member | undefined {
    return [...this.members.values()].find((m) => m.snapshot.role === 'host');
  }

  private candidates(): Candidate[] {
    return [...this.members.values()].map((m) => ({ ...m.snapshot, verified: m.verified !== null }));
  }

  /** The member whose commits we accept: the host, or after the host left, the member docs/protocol.md §5 names. */
  private distributorMember(): Member | undefined {
    const id = chooseDistributor(this.candidates());
    return id === null ? undefined : this.members.get(id);
  }

  private isDistributor(): boolean {
    return this.me !== null && this.distributorMember()?.snapshot.participantId === this.me;
  }

  private verifiedMembers(): VerifiedMember[] {
    return [...this.members.values()].flatMap((m) => (m.verified ? [m.verified] : []));
  }

  private distributeFresh(): void {
    const issued = this.agent!.issueFresh(this.verifiedMembers());
    this.useEpoch(issued);
    void this.req('key.commit', { commit: issued.blob, epoch: issued.epoch }).catch((e) => this.fail(e));
  }

  private onPeerJoined(participant: ParticipantSnapshot): void {
    const verified = this.agent?.verify(participant.participantId, participant.announcement) ?? null;
    this.members.set(participant.participantId, { snapshot: participant, verified, speaking: false });
    if (verified && this.isDistributor() && this.agent?.current) {
      const issued = this.agent.issueRatchet([verified]);
      this.useEpoch(issued);
      void this.req('key.commit', { commit: issued.blob, epoch: issued.epoch }).catch((e) => this.fail(e));
    }
    this.render();
  }

  private onPeerUpdated(participant: ParticipantSnapshot): void {
    const member = this.members.get(participant.participantId);
    if (!member) return;
    const before = member.snapshot;
    member.snapshot = participant;
    // A re-announcement after a link rotation verifies under the new keys; until then the old verification stands.
    if (before.announcement !== participant.announcement) {
      member.verified = this.agent?.verify(participant.participantId, participant.announcement) ?? member.verified;
    }
    if (participant.participantId === this.me) {
      // Taken off stage: the microphone closes (failing closed is always safe). Put on stage: nothing opens until
      // the person accepts an invitation or switches the microphone on.
      if (before.role !== 'listener' && participant.role === 'listener') {
        this.micWanted = false;
        this.media?.stopMic();
        this.update({ micOn: false });
      }
      if (!before.muted && participant.muted) {
        this.media?.setMicPaused(true);
        this.update({ micOn: false });
      }
      if (participant.role !== 'listener') this.update({ invitedBy: null });
    }
    this.render();
  }

  private onPeerLeft(participantId: string): void {
    this.members.delete(participantId);
    this.meter?.remove(participantId);
    // A leave or kick gets a fresh secret: whoever left must not decrypt what is said next. When the distributor
    // itself left, the member that takes over (isDistributor is computed afresh) issues it.
    if (this.isDistributor() && this.agent?.current) this.distributeFresh();
    this.render();
  }

  private onCommit(from: string, commit: string): void {
    const distributor = this.distributorMember();
    if (!this.agent || !distributor?.verified || distributor.snapshot.participantId !== from) return;
    try {
      const state = this.agent.accept(commit, distributor.verified.signPublicKey);
      if (state.newRoomSecret) this.pendingSecret = state.newRoomSecret;
      this.useEpoch(state);
    } catch {
      // Not for us (a ratchet we cannot follow, an old epoch) or not genuine: the relay may replay or forge.
    }
  }

  private useEpoch({ epoch, secret, myIndex, kind }: EpochState): void {
    this.e2ee?.setEpoch(epoch, secret, myIndex, kind === 'ratchet');
    if (this.view.e2ee.state !== 'error') this.update({ e2ee: { state: 'encrypted', epoch, reason: null } });
  }

  private refreshFingerprint(): void {
    // After the host leaves, the fingerprint stays the one that was read aloud: it names the room's host.
    const host = this.hostMember();
    if (!host?.verified) return;
    // The derivation is slow (Argon2id, in a Worker): the panel says "computing" meanwhile, and a result whose secret
    // or host was replaced before it arrived is dropped. The cache hands back the same promise for the same pair.
    const pending = cachedFingerprint(this.secret, host.verified.signPublicKey);
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
    return this.meter;
  }

  private async consume(producerId: string, participantId: string): Promise<void> {
    if (!this.media || participantId === this.me) return;
    try {
      const track = await this.media.consume(producerId, participantId);
      this.meterOrCreate().add(participantId, track);
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

  private async resetMedia(): Promise<void> {
    this.media?.resetTransports();
    for (const m of this.members.values()) this.meter?.remove(m.snapshot.participantId);
    for (const m of this.members.values()) for (const id of m.snapshot.producerIds) void this.consume(id, m.snapshot.participantId);
    if (this.micWanted && this.myRole() !== 'listener') await this.startMic();
  }

  private onStats(stats: StatsMessage): void {
    this.stats = stats;
    this.update({
      sent: stats.sent,
      speakers: Object.entries(stats.received).map(([participantId, c]) => ({ participantId, name: this.nameOf(participantId), ...c })),
    });
  }

  // ---- view ----

  private myRole() {
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
        role: m.snapshot.role,
        isMe: m.snapshot.participantId === this.me,
        speaking: m.speaking,
        muted: m.snapshot.muted,
        handRaisedSeq: m.snapshot.handRaisedSeq,
      }));
    const me = this.me ? this.members.get(this.me) : undefined;
    this.update({
      members,
      myRole: me?.snapshot.role ?? null,
      handRaised: me?.snapshot.handRaisedSeq != null,
      lobby: this.lobbyRaw.map((e) => ({ participantId: e.participantId, name: this.agent?.verify(e.participantId, e.announcement)?.name ?? null })),
    });
    this.refreshFingerprint();
  }

  private update(patch: Partial<RoomView>): void {
    this.view = { ...this.view, ...patch };
    for (const listener of this.listeners) listener(this.view);
  }

  private end(reason: Extract<Phase, { kind: 'ended' }>['reason']): void {
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
    this.media?.close();
    this.e2ee?.close();
    this.meter?.close();
    this.media = null;
    this.e2ee = null;
    this.meter = null;
    this.socket?.disconnect();
    this.socket = null;
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
      return void this.startMic();
    }
    const on = !this.view.micOn;
    this.media!.setMicPaused(!on);
    this.update({ micOn: on });
    this.act(on ? 'producer.resume' : 'producer.pause', { producerId });
  }

  markVerified(): void {
    this.update({ fingerprintVerified: true, fingerprintChanged: false });
  }

  raiseHand(): void {
    this.act('hand.raise', {});
  }

  lowerHand(): void {
    this.act('hand.lower', {});
  }

  invite(participantId: string): void {
    this.act('stage.invite', { participantId });
  }

  /** Accepting is the person's own action, so it is what opens the microphone once the relay lets it send. */
  respondInvite(accept: boolean): void {
    this.update({ invitedBy: null });
    void (async () => {
      try {
        await this.req('stage.respond', { accept });
        if (!accept) return;
        this.micWanted = true;
        await this.startMic();
      } catch (error) {
        this.fail(error);
      }
    })();
  }

  moveToAudience(participantId: string): void {
    this.act('stage.moveToAudience', { participantId });
  }

  leaveStage(): void {
    this.act('stage.leave', {});
  }

  mute(participantId: string): void {
    this.act('stage.mute', { participantId });
  }

  kick(participantId: string): void {
    this.act('member.kick', { participantId });
  }

  setModerator(participantId: string, moderator: boolean): void {
    this.act('role.setModerator', { participantId, moderator });
  }

  lock(locked: boolean): void {
    this.act('room.lock', { locked });
  }

  admit(participantId: string): void {
    this.act('lobby.admit', { participantId });
  }

  decline(participantId: string): void {
    this.act('lobby.decline', { participantId });
  }

  /** Host: a new room secret for a leaked link. Members get it sealed in a fresh commit; the old link stops working. */
  rotateLink(): void {
    if (!this.agent || !this.isDistributor()) return;
    void (async () => {
      try {
        const next = generateRoomSecret();
        const nextKeys = deriveRoomKeys(next);
        const issued = this.agent!.issueFresh(this.verifiedMembers(), next);
        this.useEpoch(issued);
        await this.req('key.commit', { commit: issued.blob, epoch: issued.epoch });
        const sealedTitle = sealMetadata(nextKeys.metaKey, nextKeys.roomId, 'room-title', this.view.title ?? '');
        await this.req('room.rotate', { newRoomId: nextKeys.roomId, sealedTitle });
        await this.switchSecret(next);
      } catch (error) {
        this.fail(error);
      }
    })();
  }

  private async switchSecret(next: Uint8Array): Promise<void> {
    this.pendingSecret = null;
    this.secret = next;
    this.keys = deriveRoomKeys(next);
    this.agent!.keys = this.keys;
    this.link = buildRoomLink(this.origin, next);
    history.replaceState(null, '', this.link);
    this.announcement = this.makeAnnouncement();
    this.update({ roomId: this.keys.roomId, link: this.link });
    this.refreshFingerprint();
    await this.req('member.reannounce', { announcement: this.announcement });
  }

  endRoom(): void {
    this.act('room.end', {});
  }
}
