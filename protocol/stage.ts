// The stage rules, pure: who may change whose role, raise hands, invite, mute, kick; every refusal has a code.
import { SignalingError } from './errors.ts';
import type { Role } from './messages.ts';

export interface StageMember {
  participantId: string;
  role: Role;
  handRaisedSeq: number | null;
  muted: boolean;
  invitedBy: string | null;
}

export const isModerating = (role: Role) => role === 'host' || role === 'moderator';
export const isOnStage = (role: Role) => role !== 'listener';
export const canProduce = isOnStage;

function forbid(message: string): never {
  throw new SignalingError('FORBIDDEN', message);
}

function requireModerator(actor: StageMember): void {
  if (!isModerating(actor.role)) forbid('only the host and moderators can do that');
}

/** Host and moderators act on others below them: a moderator cannot act on the host or on another moderator. */
function requireAuthorityOver(actor: StageMember, target: StageMember): void {
  requireModerator(actor);
  if (target.participantId === actor.participantId) throw new SignalingError('INVALID_STATE', 'not on yourself');
  if (target.role === 'host') forbid('nobody can act on the host');
  if (target.role === 'moderator' && actor.role !== 'host') forbid('only the host can act on a moderator');
}

export function raiseHand(member: StageMember, seq: number): void {
  if (member.role !== 'listener') throw new SignalingError('INVALID_STATE', 'only listeners raise a hand');
  member.handRaisedSeq ??= seq;
}

export function lowerHand(member: StageMember): void {
  member.handRaisedSeq = null;
}

export function invite(actor: StageMember, target: StageMember): void {
  requireAuthorityOver(actor, target);
  if (target.role !== 'listener') throw new SignalingError('INVALID_STATE', 'only listeners can be invited to speak');
  target.invitedBy = actor.participantId;
}

/** The listener's consent: nobody is put on stage without it. */
export function respondToInvite(member: StageMember, accept: boolean, speakersOnStage: number, maxSpeakers: number): void {
  if (member.invitedBy === null || member.role !== 'listener') throw new SignalingError('INVALID_STATE', 'there is no invitation to answer');
  member.invitedBy = null;
  if (!accept) return;
  if (speakersOnStage >= maxSpeakers) throw new SignalingError('STAGE_FULL', `the stage is full (${maxSpeakers} speakers)`);
  member.role = 'speaker';
  member.handRaisedSeq = null;
  member.muted = false;
}

export function leaveStage(member: StageMember): void {
  if (member.role === 'host') forbid('the host stays on stage');
  if (member.role === 'listener') throw new SignalingError('INVALID_STATE', 'not on stage');
  member.role = 'listener';
  member.muted = false;
}

export function moveToAudience(actor: StageMember, target: StageMember): void {
  requireAuthorityOver(actor, target);
  if (target.role === 'listener') throw new SignalingError('INVALID_STATE', 'already in the audience');
  target.role = 'listener';
  target.muted = false;
}

export function mute(actor: StageMember, target: StageMember): void {
  requireAuthorityOver(actor, target);
  if (!isOnStage(target.role)) throw new SignalingError('INVALID_STATE', 'only people on stage can be muted');
  target.muted = true;
}

export function setModerator(actor: StageMember, target: StageMember, moderator: boolean, speakersOnStage: number, maxSpeakers: number): void {
  if (actor.role !== 'host') forbid('only the host names or removes moderators');
  requireAuthorityOver(actor, target);
  if (moderator) {
    if (target.role === 'moderator') return;
    if (target.role === 'listener' && speakersOnStage >= maxSpeakers) throw new SignalingError('STAGE_FULL', `the stage is full (${maxSpeakers} speakers)`);
    target.role = 'moderator';
    target.handRaisedSeq = null;
    target.invitedBy = null;
  } else {
    if (target.role !== 'moderator') throw new SignalingError('INVALID_STATE', 'not a moderator');
    target.role = 'speaker';
  }
}

export function checkKick(actor: StageMember, target: StageMember): void {
  requireAuthorityOver(actor, target);
}

export function checkHostOnly(actor: StageMember, what: string): void {
  if (actor.role !== 'host') forbid(`only the host can ${what}`);
}
