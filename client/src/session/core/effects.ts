// What the room core asks the shell to do, in the order it must happen: the array's order is the only ordering rule.
import type { RequestOf, RequestType } from '../../../../protocol/messages.ts';
import type { AddressedPackage } from '../key-delivery.ts';
import type { EpochState } from '../membership.ts';
import type { RestoredRole } from '../rebuild.ts';

/** A request to the relay; `fail`: a refusal is shown (or ends the session), `ignore`: nothing depends on the answer. */
export type RequestEffect = { [T in RequestType]: { kind: 'request'; type: T; payload: RequestOf<T>; errors: 'fail' | 'ignore' } }[RequestType];

export type Effect =
  | RequestEffect
  /** Install an epoch: the Worker's keys (senders by participant id), stored watermark, freshness, room life, view. */
  | { kind: 'epoch'; state: EpochState; senders: Record<string, number> }
  /** The header, with the first packages, then the rest of the packages, each after the relay took the one before. */
  | { kind: 'commit'; epoch: number; blob: string; fresh: boolean; packages: AddressedPackage[][] }
  /** Call `timer` (the batch window) after this long, unless a call is already set. */
  | { kind: 'batch-timer'; ms: number }
  | { kind: 'notice'; text: string }
  /** Pause this member's microphone (a signed mute): closing it is always safe. */
  | { kind: 'mic-pause' }
  /** Host: a kick rotates the link (an async flow of the shell: fresh commit with a new secret, move, re-announce). */
  | { kind: 'rotate' }
  /** Host: tell the room again whether it records (a member came back and waits for the notice to play audio). */
  | { kind: 'announce-recording' }
  /** A rotated room secret sealed to this member, used when the relay confirms the move to its room id. */
  | { kind: 'room-secret'; secret: Uint8Array }
  /** Re-creator: give a former member its seat back (a flow of requests, each decision signed when it is sent). */
  | { kind: 'restore-seat'; participantId: string; memberKeyId: string; seat: RestoredRole }
  /** This member is on the signed stage: announce again, with its KEM key, so every member offers to it. */
  | { kind: 'reannounce-kem' }
  /** Show an invitation to speak from this inviter (its verified name, or null). */
  | { kind: 'invited'; by: string | null }
  /** The members or what is known of them changed: project the view again. */
  | { kind: 'render' };
