// Choosing a parent in a room's media tree, and the sequence numbers of a producer whose source changes.
import { describe, expect, it } from 'vitest';
import { chooseParent, childCounts } from '../../server/cluster/parent.ts';
import { SequenceSplice } from '../../server/cluster/splice.ts';

const tree = (entries: Record<string, string>) => new Map(Object.entries(entries));
const live = (...relays: string[]) => new Set(relays);

describe('choosing a parent', () => {
  it('takes the origin while it has room, then the shallowest relay with room, the fewest children first', () => {
    const all = live('A', 'B', 'C', 'D', 'E', 'F', 'G');
    expect(chooseParent({ origin: 'A', me: 'X', bound: 2, parents: tree({}), alive: all })).toBe('A');
    expect(chooseParent({ origin: 'A', me: 'X', bound: 2, parents: tree({ B: 'A' }), alive: all })).toBe('A');
    // A is full: its children are the next level; C has no child yet.
    expect(chooseParent({ origin: 'A', me: 'X', bound: 2, parents: tree({ B: 'A', C: 'A', D: 'B' }), alive: all })).toBe('C');
    // The first level is full: the choice goes one level down, never over the bound.
    const full = tree({ B: 'A', C: 'A', D: 'B', E: 'B', F: 'C', G: 'C' });
    expect(chooseParent({ origin: 'A', me: 'X', bound: 2, parents: full, alive: all })).toBe('D');
    expect(childCounts(full, 'X', all)).toEqual(
      new Map([
        ['A', 2],
        ['B', 2],
        ['C', 2],
      ]),
    );
  });

  it('never chooses itself or a relay below it, so a relay choosing again cannot make a cycle', () => {
    // B's parent died; C and D are below B. With A full of others, B may not take C or D.
    const parents = tree({ B: 'dead', C: 'B', D: 'C', E: 'A' });
    expect(chooseParent({ origin: 'A', me: 'B', bound: 1, parents, alive: live('A', 'B', 'C', 'D', 'E') })).toBe('E');
    // Its own entry does not count as a child of its old parent.
    expect(childCounts(tree({ B: 'A' }), 'B', live('A', 'B')).get('A')).toBeUndefined();
  });

  it('skips dead relays and everything they fed, and relays that just let this one go', () => {
    const parents = tree({ B: 'A', C: 'B', D: 'A' });
    // B is dead: it counts as no child of A, and C, which it fed, is not reachable; A has room again.
    expect(chooseParent({ origin: 'A', me: 'X', bound: 2, parents, alive: live('A', 'C', 'D') })).toBe('A');
    // B just let X go (it left the room) but its entry is still there: not B, though it has room, but C below D.
    const stale = tree({ B: 'A', D: 'A', C: 'D' });
    expect(chooseParent({ origin: 'A', me: 'X', bound: 1, parents: stale, alive: live('A', 'B', 'C', 'D') })).toBe('B');
    expect(chooseParent({ origin: 'A', me: 'X', bound: 1, parents: stale, alive: live('A', 'B', 'C', 'D'), avoid: new Set(['B']) })).toBe('C');
  });

  it('falls back to the origin when nothing in reach has room', () => {
    // Every relay in reach is full, and the one with room just let this relay go: media over the bound, not none.
    expect(chooseParent({ origin: 'A', me: 'X', bound: 1, parents: tree({ B: 'A', C: 'B' }), alive: live('A', 'B', 'C'), avoid: new Set(['C']) })).toBe('A');
  });
});

describe('a spliced sequence', () => {
  it('continues after the last number sent whatever the new source numbers from, and wraps', () => {
    const s = new SequenceSplice();
    expect([100, 101, 102].map((n) => s.map(n))).toEqual([100, 101, 102]);
    s.switched();
    expect([7, 8, 10].map((n) => s.map(n))).toEqual([103, 104, 106]);
    s.switched();
    expect([65534, 65535, 0].map((n) => s.map(n))).toEqual([107, 108, 109]);
  });
});
