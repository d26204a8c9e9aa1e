import { describe, expect, it } from 'vitest';
import { chooseDistributor, type Candidate } from '../../client/src/session/distributor.ts';

const c = (participantId: string, role: Candidate['role'], joinedSeq: number, verified = true): Candidate => ({ participantId, role, joinedSeq, verified });

describe('distributor hand-over', () => {
  it('is the host while present', () => {
    expect(chooseDistributor([c('m', 'moderator', 1), c('h', 'host', 5), c('s', 'speaker', 0)])).toBe('h');
  });
  it('then the longest-present moderator, then the longest-present speaker', () => {
    expect(chooseDistributor([c('m2', 'moderator', 7), c('m1', 'moderator', 3), c('s', 'speaker', 1)])).toBe('m1');
    expect(chooseDistributor([c('s2', 'speaker', 9), c('s1', 'speaker', 4), c('l', 'listener', 0)])).toBe('s1');
  });
  it('never a listener or an unverified member', () => {
    expect(chooseDistributor([c('x', 'host', 0, false), c('m', 'moderator', 2)])).toBe('m');
    expect(chooseDistributor([c('l', 'listener', 0)])).toBeNull();
  });
});
