import { describe, expect, it } from 'vitest';
import { planRebuild, REBUILD, rebuildStep, retryDelayMs } from '../../client/src/session/rebuild.ts';

/** Hand-over order from the last signed roster (Membership.handOver): the distributor first, listeners absent. */
const order = ['h', 'm1', 'm2', 's'];

describe('who rebuilds a room on a restarted relay', () => {
  it('the current distributor re-creates at once, the others in hand-over order one step apart', () => {
    expect(planRebuild(order, 'h').createAfterMs).toBe(0);
    expect(planRebuild(order, 'm1').createAfterMs).toBe(REBUILD.takeoverStepMs);
    expect(planRebuild(order, 'm2').createAfterMs).toBe(2 * REBUILD.takeoverStepMs);
    expect(planRebuild(order, 's').createAfterMs).toBe(3 * REBUILD.takeoverStepMs);
  });

  it('with the host gone before the restart, the distributor that took over re-creates at once', () => {
    expect(planRebuild(order.slice(1), 'm1').createAfterMs).toBe(0);
  });

  it('listeners and strangers to the roster never re-create', () => {
    expect(planRebuild(order, 'l1').createAfterMs).toBeNull();
    expect(planRebuild(order, 'nobody').createAfterMs).toBeNull();
  });

  it('a member joins until its turn to create, creates once, joins after a create lost the race, and gives up at the bound', () => {
    const plan = planRebuild(order, 'm1');
    expect(rebuildStep(plan, 0, false).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs - 1, false).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs, false).kind).toBe('create');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs + 1, true).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.giveUpMs, false).kind).toBe('give-up');
    expect(rebuildStep(planRebuild(order, 'h'), 0, false).kind).toBe('create');
    expect(rebuildStep(planRebuild(order, 'l1'), REBUILD.giveUpMs - 1, false).kind).toBe('join');
    expect(rebuildStep(planRebuild(order, 'l1'), REBUILD.giveUpMs, false).kind).toBe('give-up');
  });

  it('retries back off from 0.5 s, doubling, to 3 s', () => {
    expect([0, 1, 2, 3, 4, 50].map(retryDelayMs)).toEqual([500, 1_000, 2_000, 3_000, 3_000, 3_000]);
  });
});
