// The keys and commits part of the room core: membership, pending commits, the batch window and KEM offers, one member's side.
// RoomCore (room-core.ts) adds the inputs, stage decisions and the rebuild; like it, no I/O here.
import type { Identity, KemKeyPair, RoomKeys, RosterRole } from '../../../../crypto/index.ts';
import { LIMITS, type ParticipantSnapshot } from '../../../../protocol/messages.ts';
import { KeyBatch } from '../key-batch.ts';
import { addressPackages } from '../key-delivery.ts';
import { Membership, type EpochState, type IssuedCommit, type VerifiedMember } from '../membership.ts';
import { MissedEpoch } from '../missed-epoch.ts';
import { PendingCommits, type Delivery } from '../pending-commits.ts';
import type { Role } from '../view.ts';
import type { Effect } from './effects.ts';
import type { Rejected } from './inputs.ts';
import type { Roster } from './roster.ts';

export abstract class KeyCore {
  readonly agent: Membership;
  /** Commit headers and packages that arrived apart or early, held until they open (pending-commits.ts). */
  protected readonly pending: PendingCommits;
  /** Joins and leaves gathered for the next commit, and the window the relay announced (bounded by the schema). */
  private readonly keyBatch = new KeyBatch<VerifiedMember>();
  private batchTimerSet = false;
  /**
   * Newcomers this distributor, sealing only under hybrid keys, cannot key before their KEM offer: each waits for it
   * at most one batch window (the offer follows the join reply), then goes into a commit that skips and reports it.
   */
  private readonly awaitingOffer = new Map<string, { member: VerifiedMember; until: number }>();
  /** Frames of an epoch this member lacks, held with no commit for it: when to ask for it again. */
  private readonly missed = new MissedEpoch();
  /** The KEM re-announcement was asked of the shell once this member was on the signed stage. */
  private kemAnnounceAsked = false;
  keyBatchMs = 0;
  /** The wall clock of the step under way (rebuild deadlines). */
  protected now = 0;

  /** The members the relay lists: the shell's too, which reads them for media and the view. */
  readonly roster: Roster;
  readonly rejected: Rejected;

  constructor(keys: RoomKeys, identity: Identity, roster: Roster, rejected: Rejected, kem?: KemKeyPair) {
    this.roster = roster;
    this.rejected = rejected;
    this.agent = new Membership(keys, identity, kem);
    this.pending = new PendingCommits(this.agent);
  }

  /** What an installed epoch lets the room do next (RoomCore: a hand raised again, seats given back). */
  protected abstract afterEpoch(out: Effect[]): void;

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

  /** Whether a commit waits for this member's package: a relay withholding it leaves the member on its epoch, silent. */
  get awaitingPackage(): boolean {
    return this.pending.waiting;
  }

  /** Whether a member may hold the current keys: on this distributor's member list; lacking one (a successor), anyone. */
  holdsKeys(memberKeyId: string): boolean {
    const current = this.agent.current;
    if (!current) return false;
    return current.members ? current.members.includes(memberKeyId) : true;
  }

  // ---- keys ----

  /**
   * This member's KEM offers to the members given that published a KEM key it holds none to (stage members, who may
   * distribute to it): one `key.kem` per LIMITS.kemOffersPerMessage, each offer to its member alone.
   */
  protected offer(members: readonly VerifiedMember[], out: Effect[]): Effect[] {
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
  protected offerTaken(from: string, offer: string, out: Effect[]): void {
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
  protected admit(member: VerifiedMember, out: Effect[]): void {
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
  protected batchTimerFired(out: Effect[]): void {
    this.batchTimerSet = false;
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

  protected peerJoined(participant: ParticipantSnapshot, out: Effect[]): void {
    const verified = this.agent.verify(participant.participantId, participant.announcement);
    this.roster.members.set(participant.participantId, { snapshot: participant, verified, speaking: false });
    if (verified) this.offer([verified], out);
    // Keys go only to a member whose announcement verified, never to one this distributor removed, and in a locked
    // room only to one a moderator admitted with a signed decision: the relay's word lets nobody in.
    if (verified && this.isDistributor() && this.agent.mayAdmit(verified.memberKeyId)) this.admit(verified, out);
    else if (verified && this.agent.current?.stage.some((m) => m.memberKeyId === verified.memberKeyId)) this.useEpoch(this.agent.current, out);
    out.push({ kind: 'render' });
  }

  protected peerLeft(participantId: string, out: Effect[]): void {
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

  protected fresh(options: { roles?: ReadonlyMap<string, RosterRole>; newRoomSecret?: Uint8Array }, out: Effect[]): Effect[] {
    this.keyBatch.clear();
    // Newcomers still within their wait for an offer are neither keyed nor reported yet: their offer or window decides.
    const members = this.roster.verifiedMembers().filter((m) => !this.awaitingOffer.has(m.memberKeyId));
    this.send(this.agent.issueFresh(members, options), out);
    return out;
  }

  /** The epoch is used here first; then the header to everyone and each package to its member alone. */
  protected send(issued: IssuedCommit, out: Effect[]): void {
    this.useEpoch(issued, out);
    if (issued.skipped.length > 0) out.push({ kind: 'notice', text: `keys could not be made for ${issued.skipped.length} member(s); they were left out` });
    const packages = addressPackages(issued.packages, this.roster.participantsByKey(), LIMITS.packagesPerMessage);
    out.push({ kind: 'commit', epoch: issued.epoch, blob: issued.blob, fresh: issued.kind === 'fresh', packages });
  }

  /** Uses each epoch taken, in order, counts what was refused, and asks the distributor for an epoch this member missed. */
  protected delivered(delivery: Delivery, out: Effect[]): Effect[] {
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

  protected useEpoch(state: EpochState, out: Effect[]): Effect[] {
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
    this.afterEpoch(out);
    return out;
  }

  /**
   * A reading of the E2EE Worker's frames held for epochs not installed (missed-epoch.ts): when the commit for one they
   * came under never came, the members to ask for the current epoch again (`key.resend`), as after a gap in the
   * commits. `jitter` in [0, 1).
   */
  framesHeld(reading: { held: number; ahead: number | null; jitter: number; now: number }): string[] {
    if (!this.missed.observe(reading.held, reading.ahead, this.agent.current?.epoch ?? null, reading.now, reading.jitter)) return [];
    return this.resendTargets();
  }

  /**
   * Who can resend: the distributor of this member's epoch. Holding none yet (a newcomer whose first package was lost),
   * or that distributor gone, the members the relay puts on stage: only the one distributing answers, and only with
   * what it sealed to this member.
   */
  private resendTargets(): string[] {
    const current = this.agent.current;
    if (current?.distributor === this.agent.me) return [];
    const distributor = current ? this.roster.byKey(current.distributor) : undefined;
    if (distributor) return [distributor.snapshot.participantId];
    return [...this.roster.members.values()].filter((m) => m.verified && m.snapshot.role !== 'listener').map((m) => m.snapshot.participantId);
  }

  /** Distributor: a member it keyed lost the epoch (a reload) or missed a commit; anyone else gets nothing. */
  protected resendRequest(from: string, out: Effect[]): void {
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
}
