// The room's keys, commits and stage decisions in one member's hands: one input at a time in, the effects to run out.
// No I/O here (no socket, DOM, media or timers): the shell runs the effects, in order (session/shell/effects.ts).
// Keys and commits are its part key-core.ts; here are the inputs, stage decisions and what follows a rebuild.
import type { Decision, DecisionAction, RosterRole } from '../../../../crypto/index.ts';
import type { ParticipantSnapshot } from '../../../../protocol/messages.ts';
import type { DecisionEffect, Membership, VerifiedMember } from '../membership.ts';
import { acceptsRestoredInvite, raisesHandAgain } from '../rebuild.ts';
import type { Effect } from './effects.ts';
import type { FormerMembers, Held, Input } from './inputs.ts';
import { KeyCore } from './key-core.ts';
import type { Member } from './roster.ts';

export class RoomCore extends KeyCore {
  /** The host rotates the link when it kicks someone, unless told otherwise (a kicked member keeps the old link). */
  rotateOnKick = true;
  formerMembers: FormerMembers | null = null;
  held: Held | null = null;
  /** A verified invitation to speak, kept until the person answers it: the acceptance carries it. */
  pendingInvite: string | null = null;
  /** An epoch was installed while a re-creator gives seats back: they go after everything the step sends. */
  private seatsDue = false;

  // ---- inputs ----

  step(input: Input): Effect[] {
    const out: Effect[] = [];
    if ('now' in input) this.now = input.now;
    switch (input.kind) {
      case 'peer.joined':
        this.peerJoined(input.participant, out);
        break;
      case 'peer.left':
        this.peerLeft(input.participantId, out);
        break;
      case 'key.commit':
        this.delivered(this.pending.onCommit(input.commit, input.epoch, input.package, this.present()), out);
        break;
      case 'key.package':
        this.delivered(this.pending.onPackage(input.package, input.epoch, this.present()), out);
        break;
      case 'stage.decision':
        this.decision(input.decision, out);
        break;
      case 'stage.invited':
        this.invited(input.decision, out);
        break;
      case 'key.resend':
        this.resendRequest(input.from, out);
        break;
      case 'key.kem':
        this.offerTaken(input.from, input.offer, out);
        break;
      case 'epoch.challenge': {
        const confirmation = this.isDistributor() ? this.agent.confirm(input.nonce) : null;
        if (confirmation) out.push({ kind: 'request', type: 'epoch.confirm', payload: { to: input.from, confirmation }, errors: 'ignore' });
        break;
      }
      case 'batch-timer':
        this.batchTimerFired(out);
        break;
    }
    return this.settle(out);
  }

  /** Commits that waited for a member's announcement may open now that it is verified (a join reply, a re-announcement). */
  retryPending(): Effect[] {
    return this.settle(this.delivered(this.pending.retry(this.present()), []));
  }

  /** Signs this member's decision; when it distributes, applies it before the relay hears of it. */
  decide(action: DecisionAction, target: string | null, embedded?: string, now = this.now): { blob: string; effects: Effect[] } {
    this.now = now;
    const out: Effect[] = [];
    const blob = this.decideInto(action, target, embedded, out);
    return { blob, effects: this.settle(out) };
  }

  /** A fresh epoch for every verified member (the first of a room names the host's seat). */
  distributeFresh(roles?: ReadonlyMap<string, RosterRole>): Effect[] {
    return this.settle(this.fresh(roles ? { roles } : {}, []));
  }

  /** A fresh epoch carrying a new room secret, sealed to everyone this distributor still admits. */
  rotateTo(next: Uint8Array): Effect[] {
    return this.settle(this.fresh({ newRoomSecret: next }, []));
  }

  /**
   * A member verified again (a new announcement): offered to if it published a new KEM key (it came onto the stage, or
   * re-announced under a rotated link); believed again, and keyed if this distributor left it out meanwhile.
   */
  reverified(member: Member, verified: VerifiedMember, now: number): Effect[] {
    this.now = now;
    const wasStale = member.stale === true;
    member.verified = verified;
    member.stale = false;
    const out: Effect[] = [];
    this.offer([verified], out);
    if (!wasStale) return this.settle(out);
    if (this.isDistributor() && !this.holdsKeys(verified.memberKeyId) && this.agent.mayAdmit(verified.memberKeyId)) this.admit(verified, out);
    this.delivered(this.pending.retry(this.present()), out);
    return this.settle(out);
  }

  /** Members of the room's whole list verified late (room.members): a distributor keys those its epoch left out. */
  lateVerified(late: readonly VerifiedMember[], now: number): Effect[] {
    this.now = now;
    const out: Effect[] = [];
    this.offer(late, out);
    const missed = this.isDistributor() ? late.filter((m) => !this.holdsKeys(m.memberKeyId) && this.agent.mayAdmit(m.memberKeyId)) : [];
    for (const m of missed) this.admit(m, out);
    return this.settle(out);
  }

  /**
   * A listener this member was never shown moved onto the stage: it is verified like a joiner, and named in the
   * senders of the current epoch if the stage lists it. No key is given for it: it holds its keys already.
   */
  stageEntered(participant: ParticipantSnapshot): Effect[] {
    if (participant.role === 'listener') return [];
    const out: Effect[] = [];
    const verified = this.agent.verify(participant.participantId, participant.announcement);
    this.roster.members.set(participant.participantId, { snapshot: participant, verified, speaking: false });
    if (verified) this.offer([verified], out);
    if (verified && this.agent.current?.stage.some((m) => m.memberKeyId === verified.memberKeyId)) this.useEpoch(this.agent.current, out);
    out.push({ kind: 'render' });
    return this.settle(out);
  }

  /** On entering (a join, a resume, a re-created room): an offer to every verified member that published a KEM key. */
  offerAll(): Effect[] {
    return this.offer(this.roster.verifiedMembers(), []);
  }

  /** The host of a re-created room admits, by their verified identity keys, the members it had before the restart. */
  admitFormer(lobby: readonly { participantId: string; announcement: string }[], now: number): Effect[] {
    this.now = now;
    const former = this.formerMembers;
    const out: Effect[] = [];
    if (!former || now > former.until || this.roleOf(this.roster.me!) !== 'host') return out;
    for (const entry of lobby) {
      const verified = this.agent.verify(entry.participantId, entry.announcement);
      // A member kicked before the restart was a member too, but is let back in by nobody.
      if (!verified || !former.keyIds.has(verified.memberKeyId) || this.agent.removed.has(verified.memberKeyId) || former.admitted.has(entry.participantId)) continue;
      former.admitted.add(entry.participantId);
      const decision = this.decideInto('admit', verified.memberKeyId, undefined, out);
      out.push({ kind: 'request', type: 'lobby.admit', payload: { participantId: entry.participantId, decision }, errors: 'fail' });
    }
    return this.settle(out);
  }

  // ---- stage decisions ----

  /** A stage decision the relay passed on: acted on only when its signature and its signer's authority hold. */
  private decision(blob: string, out: Effect[]): void {
    if (!this.agent.current) return;
    let checked: ReturnType<Membership['check']>;
    try {
      checked = this.agent.check(blob);
    } catch {
      this.rejected.decisions++;
      return;
    }
    // A kick binds every member, not only the distributor: whoever distributes later keeps the kicked member out.
    if (checked.effect.kind === 'kick') this.agent.record(checked.effect);
    if (checked.effect.kind === 'mute' && checked.effect.target === this.agent.me) out.push({ kind: 'mic-pause' });
    if (this.isDistributor()) {
      this.applyDecision(checked.decision, checked.effect, out);
      this.muteRestored(checked.decision, checked.effect, out);
    } else this.agent.witness(checked.decision, checked.effect);
  }

  /** Distributor: the decision takes effect for keys now, not when the relay says it happened. */
  private applyDecision(decision: Decision, effect: DecisionEffect, out: Effect[]): void {
    const agent = this.agent;
    // An invitation changes nothing until its target answers; the acceptance, which carries it, uses it up.
    if (effect.kind === 'invite') return;
    agent.markApplied(decision);
    agent.record(effect);
    if (effect.kind === 'role') this.send(agent.issueRatchet([], { roles: new Map([[effect.target, effect.role]]) }), out);
    else if (effect.kind === 'lock') this.send(agent.issueRatchet([], { locked: effect.locked }), out);
    else if (effect.kind === 'kick') {
      // The host rotates the link too, so the kicked member cannot come back with a new identity.
      if (this.roleOf(this.roster.me!) === 'host' && this.rotateOnKick) out.push({ kind: 'rotate' });
      else this.fresh({}, out);
    }
  }

  private decideInto(action: DecisionAction, target: string | null, embedded: string | undefined, out: Effect[]): string {
    const blob = this.agent.decide(action, target, embedded);
    if (this.isDistributor()) {
      try {
        const checked = this.agent.check(blob);
        this.applyDecision(checked.decision, checked.effect, out);
      } catch (error) {
        out.push({ kind: 'notice', text: (error as Error).message });
      }
    }
    return blob;
  }

  private invited(decision: string, out: Effect[]): void {
    try {
      const checked = this.agent.check(decision);
      if (checked.effect.kind !== 'invite' || checked.effect.target !== this.agent.me) throw new Error('not an invitation for this member');
      const held = this.held;
      const invitation = { inviter: checked.decision.actor, epoch: checked.decision.epoch };
      if (held && this.now < held.until && acceptsRestoredInvite(held.stage, this.agent.me, invitation, this.agent.current!.stage, held.backAt)) {
        return this.takeSeatBack(decision, out);
      }
      this.pendingInvite = decision;
      out.push({ kind: 'invited', by: this.roster.byKey(checked.decision.actor)?.verified?.name ?? '…' });
    } catch {
      this.rejected.decisions++;
    }
  }

  // ---- after a rebuild (rebuild.ts) ----

  /** The speaker's seat held before the restart, given back by the re-creator: taken without asking, the microphone closed. */
  private takeSeatBack(invitation: string, out: Effect[]): void {
    this.held = null;
    this.agent.markApplied(this.agent.check(invitation).decision);
    const decision = this.decideInto('accept', this.agent.me, invitation, out);
    out.push({ kind: 'request', type: 'stage.respond', payload: { accept: true, decision }, errors: 'fail' });
  }

  /**
   * With keys in the new room: a listener raises its own hand again, and the re-creator gives seats back, after
   * everything this step sends (the commit being sent leaves before the commits the seats' decisions make).
   */
  protected afterEpoch(out: Effect[]): void {
    const held = this.held;
    if (held && this.agent.current) held.backAt ??= this.agent.current.epoch;
    if (held && this.now < held.until && raisesHandAgain(held.stage, this.agent.me, held.handRaised)) {
      held.handRaised = false;
      out.push({ kind: 'request', type: 'hand.raise', payload: {}, errors: 'fail' });
    }
    if (this.formerMembers) this.seatsDue = true;
  }

  /** Runs what waits for the end of the step: the seats an installed epoch lets the re-creator give back. */
  private settle(out: Effect[]): Effect[] {
    while (this.seatsDue) {
      this.seatsDue = false;
      this.restoreSeats(out);
    }
    return out;
  }

  /**
   * Re-creator: each former moderator and speaker, once keyed in the new room, gets its seat back by this host's signed
   * decisions (a moderator named again, a speaker invited: its page takes the invitation as its seat), and is muted:
   * its microphone opens only when it switches it on.
   */
  private restoreSeats(out: Effect[]): void {
    const former = this.formerMembers;
    const agent = this.agent;
    const keyed = agent.current?.members;
    if (!former || !keyed || this.now > former.until || !this.isDistributor() || agent.roleOf(agent.me) !== 'host') return;
    for (const [key, seat] of former.seats) {
      const member = this.roster.byKey(key);
      if (former.restored.has(key) || !member?.verified || !keyed.includes(key) || agent.roleOf(key) !== 'listener') continue;
      former.restored.add(key);
      out.push({ kind: 'restore-seat', participantId: member.snapshot.participantId, memberKeyId: key, seat });
    }
  }

  /** Re-creator: a former speaker that took its seat back is muted, as a restored moderator is. */
  private muteRestored(decision: Decision, effect: DecisionEffect, out: Effect[]): void {
    const former = this.formerMembers;
    if (!former || effect.kind !== 'role' || decision.action !== 'accept' || decision.embedded?.actor !== this.agent.me || !former.restored.has(effect.target)) return;
    const member = this.roster.byKey(effect.target);
    if (!member) return;
    const decisionBlob = this.decideInto('mute', effect.target, undefined, out);
    out.push({ kind: 'request', type: 'stage.mute', payload: { participantId: member.snapshot.participantId, decision: decisionBlob }, errors: 'fail' });
  }
}
