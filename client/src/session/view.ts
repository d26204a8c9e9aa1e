// The state the UI renders: a plain snapshot the room session publishes after every change.
import type { Lang } from '../i18n/i18n.ts';

export type Role = 'host' | 'moderator' | 'speaker' | 'listener';
export type E2eeState = 'encrypted' | 'waiting-for-key' | 'error';

export interface MemberView {
  participantId: string;
  /** Decrypted display name; null until the member's announcement verified. */
  name: string | null;
  role: Role;
  isMe: boolean;
  speaking: boolean;
  muted: boolean;
  handRaisedSeq: number | null;
}

export interface SpeakerStats {
  participantId: string;
  name: string | null;
  decrypted: number;
  dropped: number;
  lastError: string | null;
}

export interface FingerprintView {
  emoji: string[];
  names: Record<Lang, string[]>;
  digits: string;
  text: string;
}

export interface LobbyEntryView {
  participantId: string;
  name: string | null;
}

export interface ChatMessageView {
  id: string;
  participantId: string | null;
  name: string | null;
  text: string;
  question: boolean;
  mine: boolean;
}

/** Reactions, chat, the pin and the recording notice: everything here was decrypted and its sender's signature checked. */
export interface RoomLifeView {
  messages: ChatMessageView[];
  pinned: { kind: 'question' | 'link'; text: string; by: string | null } | null;
  /** Reactions floating now, by the participant who sent them. */
  reactions: { id: string; participantId: string; emoji: string }[];
  /** The host records the room on its own device (announced with its signature); null when nobody does. */
  recording: { by: string | null } | null;
  /** Whether this member records (host only). */
  recordingHere: boolean;
  /** Why the last message this member tried to send was not sent: a code the page words (RoomLifeErrorCode or a relay code). */
  error: string | null;
  /** Push-to-talk is on: the microphone sends sound only while the key or button is held. */
  pushToTalk: boolean;
  talking: boolean;
  /** The browser's noise suppression and echo cancellation (off for music). */
  processing: boolean;
  /** This member's own volume per speaker (participantId to 0..1). */
  volumes: Record<string, number>;
}

export type Phase =
  | { kind: 'join'; title: string | null }
  | { kind: 'busy'; message: 'creating' | 'joining' | 'checkingRoom' }
  | { kind: 'lobby' }
  | { kind: 'room' }
  | { kind: 'ended'; reason: 'roomEnded' | 'kicked' | 'leftRoom' | 'lobbyDeclined' | 'roomNotFound' | 'linkRevoked' | 'roomLost' }
  | { kind: 'error'; message: string };

export interface RoomView {
  phase: Phase;
  roomId: string;
  link: string;
  title: string | null;
  fingerprint: FingerprintView | null;
  fingerprintVerified: boolean;
  fingerprintChanged: boolean;
  e2ee: { state: E2eeState; epoch: number | null; reason: string | null };
  /** Derived from the current epoch's keys: members who share them read the same code, a split room does not. */
  epochCode: string | null;
  me: string | null;
  myRole: Role | null;
  micOn: boolean;
  micError: boolean;
  handRaised: boolean;
  invitedBy: string | null;
  members: MemberView[];
  lobby: LobbyEntryView[];
  locked: boolean;
  reconnecting: boolean;
  /** No candidate pair of a media transport works (UDP, ICE over TCP and TURN all refused): no audio passes. */
  networkBlocked: boolean;
  /** The last failed action while in the room, in plain words; the room carries on. */
  notice: string | null;
  /** droppedStale: frames the sender dropped because it could not confirm its epoch was current. */
  sent: { encrypted: number; droppedNoKey: number; droppedStale: number };
  speakers: SpeakerStats[];
  /** Relay events that failed their schema and were dropped unread (protocol/client.ts onEvent). */
  droppedEvents: number;
  life: RoomLifeView;
  /** An object URL of the host's last recording: a file in this page only, never uploaded. */
  recordingFile: string | null;
}
