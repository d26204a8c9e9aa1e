import { describe, expect, it } from 'vitest';
import type { RosterEntry } from '../../crypto/index.ts';
import { acceptsRestoredInvite, planRebuild, raisesHandAgain, REBUILD, rebuildStep, rolesToRestore, retryDelayMs } from '../../client/src/session/rebuild.ts';

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

/** The last signed stage every member held before the restart: host h, moderator m1, speakers s1 and s2. */
const held: RosterEntry[] = [
  { memberKeyId: 'h', senderIndex: 0, role: 'host' },
  { memberKeyId: 'm1', senderIndex: 1, role: 'moderator' },
  { memberKeyId: 's1', senderIndex: 2, role: 'speaker' },
  { memberKeyId: 's2', senderIndex: 3, role: 'speaker' },
];
const stageOf = (host: string, ...rest: [string, RosterEntry['role']][]): RosterEntry[] => [{ memberKeyId: host, senderIndex: 0, role: 'host' }, ...rest.map(([memberKeyId, role], i) => ({ memberKeyId, senderIndex: i + 1, role }))];

describe('what of the stage comes back after a relay restart', () => {
  it('the old host re-creating gives every moderator and speaker its seat back, and nobody else one', () => {
    expect([...rolesToRestore(held, 'h')]).toEqual([
      ['m1', 'moderator'],
      ['s1', 'speaker'],
      ['s2', 'speaker'],
    ]);
  });

  it('a moderator re-creating is the host; the old host comes back as a moderator', () => {
    expect(rolesToRestore(held, 'm1')).toEqual(
      new Map([
        ['h', 'moderator'],
        ['s1', 'speaker'],
        ['s2', 'speaker'],
      ]),
    );
  });

  it('an empty held stage (no epoch before the restart) restores nothing', () => {
    expect(rolesToRestore([], 'h').size).toBe(0);
  });

  /** The speaker took its first epoch after coming back at 1,008; invitations made from then on are the re-creator's. */
  const back = 1_008;
  const by = (inviter: string, epoch = back) => ({ inviter, epoch });

  it('a speaker takes back its seat only from the host of the new signed stage who had a seat before', () => {
    expect(acceptsRestoredInvite(held, 's1', by('h'), stageOf('h'), back)).toBe(true);
    expect(acceptsRestoredInvite(held, 's1', by('m1', back + 3), stageOf('m1'), back)).toBe(true);
    // The inviter is a moderator, not the host, of the new stage: an ordinary invitation the person answers.
    expect(acceptsRestoredInvite(held, 's1', by('m1'), stageOf('h', ['m1', 'moderator']), back)).toBe(false);
    // Someone who was a listener before hosts the new room (a relay that let an outsider re-create): no seat for it.
    expect(acceptsRestoredInvite(held, 's1', by('l1'), stageOf('l1'), back)).toBe(false);
    // The new stage does not name the inviter as host at all.
    expect(acceptsRestoredInvite(held, 's1', by('h'), [], back)).toBe(false);
  });

  it('an invitation made before the member was back (one the relay held back) is asked about, not taken as a seat', () => {
    expect(acceptsRestoredInvite(held, 's1', by('h', back - 1), stageOf('h'), back)).toBe(false);
    expect(acceptsRestoredInvite(held, 's1', by('h', 5), stageOf('h'), back)).toBe(false);
    // Before its first epoch back it takes no seat at all.
    expect(acceptsRestoredInvite(held, 's1', by('h'), stageOf('h'), null)).toBe(false);
  });

  it('a member who was not a speaker does not take an invitation as its seat back', () => {
    expect(acceptsRestoredInvite(held, 'l1', by('h'), stageOf('h'), back)).toBe(false);
    expect(acceptsRestoredInvite(held, 'm1', by('h'), stageOf('h'), back)).toBe(false);
    expect(acceptsRestoredInvite([], 's1', by('h'), stageOf('h'), back)).toBe(false);
  });

  it('a listener raises its hand again only if it had raised it; someone on stage had no hand to raise', () => {
    expect(raisesHandAgain(held, 'l1', true)).toBe(true);
    expect(raisesHandAgain(held, 'l1', false)).toBe(false);
    expect(raisesHandAgain(held, 's1', true)).toBe(false);
  });
});
