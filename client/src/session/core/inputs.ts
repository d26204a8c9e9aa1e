// What the room core takes: validated relay events and the batch window as inputs, and the state the shell hands it.
import type { RosterEntry } from '../../../../crypto/index.ts';
import type { ParticipantSnapshot } from '../../../../protocol/messages.ts';
import type { RestoredRole } from '../rebuild.ts';

/** A validated relay event, or the batch window closing, as the core takes it; `now`: the page's wall clock. */
export type Input =
  | { kind: 'peer.joined'; participant: ParticipantSnapshot; now: number }
  | { kind: 'peer.left'; participantId: string; now: number }
  | { kind: 'key.commit'; commit: string; epoch: number; package: string | null }
  | { kind: 'key.package'; package: string; epoch: number }
  | { kind: 'stage.decision'; decision: string; now: number }
  | { kind: 'stage.invited'; decision: string; now: number }
  | { kind: 'key.resend'; from: string; now: number }
  /** A member's KEM offer to this (stage) member, from the relay's participant id. */
  | { kind: 'key.kem'; from: string; offer: string; now: number }
  | { kind: 'epoch.challenge'; from: string; nonce: string }
  | { kind: 'batch-timer'; now: number };

/** Refusals counted for diagnostics: a relay's lie is dropped, never acted on. */
export interface Rejected {
  commits: number;
  decisions: number;
  confirmations: number;
  messages: number;
  relayEvents: number;
  /** KEM offers that named no verified member, or did not verify or decapsulate. */
  offers: number;
}

/**
 * After this member re-created the room: identities that were members before, let straight in from the lobby, and
 * the seats of the stage it held, given back by its signed decisions as their holders come back (rebuild.ts).
 */
export interface FormerMembers {
  keyIds: Set<string>;
  admitted: Set<string>;
  until: number;
  seats: Map<string, RestoredRole>;
  restored: Set<string>;
}

/** Back as a new member (a relay restart, or away past the grace): the signed stage it held before, and its own hand. */
export interface Held {
  stage: RosterEntry[];
  handRaised: boolean;
  until: number;
  backAt: number | null;
}
