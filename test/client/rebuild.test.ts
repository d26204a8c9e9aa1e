import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../client/src/session/distributor.ts';
import { planRebuild, REBUILD, rebuildStep, retryDelayMs } from '../../client/src/session/rebuild.ts';

const c = (participantId: string, role: Candidate['role'], joinedSeq: number, verified = true): Candidate => ({ participantId, role, joinedSeq, verified });
const room = [c('l1', 'listener', 0), c('s', 'speaker', 1), c('m2', 'moderator', 6), c('h', 'host', 2), c('m1', 'moderator', 4), c('x', 'moderator', 3, false)];

describe('who rebuilds a room on a restarted relay', () => {
  it('the current distributor re-creates at once, the others in hand-over order one step apart', () => {
    expect(planRebuild(room, 'h').createAfterMs).toBe(0);
    expect(planRebuild(room, 'm1').createAfterMs).toBe(REBUILD.takeoverStepMs);
    expect(planRebuild(room, 'm2').createAfterMs).toBe(2 * REBUILD.takeoverStepMs);
    expect(planRebuild(room, 's').createAfterMs).toBe(3 * REBUILD.takeoverStepMs);
  });

  it('with the host gone before the restart, the distributor that took over re-creates at once', () => {
    expect(planRebuild(room.filter((m) => m.role !== 'host'), 'm1').createAfterMs).toBe(0);
  });

  it('listeners, unverified members and strangers to the snapshot never re-create', () => {
    expect(planRebuild(room, 'l1').createAfterMs).toBeNull();
    expect(planRebuild(room, 'x').createAfterMs).toBeNull();
    expect(planRebuild(room, 'nobody').createAfterMs).toBeNull();
    expect(planRebuild(room, null).createAfterMs).toBeNull();
  });

  it('a member joins until its turn to create, creates once, joins after a create lost the race, and gives up at the bound', () => {
    const plan = planRebuild(room, 'm1');
    expect(rebuildStep(plan, 0, false).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs - 1, false).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs, false).kind).toBe('create');
    expect(rebuildStep(plan, REBUILD.takeoverStepMs + 1, true).kind).toBe('join');
    expect(rebuildStep(plan, REBUILD.giveUpMs, false).kind).toBe('give-up');
    expect(rebuildStep(planRebuild(room, 'h'), 0, false).kind).toBe('create');
    expect(rebuildStep(planRebuild(room, 'l1'), REBUILD.giveUpMs - 1, false).kind).toBe('join');
    expect(rebuildStep(planRebuild(room, 'l1'), REBUILD.giveUpMs, false).kind).toBe('give-up');
  });

  it('retries back off from 0.5 s, doubling, to 3 s', () => {
    expect([0, 1, 2, 3, 4, 50].map(retryDelayMs)).toEqual([500, 1_000, 2_000, 3_000, 3_000, 3_000]);
  });
});
