// Commit headers and packages that arrive apart, early or out of order, held until they open: what the page does with each.
import { CommitNoKeyError, peekCommit } from '../../../crypto/index.ts';
import { MembershipError, type AcceptedCommit, type Membership } from './membership.ts';

/** How many epochs of headers, and of packages, are held: the newest, whatever the relay sends. */
const HELD_EPOCHS = 4;

/** What the page does after a delivery: use each epoch taken, in order; count refusals; ask for a missed epoch. */
export interface Delivery {
  accepted: AcceptedCommit[];
  refused: number;
  /** The distributor (memberKeyId) to ask once for the current epoch again: this member missed a commit. */
  askResendFrom: string | null;
}

export class PendingCommits {
  private readonly agent: Membership;
  /** Commit headers and packages that arrived before their other half, by epoch. */
  private readonly headers = new Map<number, string>();
  private readonly packages = new Map<number, string>();
  /** The newest epoch this member already asked the distributor to resend. */
  private caughtUpFor = 0;

  constructor(agent: Membership) {
    this.agent = agent;
  }

  /**
   * A commit header, with this member's package when the relay sent them together: it opens at once, as does a ratchet
   * that follows our epoch; otherwise it waits for this member's package.
   */
  onCommit(commit: string, epoch: number, packaged: string | null, present: ReadonlySet<string>): Delivery {
    const out: Delivery = { accepted: [], refused: 0, askResendFrom: null };
    const pkg = packaged ?? this.packages.get(epoch) ?? null;
    if (this.tryCommit(commit, pkg, packaged !== null, present, out)) return this.retryInto(present, out);
    if (packaged) this.keepPackage(epoch, packaged);
    this.headers.set(epoch, commit);
    for (const old of [...this.headers.keys()].sort((a, b) => a - b).slice(0, -HELD_EPOCHS)) this.headers.delete(old);
    return out;
  }

  /** This member's own package: kept when it cannot open yet (our own commit may come before the join reply that names its distributor). */
  onPackage(pkg: string, epoch: number, present: ReadonlySet<string>): Delivery {
    const out: Delivery = { accepted: [], refused: 0, askResendFrom: null };
    const header = this.headers.get(epoch);
    if (header && this.tryCommit(header, pkg, true, present, out)) return this.retryInto(present, out);
    this.keepPackage(epoch, pkg);
    return out;
  }

  /**
   * The commits kept for later are tried again in epoch order, each one that opens moving this member on: after the
   * join reply, those that came before it (their distributor was not yet known), and after an epoch is taken, those
   * that came after it (a ratchet that follows a package this member was still waiting for). A fast distributor
   * commits a newcomer's epoch and the next one before the newcomer's join reply arrives.
   */
  retry(present: ReadonlySet<string>): Delivery {
    return this.retryInto(present, { accepted: [], refused: 0, askResendFrom: null });
  }

  /** Whether a header still waits for its package, or a package for its header. */
  get waiting(): boolean {
    return this.headers.size > 0 || this.packages.size > 0;
  }

  private retryInto(present: ReadonlySet<string>, out: Delivery): Delivery {
    for (const [epoch, header] of [...this.headers].sort(([a], [b]) => a - b)) {
      if (this.headers.get(epoch) === header) this.tryCommit(header, this.packages.get(epoch) ?? null, false, present, out);
    }
    return out;
  }

  private keepPackage(epoch: number, pkg: string): void {
    this.packages.set(epoch, pkg);
    for (const old of [...this.packages.keys()].sort((a, b) => a - b).slice(0, -HELD_EPOCHS)) this.packages.delete(old);
  }

  private tryCommit(commit: string, pkg: string | null, countFailure: boolean, present: ReadonlySet<string>, out: Delivery): boolean {
    try {
      const state = this.agent.accept(commit, pkg, present);
      // Only what this epoch makes old: a later commit kept for later may follow it.
      for (const epoch of [...this.headers.keys()]) if (epoch <= state.epoch) this.headers.delete(epoch);
      for (const epoch of [...this.packages.keys()]) if (epoch <= state.epoch) this.packages.delete(epoch);
      out.accepted.push(state);
      return true;
    } catch (error) {
      // A genuine header alone waits for its package; anything else is not for us (an old epoch, a ratchet we cannot
      // follow) or not genuine: the relay may replay, forge or fork, and the page counts it.
      if (countFailure || !(error instanceof CommitNoKeyError)) out.refused++;
      // A ratchet that does not follow our epoch: we missed a commit, and the distributor can hand us the epoch again.
      if (this.missedBefore(commit, error)) this.catchUp(commit, out);
      return false;
    }
  }

  private missedBefore(commit: string, error: unknown): boolean {
    if (error instanceof MembershipError) return error.code === 'RATCHET_GAP' || error.code === 'FORK';
    if (!(error instanceof CommitNoKeyError) || !this.agent.current) return false;
    const header = peekCommit(commit);
    return header.kind === 'ratchet' && header.epoch > this.agent.current.epoch;
  }

  /** Asks the current distributor once per missed epoch; what comes back is checked like any commit. */
  private catchUp(commit: string, out: Delivery): void {
    const epoch = peekCommit(commit).epoch;
    if (this.caughtUpFor >= epoch) return;
    this.caughtUpFor = epoch;
    out.askResendFrom = this.agent.current?.distributor ?? null;
  }
}
