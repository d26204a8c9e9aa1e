// What the room screen can ask of the session: the session's public API, implemented by RoomSession.
import type { AudiencePage } from './view.ts';

export interface RoomActions {
  join(name: string): void;
  leave(): void;
  toggleMic(): void;
  markVerified(): void;
  dismissCompareLineage(): void;
  raiseHand(): void;
  lowerHand(): void;
  invite(participantId: string): void;
  respondInvite(accept: boolean): void;
  moveToAudience(participantId: string): void;
  leaveStage(): void;
  mute(participantId: string): void;
  kick(participantId: string): void;
  setModerator(participantId: string, moderator: boolean): void;
  lock(locked: boolean): void;
  admit(participantId: string): void;
  decline(participantId: string): void;
  rotateLink(): void;
  endRoom(): void;
  retryMedia(): void;
  /** Listeners after the cursor, as the relay lists them: rejects when the relay does not answer. */
  audiencePage(after: number | null, limit: number): Promise<AudiencePage>;
  react(emoji: string): void;
  sendChat(text: string, question: boolean): boolean;
  pin(pin: { kind: 'question' | 'link'; text: string } | null): void;
  setVolume(participantId: string, volume: number): void;
  setPushToTalk(on: boolean): void;
  setTalking(on: boolean): void;
  setProcessing(on: boolean): void;
  startRecording(): void;
  stopRecording(): void;
}
