// Stage decisions as one member checks them: the signature, the epoch window, and the actor's authority under the signed stage.
import { verifyDecision, type Decision, type RoomKeys } from '../../../crypto/index.ts';
import { SignalingError } from '../../../protocol/errors.ts';
import * as stage from '../../../protocol/stage.ts';
import { EPOCH_LIMITS, MembershipError, type DecisionEffect, type EpochState } from './membership-types.ts';

/** What a check reads of the member's state (Membership's). */
export interface DecisionContext {
  readonly keys: RoomKeys;
  readonly me: string;
  readonly current: EpochState | null;
  /** Decisions already used, by id: a replay is refused. */
  readonly applied: ReadonlySet<string>;
  /** Whether the member's announcement verified. */
  isKnown(memberKeyId: string): boolean;
  signKeyOf(memberKeyId: string): Uint8Array | null;
  /** The commit hash this member holds for an epoch of its lineage, within the decision window. */
  hashOf(epoch: number): Uint8Array | null;
}

/**
 * Verifies a decision and the actor's authority under the signed stage (the stage rules of protocol/stage.ts), and
 * what it asks for. Throws for forgeries, replays and decisions the actor had no right to make.
 */
export function checkDecision(ctx: DecisionContext, blob: string): { decision: Decision; effect: DecisionEffect } {
  const current = ctx.current;
  if (!current) throw new MembershipError('NO_EPOCH', 'no signed stage to check a decision against');
  const decision = verifyDecision({ roomId: ctx.keys.roomId, blob, signKeyOf: (id) => ctx.signKeyOf(id), commitHashOf: (epoch) => ctx.hashOf(epoch) });
  if (ctx.applied.has(decision.id)) throw new MembershipError('REPLAY', 'this decision was already applied');
  if (decision.epoch + EPOCH_LIMITS.decisionWindow < current.epoch || decision.epoch > current.epoch + EPOCH_LIMITS.maxStep) {
    throw new MembershipError('STALE_DECISION', `a decision of epoch ${decision.epoch} is out of date`);
  }
  return { decision, effect: effectOf(ctx, decision) };
}

function stageMember(ctx: DecisionContext, memberKeyId: string | null): stage.StageMember {
  // Off the stage, a member whose announcement verified is a listener; anyone else is no member at all.
  const onStage = memberKeyId ? ctx.current?.stage.find((m) => m.memberKeyId === memberKeyId)?.role : undefined;
  const role = onStage ?? (memberKeyId && (ctx.isKnown(memberKeyId) || memberKeyId === ctx.me) ? 'listener' : null);
  if (!memberKeyId || !role) throw new MembershipError('NOT_LISTED', 'the decision names someone who is not a verified member');
  return { participantId: memberKeyId, role, handRaisedSeq: null, muted: false, invitedBy: null };
}

function effectOf(ctx: DecisionContext, d: Decision): DecisionEffect {
  const actor = stageMember(ctx, d.actor);
  const rule = (apply: () => void) => {
    try {
      apply();
    } catch (error) {
      if (error instanceof SignalingError) throw new MembershipError('FORBIDDEN', `${d.action}: ${error.message}`);
      throw error;
    }
  };
  switch (d.action) {
    case 'invite': {
      const target = stageMember(ctx, d.target);
      rule(() => stage.invite(actor, target));
      return { kind: 'invite', target: target.participantId };
    }
    case 'accept': {
      const invitation = d.embedded;
      if (!invitation || invitation.action !== 'invite' || invitation.target !== d.actor || d.target !== d.actor) {
        throw new MembershipError('FORBIDDEN', 'accept: not an answer to an invitation of this member');
      }
      if (ctx.applied.has(invitation.id)) throw new MembershipError('REPLAY', 'this invitation was already answered');
      // The invitation's own epoch is held to the window too, or an acceptance would revive one of any age.
      if (invitation.epoch + EPOCH_LIMITS.decisionWindow < ctx.current!.epoch || invitation.epoch > d.epoch) {
        throw new MembershipError('STALE_DECISION', `an invitation of epoch ${invitation.epoch} is out of date`);
      }
      const inviter = stageMember(ctx, invitation.actor);
      rule(() => stage.invite(inviter, actor));
      rule(() => stage.respondToInvite(actor, true, 0, Infinity));
      return { kind: 'role', target: d.actor, role: 'speaker' };
    }
    case 'leave-stage':
      if (d.target !== d.actor) throw new MembershipError('FORBIDDEN', 'leave-stage: only for oneself');
      rule(() => stage.leaveStage(actor));
      return { kind: 'role', target: d.actor, role: 'listener' };
    case 'move-to-audience': {
      const target = stageMember(ctx, d.target);
      rule(() => stage.moveToAudience(actor, target));
      return { kind: 'role', target: target.participantId, role: 'listener' };
    }
    case 'mute': {
      const target = stageMember(ctx, d.target);
      rule(() => stage.mute(actor, target));
      return { kind: 'mute', target: target.participantId };
    }
    case 'set-moderator':
    case 'unset-moderator': {
      const target = stageMember(ctx, d.target);
      rule(() => stage.setModerator(actor, target, d.action === 'set-moderator', 0, Infinity));
      return { kind: 'role', target: target.participantId, role: target.role };
    }
    case 'kick': {
      const target = stageMember(ctx, d.target);
      rule(() => stage.checkKick(actor, target));
      return { kind: 'kick', target: target.participantId };
    }
    case 'admit':
      if (!d.target) throw new MembershipError('FORBIDDEN', 'admit: names nobody');
      rule(() => stage.checkKick(actor, { participantId: d.target!, role: 'listener', handRaisedSeq: null, muted: false, invitedBy: null }));
      return { kind: 'admit', target: d.target };
    case 'lock':
    case 'unlock':
      if (!stage.isModerating(actor.role)) throw new MembershipError('FORBIDDEN', `${d.action}: only the host and moderators`);
      return { kind: 'lock', locked: d.action === 'lock' };
  }
}
