import { describe, expect, it } from 'vitest';
import { EpochFreshness, FRESHNESS } from '../../client/src/session/freshness.ts';
import { Outbox, OUTBOX } from '../../client/src/session/outbox.ts';

describe('room messages wait for a confirmed epoch: a few, for a few seconds', () => {
  it('holds at most OUTBOX.held, releases them oldest first, and drops what waited past holdMs', () => {
    const box = new Outbox<string>();
    for (let i = 0; i < OUTBOX.held; i++) expect(box.hold(`m${i}`, i)).toBe(true);
    expect(box.hold('one too many', 10)).toBe(false);
    expect(box.expire(OUTBOX.holdMs - 1)).toEqual([]);
    expect(box.expire(OUTBOX.holdMs + 1)).toEqual(['m0', 'm1']);
    expect(box.size).toBe(OUTBOX.held - 2);
    expect(box.release()).toEqual(['m2', 'm3']);
    expect(box.size).toBe(0);
    expect(box.release()).toEqual([]);
  });

  it('a member that challenges on demand has one challenge outstanding until it is answered or can no longer help', () => {
    const f = new EpochFreshness();
    const hash = new Uint8Array(32).fill(3);
    f.setEpoch(3, hash);
    expect(f.outstanding(0)).toBe(false);
    f.challenge('n1', 1_000);
    expect(f.outstanding(1_000 + FRESHNESS.validForMs)).toBe(true);
    // A relay that drops the answer: once an answer could no longer make this member fresh, it may ask again.
    expect(f.outstanding(1_001 + FRESHNESS.validForMs)).toBe(false);
    f.challenge('n2', 20_000);
    f.confirm({ distributor: 'd', epoch: 3, commitHash: hash, nonce: 'n2' });
    expect(f.outstanding(20_001)).toBe(false);
    expect(f.state(20_001)).toBe('confirmed');
  });
});
