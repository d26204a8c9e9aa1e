// What the shell's parts share: one room's mutable state, owned here and read to decide; the view is only written.
import { buildRoomLink, deriveRoomKeys, type Identity, type KemKeyPair, type RoomFingerprint, type RoomKeys } from '../../../../crypto/index.ts';
import type { AudioMeter } from '../../media/audio-meter.ts';
import type { E2eeChannel } from '../../media/e2ee.ts';
import type { StatsMessage } from '../../media/e2ee-messages.ts';
import { MediaHealth, type MediaStatus } from '../../media/media-health.ts';
import type { MediaSession } from '../../media/media-session.ts';
import type { ReplyOf, RequestOf, RequestType } from '../../../../protocol/messages.ts';
import type { Rejected } from '../core/inputs.ts';
import type { RoomCore } from '../core/room-core.ts';
import { type Member, Roster } from '../core/roster.ts';
import { EpochFreshness } from '../freshness.ts';
import type { MemberLock } from '../member-lock.ts';
import type { Membership, VerifiedMember } from '../membership.ts';
import { MemberPages } from '../member-pages.ts';
import { Outbox } from '../outbox.ts';
import type { RoomLife } from '../room-life.ts';
import { SenderFloor } from '../sender-floor.ts';
import { Slices } from '../slices.ts';
import type { Phase, Role, RoomView } from '../view.ts';
import type { Connection } from './connection.ts';
import { initialView } from './initial-view.ts';

type Listener = (view: RoomView) => void;

/** The session once this member has an identity (entering.ts prepare): the type, not a check, says its core is there. */
export type MemberSession = SessionState & { readonly core: RoomCore };

/** Whether this page is a member yet: only a member holds keys, signs decisions and runs the core's effects. */
export function isMember(s: SessionState): s is MemberSession {
  return s.core !== null;
}

/** The session becomes a member, with the core of its identity. */
export function becomeMember(s: SessionState, core: RoomCore): MemberSession {
  return Object.assign(s, { core });
}

export class SessionState {
  readonly origin: string;
  secret: Uint8Array;
  keys: RoomKeys;
  link: string;
  connection!: Connection;
  /** The keys, commits and stage decisions (core/room-core.ts): there once this member has an identity (MemberSession). */
  core: RoomCore | null = null;
  readonly roster = new Roster();
  /** Messages from the relay refused because a signature, an authority or the key schedule did not hold. */
  readonly rejected: Rejected = { commits: 0, decisions: 0, confirmations: 0, messages: 0, relayEvents: 0, offers: 0 };
  /** Relay events that failed their schema and were dropped unread. */
  droppedEvents = 0;

  // What the person sees and acts on, kept here so that no decision reads the view back.
  phase: Phase = { kind: 'busy', message: 'checkingRoom' };
  title: string | null = null;
  locked = false;
  micOn = false;
  /** The keys' state as shown: `error` (no encoded transforms) is final; the epoch is the one installed. */
  e2ee: RoomView['e2ee'] = { state: 'waiting-for-key', epoch: null, reason: null };
  lineageCode: string | null = null;
  fingerprintNoHost = false;
  mediaStatus: MediaStatus = { state: 'idle', reason: null, silent: [] };
  /** This page's own controls of what it hears and sends: push-to-talk, processing, volumes. */
  controls: Pick<RoomView['life'], 'pushToTalk' | 'talking' | 'processing' | 'volumes'> = { pushToTalk: false, talking: true, processing: true, volumes: {} };
  /** Room life as last projected (life.ts renderLife), and why the last message this member tried was not sent. */
  lifeShown: Pick<RoomView['life'], 'messages' | 'pinned' | 'reactions' | 'recording'> = { messages: [], pinned: null, reactions: [], recording: null };
  lifeError: string | null = null;

  readonly freshness = new EpochFreshness();
  /** Room messages (each as the call that sends it) waiting for the distributor to confirm this member's epoch. */
  readonly outbox = new Outbox<() => void>();
  /** A room message was dropped for want of a confirmation of this epoch: said in the status until one comes. */
  confirmFailed = false;
  freshnessTimer: ReturnType<typeof setInterval> | null = null;
  sendAllowed = true;
  /** The epochs this page may send under: never one another page of this member may have sent under. */
  floor = new SenderFloor();
  /** Held while this page is this member in the room: a duplicated tab finds it taken and joins as a new member. */
  memberLock: MemberLock | null = null;
  /**
   * A newcomer's identity and KEM key pair, made (and its member lock taken) while the join screen waits, so the click
   * only signs; taken by the first join, null when it could not be made (the join then makes its own).
   */
  newcomer: Promise<{ identity: Identity; kem: KemKeyPair; lock: MemberLock | null } | null> | null = null;
  /**
   * The room's whole list (`room.members`, on moving onto the stage) is verified a slice per task: about 0.3 ms per
   * announcement would hold the page for seconds in a room of 10,000. 100 a task keeps each task near 30 ms.
   */
  readonly verifying = new Slices(100);
  /** Pages of `room.members` until the last is in. */
  readonly memberPages = new MemberPages();
  /** Who left while a list was being verified: the list is older than their leave. */
  readonly leftWhileVerifying = new Set<string>();
  /** Listeners known only from the announcements their room messages carried, by memberKeyId. */
  readonly messageSenders = new Map<string, VerifiedMember>();
  batchTimer: ReturnType<typeof setTimeout> | null = null;
  myName = '';
  resumeToken: string | null = null;
  announcement: string | null = null;
  lobbyRaw: { participantId: string; announcement: string }[] = [];

  e2eeChannel: E2eeChannel | null = null;
  media: MediaSession | null = null;
  meter: AudioMeter | null = null;
  stats: StatsMessage | null = null;
  /** Whether audio really flows (frames decrypt, transports hold), shown apart from the keys. */
  readonly health = new MediaHealth();
  /** Media resets so far (the relay's or our own): a resume tells from it whether one came while it restarted ICE. */
  mediaResets = 0;
  /**
   * The person asked for the microphone (created the room, accepted an invitation, switched it on) and has not been
   * taken off stage since. Nothing the relay says sets this: a role it claims never opens a microphone.
   */
  micWanted = false;

  /** A rotated room secret received in a commit, applied when the relay confirms the move to its room id. */
  pendingSecret: Uint8Array | null = null;
  /** A resume or a rebuild is under way: a reconnect meanwhile must not start a second one. */
  rejoining = false;

  /** The fingerprint derivation for the current secret and host, shown or still computing. */
  fingerprintPending: Promise<RoomFingerprint> | null = null;
  /**
   * The first derivation waits until the room is heard or FINGERPRINT_AFTER_JOIN_MS have passed: Argon2id holds a
   * core and 64 MiB for about a second, which on a small device would compete with the join itself.
   */
  fingerprintDeferred = false;
  /** Text of the fingerprint last shown, against which a new one is "changed". */
  fingerprintShown: string | null = null;
  /** Who distributed the last epoch this page used, against which a hand-over is shown. */
  lastDistributor: string | null = null;

  /** Reactions, chat, pins and recording notices, sealed under the epoch's keys (room-life.ts has the rules). */
  life: RoomLife | null = null;
  lifeTimer: ReturnType<typeof setTimeout> | null = null;
  announceTimer: ReturnType<typeof setTimeout> | null = null;
  offersTimer: ReturnType<typeof setTimeout> | null = null;
  recorder: { stop(): Promise<Blob> } | null = null;
  /** The last finished recording, held only in this page. */
  recording: Blob | null = null;

  private view: RoomView;
  private readonly listeners = new Set<Listener>();

  constructor(origin: string, secret: Uint8Array) {
    this.origin = origin;
    this.secret = secret;
    this.keys = deriveRoomKeys(secret);
    this.link = buildRoomLink(origin, secret);
    this.view = initialView(this.keys.roomId, this.link);
  }

  /** Publishes a change of what the UI shows. Nothing in the session reads the view back. */
  update(patch: Partial<RoomView>): void {
    this.view = { ...this.view, ...patch };
    for (const listener of this.listeners) listener(this.view);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    listener(this.view);
    return () => this.listeners.delete(listener);
  }

  /** The view as last published: for subscribers and test diagnostics only. */
  published(): RoomView {
    return this.view;
  }

  setPhase(phase: Phase): void {
    this.phase = phase;
    this.update({ phase });
  }

  setMicOn(on: boolean, patch: Partial<RoomView> = {}): void {
    this.micOn = on;
    this.update({ micOn: on, ...patch });
  }

  setE2ee(e2ee: RoomView['e2ee'], patch: Partial<RoomView> = {}): void {
    this.e2ee = e2ee;
    this.update({ e2ee, ...patch });
  }

  inRoomOrLobby(): boolean {
    return this.phase.kind === 'room' || this.phase.kind === 'lobby';
  }

  get agent(): Membership | null {
    return this.core?.agent ?? null;
  }

  get members(): Map<string, Member> {
    return this.roster.members;
  }

  get me(): string | null {
    return this.roster.me;
  }

  set me(participantId: string | null) {
    this.roster.me = participantId;
  }

  byKey(memberKeyId: string): Member | undefined {
    return this.roster.byKey(memberKeyId);
  }

  keyOf(participantId: string): string | null {
    return this.core?.keyOf(participantId) ?? null;
  }

  roleOf(participantId: string): Role {
    return this.core?.roleOf(participantId) ?? 'listener';
  }

  isDistributor(): boolean {
    return this.core?.isDistributor() ?? false;
  }

  trustedSignKey(memberKeyId: string): Uint8Array | null {
    return this.roster.trustedSignKey(memberKeyId);
  }

  /** What the relay lets this member do (it must allow a producer); never a reason to open the microphone. */
  relayRole(): Role | null {
    return this.me ? (this.members.get(this.me)?.snapshot.role ?? null) : null;
  }

  req<T extends RequestType>(type: T, payload: RequestOf<T>): Promise<ReplyOf<T>> {
    return this.connection.req(type, payload);
  }
}
