import { describe, expect, it } from 'vitest';
import { KeyBatch } from '../../client/src/session/key-batch.ts';

describe('KeyBatch: when the distributor commits membership changes', () => {
  it('commits a join to a quiet room at once, and gathers what follows within its window', () => {
    const batch = new KeyBatch<string>();
    expect(batch.add({ join: 'a' }, 1_000, 500)).toBe(0);
    expect(batch.take(1_000)).toEqual({ leaves: 0, joins: ['a'] });
    // Within the window of that commit: due when the window closes, and later changes ride along.
    expect(batch.add({ join: 'b' }, 1_100, 500)).toBe(400);
    expect(batch.add({ leave: true }, 1_200, 500)).toBeNull();
    expect(batch.add({ join: 'c' }, 1_300, 500)).toBeNull();
    expect(batch.take(1_500)).toEqual({ leaves: 1, joins: ['b', 'c'] });
    // Quiet again for a full window: a join goes at once.
    expect(batch.add({ join: 'd' }, 2_100, 500)).toBe(0);
  });

  it('makes a burst of leaves one fresh epoch: even after a quiet window, a leave waits a window for the rest', () => {
    const batch = new KeyBatch<string>();
    expect(batch.add({ leave: true }, 10_000, 500)).toBe(500);
    for (let t = 10_001; t < 10_100; t++) expect(batch.add({ leave: true }, t, 500)).toBeNull();
    expect(batch.add({ join: 'x' }, 10_200, 500)).toBeNull();
    expect(batch.take(10_500)).toEqual({ leaves: 100, joins: ['x'] });
  });

  it('never commits twice within a window, however the changes come', () => {
    const batch = new KeyBatch<number>();
    const commits: number[] = [];
    let dueAt: number | null = null;
    for (let now = 0; now < 10_000; now += 37) {
      const wait = batch.add(now % 3 === 0 ? { leave: true } : { join: now }, now, 500);
      if (wait !== null) dueAt = now + wait;
      if (dueAt !== null && dueAt <= now && batch.take(now)) {
        commits.push(now);
        dueAt = null;
      }
    }
    expect(commits.length).toBeGreaterThan(10);
    for (let i = 1; i < commits.length; i++) expect(commits[i]! - commits[i - 1]!).toBeGreaterThanOrEqual(500);
  });

  it('a fresh epoch issued for another reason takes in what was pending', () => {
    const batch = new KeyBatch<string>();
    batch.add({ join: 'a' }, 0, 500);
    batch.take(0);
    expect(batch.add({ join: 'b' }, 100, 500)).toBe(400);
    batch.clear();
    expect(batch.hasPending()).toBe(false);
    expect(batch.take(500)).toBeNull();
    // Nothing was committed by the batch at 500, so the window still counts from 0.
    expect(batch.add({ join: 'c' }, 600, 500)).toBe(0);
  });
});
