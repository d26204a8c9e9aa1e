// The state the UI renders: a plain snapshot the room session publishes after every change.
import type { MediaStatus } from '../media/media-health.ts';

export type { MediaStatus };

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

/** One page of the audience, in join order; `next` is the cursor of the following page, null at the end. */
export interface AudiencePage {
  members: MemberView[];
  next: number | null;
}

export interface SpeakerStats {
  participantId: string;
  name: string | null;
  decrypted: number;
  dropped: number;
  lastError: string | null;
  /** Batches of this speaker's frames whose signature failed (source authentication). */
  forged?: number;
  /** Its frames do not play for want of proof. */
  sourceMuted?: boolean;
  /** When a batch of its frames last failed its signature (performance.timeOrigin + now). */
  forgedAt?: number | null;
}

export interface FingerprintView {
  emoji: string[];
  /** By language code, as crypto/fingerprint.ts names them (the UI's languages). */
  names: { en: string[]; 'zh-CN': string[]; 'zh-TW': string[] };
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
  | {
      kind: 'join';
      title: string | null;
      /** This tab's member is live in another tab (a duplicated tab): it joins as someone new. */
      otherTab: boolean;
    }
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
  /**
   * The member who distributes keys changed since the last epoch this page held (a hand-over: the relay said the
   * previous one left): its name, so people can compare who took over. Null before any change.
   */
  distributorChanged: { name: string | null; me: boolean } | null;
  /** Names the distributor whose commits this member follows: it changes only at a hand-over (protocol §5). */
  lineageCode: string | null;
  /** The distributor changed: people are asked to compare the lineage code aloud, until they say they did. */
  compareLineage: boolean;
  /** The signed stage names no host and no fingerprint was ever shown: there is nothing to compare, which is said. */
  fingerprintNoHost: boolean;
  me: string | null;
  myRole: Role | null;
  micOn: boolean;
  micError: boolean;
  handRaised: boolean;
  invitedBy: string | null;
  /** The stage and this member; on stage at the relay, every member (docs/protocol.md §9, who is told what). */
  members: MemberView[];
  /** Listeners in the room, as the relay counts them. */
  audienceCount: number;
  /** The relay tells this member of every listener (it is on stage there): `members` holds the whole audience. */
  audienceKnown: boolean;
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
  /** Whether audio really flows, apart from the keys in e2ee: a member can hold every key and hear nothing. */
  media: MediaStatus;
  /** Relay events that failed their schema and were dropped unread (protocol/client.ts onEvent). */
  droppedEvents: number;
  life: RoomLifeView;
  /** An object URL of the host's last recording: a file in this page only, never uploaded. */
  recordingFile: string | null;
}
