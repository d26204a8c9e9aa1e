// Which relay a relay takes a room's media from: the origin while it has room for a child, else the shallowest relay of the room's tree with room.

/** A room's tree as the directory holds it: each relay that carries the room's media, to the relay it takes it from. */
export type TreeParents = ReadonlyMap<string, string>;

export interface ParentChoice {
  origin: string;
  /** The relay choosing: its own entry, and every relay below it, are not candidates (a cycle would carry nothing). */
  me: string;
  /** Children a relay may feed (PIPE_CHILDREN). */
  bound: number;
  parents: TreeParents;
  /** Relays whose directory entry is live: a dead relay feeds nobody, nor does anything below it. */
  alive: ReadonlySet<string>;
  /** Relays not to take (never the origin): one that just let this relay go may still be listed. */
  avoid?: ReadonlySet<string>;
}

/** Live children of each relay, this relay's own entry left out (it is choosing again). */
export function childCounts(parents: TreeParents, me: string, alive: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [child, parent] of parents) if (child !== me && alive.has(child)) counts.set(parent, (counts.get(parent) ?? 0) + 1);
  return counts;
}

/**
 * Breadth first from the origin over live relays that carry the room, so the tree stays as shallow as the bound
 * allows: the first level with a relay that has room gives the parent, the one with the fewest children there
 * (then the smallest id, so the choice is the same on every relay). With no relay in reach that has room (a bound
 * every relay is full at cannot happen in a tree, but the directory may be behind), the origin: media over the bound
 * rather than none.
 */
export function chooseParent({ origin, me, bound, parents, alive, avoid = new Set() }: ParentChoice): string {
  const counts = childCounts(parents, me, alive);
  const below = new Map<string, string[]>();
  for (const [child, parent] of parents) {
    if (child === me || child === origin || !alive.has(child) || avoid.has(child)) continue;
    below.set(parent, [...(below.get(parent) ?? []), child]);
  }
  let level = [origin];
  const seen = new Set<string>(level);
  while (level.length > 0) {
    const open = level.filter((relay) => (counts.get(relay) ?? 0) < bound);
    if (open.length > 0) return open.sort((x, y) => (counts.get(x) ?? 0) - (counts.get(y) ?? 0) || (x < y ? -1 : 1))[0]!;
    const next: string[] = [];
    for (const relay of level) {
      for (const child of below.get(relay) ?? []) {
        if (seen.has(child)) continue;
        seen.add(child);
        next.push(child);
      }
    }
    level = next;
  }
  return origin;
}
