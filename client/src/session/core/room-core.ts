// The room's keys, commits and stage decisions in one member's hands: one input at a time in, the effects to run out.
// No I/O here (no socket, DOM, media or timers): session/room-session.ts runs the effects, in order.
import type { Decision, DecisionAction, Identity, KemKeyPair, RoomKeys, RosterRole } from '../../../../crypto/index.ts';
import { LIMITS, type ParticipantSnapshot } from '../../../../protocol/messages.ts';
import { KeyBatch } from '../key-batch.ts';
import { addressPackages } from '../key-delivery.ts';
import { Membership, type DecisionEffect, type EpochState, type IssuedCommit, type VerifiedMember } from '../membership.ts';
import { PendingCommits, type Delivery } from '../pending-commits.ts';
import { acceptsRestoredInvite, raisesHandAgain } from '../rebuild.ts';
import type { Role } from '../view.ts';
import type { Effect } from './effects.ts';
import type { FormerMembers, Held, Input, Rejected } from './inputs.ts';
import type { Roster, Member } from './roster.ts';

export class RoomCore {
  readonly agent: Membership;
  /** Commit headers and packages that arrived apart or early, held until they open (pending-commits.ts). */
  private readonly pending: PendingCommits;
  /** Joins and leaves gathered for the next commit, and the window the relay announced (bounded by the schema). */
  private readonly keyBatch = new KeyBatch<VerifiedMember>();
  private batchTimerSet = false;
  /**
   * Newcomers this distributor, sealing only under hybrid keys, cannot key before their KEM offer: each waits for it
   * at most one batch window (the offer follows the join reply), then goes into a commit that skips and reports it.
   */
  private readonly awaitingOffer = new Map<string, { member: VerifiedMember; until: number }>();
  /** The KEM re-announcement was asked of the shell once this member was on the signed stage. */
  private kemAnnounceAsked = false;
  keyBatchMs = 0;
  /** The host rotates the link when it kicks someone, unless told otherwise (a kicked member keeps the old link). */
  rotateOnKick = true;
  formerMembers: FormerMembers | null = null;
  held: Held | null = null;
  /** A verified invitation to speak, kept until the person answers it: the acceptance carries it. */
  pendingInvite: string | null = null;
  /** An epoch was installed while a re-creator gives seats back: they go after everything the step sends. */
  private seatsDue = false;
  /** The wall clock of the step under way (rebuild deadlines). */
  private now = 0;

  /** The members the relay lists: the shell's too, which reads them for media and the view. */
  readonly roster: Roster;
  readonly rejected: Rejected;

  constructor(keys: RoomKeys, identity: Identity, roster: Roster, rejected: Rejected, kem?: KemKeyPair) {
    this.roster = roster;
    this.rejected = rejected;
    this.agent = new Membership(keys, identity, kem);
    this.pending = new PendingCommits(this.agent);
  }

  // ---- queries ----

  present(): Set<string> {
    return this.roster.present(this.agent.me);
  }

  keyOf(participantId: string): string | null {
    if (participantId === this.roster.me) return this.agent.me;
    return this.roster.members.get(participantId)?.verified?.memberKeyId ?? null;
  }

  /** The role the signed stage gives a member (anyone off it is a listener); the relay's claim counts for nothing. */
  roleOf(participantId: string): Role {
    const key = this.keyOf(participantId);
    return (key && this.agent.roleOf(key)) || 'listener';
  }

  isDistributor(): boolean {
    return this.agent.current != null && this.agent.isDistributor(this.present());
  }

  /** Whether a member may hold the current keys: on this distributor's member list; lacking one (a successor), anyone. */
  holdsKeys(memberKeyId: string): boolean {
    const current = this.agent.current;
    if (!current) return false;
    return current.members ? current.members.includes(memberKeyId) : true;
  }

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
        this.batchTimerSet = false;
        this.stopAwaiting(out);
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

  // ---- keys ----

  /**
   * This member's KEM offers to the members given that published a KEM key it holds none to (stage members, who may
   * distribute to it): one `key.kem` per LIMITS.kemOffersPerMessage, each offer to its member alone.
   */
  private offer(members: readonly VerifiedMember[], out: Effect[]): Effect[] {
    const offers: { to: string; offer: string }[] = [];
    for (const m of members) {
      const offer = this.agent.owesOffer(m) ? this.agent.offerTo(m) : null;
      if (offer) offers.push({ to: m.participantId, offer });
    }
    for (let i = 0; i < offers.length; i += LIMITS.kemOffersPerMessage) {
      out.push({ kind: 'request', type: 'key.kem', payload: { offers: offers.slice(i, i + LIMITS.kemOffersPerMessage) }, errors: 'ignore' });
    }
    return out;
  }

  /**
   * A member's offer to this member's KEM key. A distributor keys the newcomer that waited for it, or the member a
   * commit skipped for lack of it (a ratchet carrying its package). An offer that fails is counted, nothing more.
   */
  private offerTaken(from: string, offer: string, out: Effect[]): void {
    const known = this.roster.members.get(from);
    const member = known && !known.stale ? known.verified : null;
    const taken = member ? this.agent.takeOffer(member.memberKeyId, offer) : null;
    if (!member || !taken) {
      this.rejected.offers++;
      return;
    }
    const waited = this.awaitingOffer.delete(member.memberKeyId);
    if (!this.isDistributor() || !this.agent.mayAdmit(member.memberKeyId)) return;
    if (waited || !this.holdsKeys(member.memberKeyId)) this.batch({ join: member }, out);
    // A new page of a member this distributor keyed (a reload that came back as a new participant): what it sealed
    // to the old page's offer does not open here, so the current epoch goes again under the new one.
    else if (taken === 'replaced') this.resendTo(member, from, out);
  }

  /** A member to key: at once (batched) when its pairwise key can be made, or once its offer comes (awaitingOffer). */
  private admit(member: VerifiedMember, out: Effect[]): void {
    if (!this.agent.awaitsOffer(member.memberKeyId)) return this.batch({ join: member }, out);
    this.awaitingOffer.set(member.memberKeyId, { member, until: this.now + this.keyBatchMs });
    this.armTimer(this.keyBatchMs, out);
  }

  private armTimer(ms: number, out: Effect[]): void {
    if (this.batchTimerSet) return;
    this.batchTimerSet = true;
    out.push({ kind: 'batch-timer', ms });
  }

  /** The batch window closed: newcomers whose offer did not come within theirs are committed with the batch (skipped). */
  private stopAwaiting(out: Effect[]): void {
    let next = Infinity;
    for (const [id, w] of this.awaitingOffer) {
      if (w.until > this.now) next = Math.min(next, w.until);
      else {
        this.awaitingOffer.delete(id);
        this.keyBatch.add({ join: w.member }, this.now, this.keyBatchMs);
      }
    }
    this.commitBatch(out);
    if (next !== Infinity) this.armTimer(next - this.now, out);
  }

  private peerJoined(participant: ParticipantSnapshot, out: Effect[]): void {
    const verified = this.agent.verify(participant.participantId, participant.announcement);
    this.roster.members.set(participant.participantId, { snapshot: participant, verified, speaking: false });
    if (verified) this.offer([verified], out);
    // Keys go only to a member whose announcement verified, never to one this distributor removed, and in a locked
    // room only to one a moderator admitted with a signed decision: the relay's word lets nobody in.
    if (verified && this.isDistributor() && this.agent.mayAdmit(verified.memberKeyId)) this.admit(verified, out);
    else if (verified && this.agent.current?.stage.some((m) => m.memberKeyId === verified.memberKeyId)) this.useEpoch(this.agent.current, out);
    out.push({ kind: 'render' });
  }

  private peerLeft(participantId: string, out: Effect[]): void {
    const key = this.keyOf(participantId);
    this.roster.members.delete(participantId);
    if (key) this.awaitingOffer.delete(key);
    // A leave gets a fresh secret (batched with the window's other leaves): whoever left must not decrypt what is
    // said next. A member this distributor kicked was left out of a fresh epoch at once and needs none. When the
    // distributor itself left, the next in the signed hand-over order goes fresh at once.
    if (key && this.holdsKeys(key) && this.isDistributor()) {
      if (key === this.agent.current!.distributor) this.fresh({}, out);
      else this.batch({ leave: true }, out);
    }
    out.push({ kind: 'render' });
  }

  /**
   * Leaves and joins within the relay's window (at most MAX_KEY_BATCH_MS) become one commit: one fresh epoch for all
   * leaves, which also takes in the joins, or one ratchet for all joins (key-batch.ts). A join to a quiet room goes out
   * at once (a newcomer waits for no window); a kick does not wait either.
   */
  private batch(change: { leave: true } | { join: VerifiedMember }, out: Effect[]): void {
    const dueInMs = this.keyBatch.add(change, this.now, this.keyBatchMs);
    // Due now goes now, even while a timer for newcomers awaiting their offer is set.
    if (dueInMs === 0) return this.commitBatch(out);
    // A timer still set after a fresh epoch took in its batch is due sooner than a new one would be: it takes this.
    if (dueInMs === null) return;
    this.armTimer(dueInMs, out);
  }

  private commitBatch(out: Effect[]): void {
    const due = this.keyBatch.take(this.now);
    if (!due || !this.isDistributor()) return;
    if (due.leaves > 0) this.fresh({}, out);
    // A member it keyed among the joins is a stage member back after a reload: it gets a package for the new epoch.
    else this.send(this.agent.issueRatchet(due.joins, { repackage: due.joins }), out);
  }

  private fresh(options: { roles?: ReadonlyMap<string, RosterRole>; newRoomSecret?: Uint8Array }, out: Effect[]): Effect[] {
    this.keyBatch.clear();
    // Newcomers still within their wait for an offer are neither keyed nor reported yet: their offer or window decides.
    const members = this.roster.verifiedMembers().filter((m) => !this.awaitingOffer.has(m.memberKeyId));
    this.send(this.agent.issueFresh(members, options), out);
    return out;
  }

  /** The epoch is used here first; then the header to everyone and each package to its member alone. */
  private send(issued: IssuedCommit, out: Effect[]): void {
    this.useEpoch(issued, out);
    if (issued.skipped.length > 0) out.push({ kind: 'notice', text: `keys could not be made for ${issued.skipped.length} member(s); they were left out` });
    const packages = addressPackages(issued.packages, this.roster.participantsByKey(), LIMITS.packagesPerMessage);
    out.push({ kind: 'commit', epoch: issued.epoch, blob: issued.blob, fresh: issued.kind === 'fresh', packages });
  }

  /** Uses each epoch taken, in order, counts what was refused, and asks the distributor for an epoch this member missed. */
  private delivered(delivery: Delivery, out: Effect[]): Effect[] {
    this.rejected.commits += delivery.refused;
    for (const state of delivery.accepted) {
      if (state.newRoomSecret) out.push({ kind: 'room-secret', secret: state.newRoomSecret });
      this.useEpoch(state, out);
      out.push({ kind: 'render' });
    }
    const distributor = delivery.askResendFrom ? this.roster.byKey(delivery.askResendFrom) : undefined;
    if (distributor && distributor.snapshot.participantId !== this.roster.me) out.push({ kind: 'request', type: 'key.resend', payload: { to: distributor.snapshot.participantId }, errors: 'ignore' });
    return out;
  }

  private useEpoch(state: EpochState, out: Effect[]): Effect[] {
    const senders: Record<string, number> = {};
    for (const entry of state.stage) {
      const participantId = entry.memberKeyId === this.agent.me ? this.roster.me : this.roster.byKey(entry.memberKeyId)?.snapshot.participantId;
      if (participantId) senders[participantId] = entry.senderIndex;
    }
    out.push({ kind: 'epoch', state, senders });
    // On the signed stage this member may distribute: every member must be able to offer to its KEM key.
    if (state.myIndex !== null && !this.agent.publishesKem && !this.kemAnnounceAsked) {
      this.kemAnnounceAsked = true;
      out.push({ kind: 'reannounce-kem' });
    }
    this.restoreAfterEpoch(out);
    return out;
  }

  /** Distributor: a member it keyed lost the epoch (a reload) or missed a commit; anyone else gets nothing. */
  private resendRequest(from: string, out: Effect[]): void {
    const known = this.roster.members.get(from);
    const member = known && !known.stale ? known.verified : null;
    if (member && this.isDistributor()) this.resendTo(member, from, out);
    // A member back after a reload keeps the epoch and so gets no commit-time notice: it waits for this one to play audio.
    if (member && this.agent.roleOf(this.agent.me) === 'host') out.push({ kind: 'announce-recording' });
  }

  /** The current epoch again, to a member this distributor keyed, under the pairwise key it holds now. */
  private resendTo(member: VerifiedMember, participantId: string, out: Effect[]): void {
    const again = this.agent.resend(member);
    if (!again) return;
    out.push({ kind: 'request', type: 'key.commit', payload: { commit: again.blob, epoch: again.epoch, packages: [{ to: participantId, package: again.package }], to: participantId, withPackages: true }, errors: 'ignore' });
    // A stage member may have sent under the epoch it lost (a page that came back never sends under it again): it
    // needs the next one, a ratchet with its package, gathered like a join (one per window however often it asks).
    if (this.agent.current!.stage.some((m) => m.memberKeyId === member.memberKeyId)) this.batch({ join: member }, out);
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
  private restoreAfterEpoch(out: Effect[]): void {
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
