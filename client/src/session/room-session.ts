// One room in the browser: the session's public API, composed of the shell's parts (shell/) around the pure core.
import { generateRoomSecret, parseRoomLink, toHex } from '../../../crypto/index.ts';
import { capturePlaintext } from '../media/e2ee.ts';
import { markJoin } from '../media/join-timeline.ts';
import type { RoomActions } from './actions.ts';
import { Connection } from './shell/connection.ts';
import { act, fail } from './shell/ending.ts';
import { create, join, peek } from './shell/entering.ts';
import { wireEvents } from './shell/events.ts';
import { sendLife, setProcessing, setPushToTalk, setTalking, startRecording, stopRecording } from './shell/life.ts';
import { setVolume } from './shell/media.ts';
import { audiencePage } from './shell/members.ts';
import { SessionState } from './shell/state.ts';
import { actOn, admit, leave, leaveStage, lock, respondInvite, rotateLink, setModerator, toggleMic } from './shell/user-actions.ts';
import type { AudiencePage, RoomView } from './view.ts';

export class RoomSession implements RoomActions {
  /** Everything the parts share; the view is published from it and never read back to decide. */
  private readonly s: SessionState;

  private constructor(origin: string, secret: Uint8Array) {
    markJoin('room-code');
    const s = new SessionState(origin, secret);
    s.connection = new Connection(origin, (socket) => wireEvents(s, socket));
    this.s = s;
  }

  /** Throws RoomLinkError with a readable reason when the link is mangled. */
  static fromLink(href: string): RoomSession {
    const { secret, origin } = parseRoomLink(href);
    return new RoomSession(origin, secret);
  }

  static createNew(origin: string): RoomSession {
    return new RoomSession(origin, generateRoomSecret());
  }

  /** The room's link: a rotation replaces it. */
  get link(): string {
    return this.s.link;
  }

  subscribe(listener: (view: RoomView) => void): () => void {
    return this.s.subscribe(listener);
  }

  /**
   * Diagnostics for browser tests and benchmarks (epoch keys, plaintext, fault injection): test builds only, so a
   * production bundle carries none of it (docs/operations.md). Nothing here leaves the page.
   */
  diagnostics() {
    if (!__TEAHOUSE_TEST_BUILD__) return undefined;
    const s = this.s;
    return {
      view: () => s.published(),
      spectrumPeak: (participantId: string) => s.meter?.spectrumPeak(participantId) ?? null,
      capturePlaintext: (frames: number) => (s.e2eeChannel ? capturePlaintext(s.e2eeChannel, frames).then((f) => f.map((b) => toHex(b))) : Promise.resolve([])),
      currentEpochKey: () => (s.agent?.current ? { epoch: s.agent.current.epoch, secret: toHex(s.agent.current.secret), hash: toHex(s.agent.current.hash) } : null),
      firstDecryptedAt: () => s.stats?.firstDecryptedAt ?? null,
      frameCost: () => (s.stats ? { ...s.stats.cost, crossOriginIsolated } : null),
      dropConnection: (holdMs = 0) => s.connection.drop(holdMs),
      rejected: () => ({ ...s.rejected }),
      sealedPackages: () => (s.agent ? { ...s.agent.sealed } : null),
      recordedFile: async () => (s.recording ? { type: s.recording.type, bytes: toHex(new Uint8Array(await s.recording.arrayBuffer())) } : null),
    };
  }

  // ---- entering (shell/entering.ts) ----

  peek(): Promise<void> {
    return peek(this.s);
  }

  create(title: string, name: string): Promise<void> {
    return create(this.s, title, name);
  }

  join(name: string): void {
    join(this.s, name);
  }

  // ---- the person's actions (shell/user-actions.ts) ----

  leave(): void {
    leave(this.s);
  }

  toggleMic(): void {
    toggleMic(this.s);
  }

  markVerified(): void {
    this.s.update({ fingerprintVerified: true, fingerprintChanged: false });
  }

  dismissCompareLineage(): void {
    this.s.update({ compareLineage: false });
  }

  raiseHand(): void {
    act(this.s, 'hand.raise', {});
  }

  lowerHand(): void {
    act(this.s, 'hand.lower', {});
  }

  invite(participantId: string): void {
    actOn(this.s, 'stage.invite', 'invite', participantId);
  }

  respondInvite(accept: boolean): void {
    respondInvite(this.s, accept);
  }

  moveToAudience(participantId: string): void {
    actOn(this.s, 'stage.moveToAudience', 'move-to-audience', participantId);
  }

  leaveStage(): void {
    leaveStage(this.s);
  }

  mute(participantId: string): void {
    actOn(this.s, 'stage.mute', 'mute', participantId);
  }

  kick(participantId: string): void {
    actOn(this.s, 'member.kick', 'kick', participantId);
  }

  setModerator(participantId: string, moderator: boolean): void {
    setModerator(this.s, participantId, moderator);
  }

  lock(locked: boolean): void {
    lock(this.s, locked);
  }

  admit(participantId: string): void {
    admit(this.s, participantId);
  }

  decline(participantId: string): void {
    act(this.s, 'lobby.decline', { participantId });
  }

  rotateLink(): void {
    rotateLink(this.s);
  }

  endRoom(): void {
    act(this.s, 'room.end', {});
  }

  /**
   * The person's retry when media does not flow: an ICE restart on both transports. Not new transports: the relay
   * allows a member only four, and has no message to close one.
   */
  retryMedia(): void {
    this.s.media?.restartIce().catch((error: unknown) => fail(this.s, error));
  }

  audiencePage(after: number | null, limit: number): Promise<AudiencePage> {
    return audiencePage(this.s, after, limit);
  }

  // ---- room life (shell/life.ts) ----

  react(emoji: string): void {
    sendLife(this.s, (life) => life.reaction(emoji));
  }

  sendChat(text: string, question: boolean): boolean {
    return sendLife(this.s, (life) => life.chat(text, question));
  }

  pin(pin: { kind: 'question' | 'link'; text: string } | null): void {
    sendLife(this.s, (life) => life.pin(pin));
  }

  setVolume(participantId: string, volume: number): void {
    setVolume(this.s, participantId, volume);
  }

  setPushToTalk(on: boolean): void {
    setPushToTalk(this.s, on);
  }

  setTalking(on: boolean): void {
    setTalking(this.s, on);
  }

  setProcessing(on: boolean): void {
    setProcessing(this.s, on);
  }

  startRecording(): void {
    startRecording(this.s);
  }

  stopRecording(): void {
    stopRecording(this.s);
  }
}
