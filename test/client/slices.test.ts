import { describe, expect, it } from 'vitest';
import { Slices, type Scheduler } from '../../client/src/session/slices.ts';

/** Tasks run only when the test says so. */
function manualTasks() {
  const queue: (() => void)[] = [];
  const scheduler: Scheduler = { later: (run) => queue.push(run) };
  return { scheduler, runNext: () => queue.shift()?.(), pending: () => queue.length };
}

describe('Slices', () => {
  it('does the first slice at once and one slice per task after, calling afterSlice after each', () => {
    const tasks = manualTasks();
    const slices = new Slices(3, tasks.scheduler);
    const seen: number[] = [];
    const after: number[] = [];
    slices.start(
      [1, 2, 3, 4, 5, 6, 7],
      (n) => seen.push(n),
      () => after.push(seen.length),
    );
    expect(seen).toEqual([1, 2, 3]);
    expect(slices.busy).toBe(true);
    tasks.runNext();
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    tasks.runNext();
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(after).toEqual([3, 6, 7]);
    expect(slices.busy).toBe(false);
    expect(tasks.pending()).toBe(0);
  });

  it('a short list is done at once, an empty one too', () => {
    const tasks = manualTasks();
    const slices = new Slices(10, tasks.scheduler);
    const seen: string[] = [];
    let after = 0;
    slices.start(
      ['a', 'b'],
      (s) => seen.push(s),
      () => after++,
    );
    slices.start(
      [],
      (s) => seen.push(s),
      () => after++,
    );
    expect(seen).toEqual(['a', 'b']);
    expect(after).toBe(2);
    expect(slices.busy).toBe(false);
    expect(tasks.pending()).toBe(0);
  });

  it('a newer list or a cancel stops the one before at its next slice', () => {
    const tasks = manualTasks();
    const slices = new Slices(2, tasks.scheduler);
    const seen: string[] = [];
    slices.start(
      ['a1', 'a2', 'a3', 'a4'],
      (s) => seen.push(s),
      () => undefined,
    );
    slices.start(
      ['b1', 'b2', 'b3'],
      (s) => seen.push(s),
      () => undefined,
    );
    while (tasks.pending() > 0) tasks.runNext();
    expect(seen).toEqual(['a1', 'a2', 'b1', 'b2', 'b3']);
    slices.start(
      ['c1', 'c2', 'c3'],
      (s) => seen.push(s),
      () => undefined,
    );
    slices.cancel();
    expect(slices.busy).toBe(false);
    while (tasks.pending() > 0) tasks.runNext();
    expect(seen).toEqual(['a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2']);
  });

  it('refuses a slice of no items', () => {
    expect(() => new Slices(0)).toThrow(RangeError);
  });
});
