import { describe, expect, it } from 'vitest';
import { EpochFreshness, FRESHNESS } from '../../client/src/session/freshness.ts';

const hash = (n: number) => new Uint8Array(32).fill(n);
const confirmation = (nonce: string, epoch: number, h = hash(epoch)) => ({ distributor: 'd', epoch, commitHash: h, nonce });

describe('a sender keeps sending only on fresh proof that its epoch is current', () => {
  it('starts unconfirmed; an answer for its epoch confirms it until validForMs after the challenge was sent', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    expect(f.state(0)).toBe('unconfirmed');
    f.challenge('n1', 1_000);
    f.confirm(confirmation('n1', 3));
    expect(f.state(1_000 + FRESHNESS.validForMs)).toBe('confirmed');
    expect(f.state(1_000 + FRESHNESS.validForMs + 1)).toBe('unconfirmed');
  });

  it('ignores answers to challenges it never sent (a relay replaying an old confirmation)', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    f.challenge('n1', 0);
    f.confirm(confirmation('n1', 3));
    f.confirm(confirmation('n1', 3));
    f.confirm(confirmation('replayed', 3));
    expect(f.state(FRESHNESS.validForMs + 1)).toBe('unconfirmed');
  });

  it('stops at once when the distributor names a newer epoch (a commit withheld from this sender)', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    f.challenge('n1', 0);
    f.confirm(confirmation('n1', 3));
    f.challenge('n2', 100);
    f.confirm(confirmation('n2', 4));
    expect(f.state(200)).toBe('stale');
    // The withheld commit arrives: the earlier proof still bounds the new epoch, nothing named anything newer.
    f.setEpoch(4, hash(4));
    expect(f.state(200)).toBe('confirmed');
  });

  it('a late commit for an epoch the distributor already replaced never makes the sender current again', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    f.challenge('n1', 0);
    f.confirm(confirmation('n1', 5));
    f.setEpoch(4, hash(4));
    expect(f.state(10)).toBe('stale');
  });

  it('an answer naming its epoch with another commit means a fork: it stops', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    f.challenge('n1', 0);
    f.confirm(confirmation('n1', 3, hash(99)));
    expect(f.state(10)).toBe('stale');
  });

  it('an answer naming an older epoch still proves the distributor had not moved past ours when asked', () => {
    const f = new EpochFreshness();
    f.setEpoch(3, hash(3));
    f.challenge('n1', 0);
    f.setEpoch(4, hash(4));
    f.confirm(confirmation('n1', 3));
    expect(f.state(10)).toBe('confirmed');
  });
});
