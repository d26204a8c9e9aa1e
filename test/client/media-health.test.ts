import { describe, expect, it } from 'vitest';
import { MediaHealth, STALL_MS } from '../../client/src/media/media-health.ts';

describe('media health', () => {
  it('is idle with nothing to receive or send', () => {
    expect(new MediaHealth().status(0)).toEqual({ state: 'idle', reason: null, silent: [] });
  });

  it('a listener flows only once frames decrypt on a connected transport, not when keys or consumers exist', () => {
    const h = new MediaHealth();
    h.transport('recv', 'connecting');
    h.expect('alice', 0);
    h.counters({}, 0, 250);
    expect(h.status(250).state).toBe('connecting');
    h.transport('recv', 'connected');
    h.counters({ alice: 0 }, 0, 500);
    expect(h.status(500).state).toBe('connecting');
    h.counters({ alice: 12 }, 0, 750);
    expect(h.status(750)).toEqual({ state: 'flowing', reason: null, silent: [] });
  });

  it('counts carried over from before watching began are not progress', () => {
    const h = new MediaHealth();
    h.transport('recv', 'connected');
    h.expect('alice', 0);
    h.counters({ alice: 500 }, 0, 250);
    h.counters({ alice: 500 }, 0, 500);
    expect(h.status(500).state).toBe('connecting');
    expect(h.status(STALL_MS)).toEqual({ state: 'failed', reason: 'no-frames', silent: ['alice'] });
  });

  it("fails when a speaker's frames stop for STALL_MS, names the silent one, and recovers when they return", () => {
    const h = new MediaHealth();
    h.transport('recv', 'connected');
    h.expect('alice', 0);
    h.expect('bob', 0);
    h.counters({ alice: 0, bob: 0 }, 0, 100);
    h.counters({ alice: 10, bob: 10 }, 0, 200);
    expect(h.status(200).state).toBe('flowing');
    h.counters({ alice: 200, bob: 10 }, 0, 200 + STALL_MS - 1);
    expect(h.status(200 + STALL_MS - 1).state).toBe('flowing');
    h.counters({ alice: 210, bob: 10 }, 0, 200 + STALL_MS);
    expect(h.status(200 + STALL_MS)).toEqual({ state: 'failed', reason: 'no-frames', silent: ['bob'] });
    h.counters({ alice: 220, bob: 11 }, 0, 300 + STALL_MS);
    expect(h.status(300 + STALL_MS).state).toBe('flowing');
  });

  it('a speaker who leaves or is muted is no longer waited for', () => {
    const h = new MediaHealth();
    h.transport('recv', 'connected');
    h.expect('alice', 0);
    h.forget('alice');
    expect(h.status(10 * STALL_MS).state).toBe('idle');
  });

  it('a failed or disconnected transport is failed, with that reason, whatever the counters say', () => {
    const h = new MediaHealth();
    h.transport('recv', 'connected');
    h.expect('alice', 0);
    h.counters({ alice: 0 }, 0, 100);
    h.counters({ alice: 5 }, 0, 200);
    h.transport('recv', 'disconnected');
    expect(h.status(300)).toEqual({ state: 'failed', reason: 'transport-disconnected', silent: [] });
    h.transport('send', 'failed');
    expect(h.status(300)).toEqual({ state: 'failed', reason: 'transport-failed', silent: [] });
    h.transport('send', 'closed');
    h.transport('recv', 'connected');
    expect(h.status(300).state).toBe('flowing');
  });

  it('a speaker alone flows once its frames are encrypted for a connected send transport', () => {
    const h = new MediaHealth();
    h.producing(true, 0);
    h.transport('send', 'connecting');
    h.counters({}, 0, 100);
    h.counters({}, 40, 200);
    expect(h.status(200).state).toBe('connecting');
    h.transport('send', 'connected');
    expect(h.status(200).state).toBe('flowing');
    h.producing(false, 300);
    expect(h.status(300).state).toBe('idle');
  });

  it('reset forgets transports and speakers (new transports follow)', () => {
    const h = new MediaHealth();
    h.transport('recv', 'failed');
    h.expect('alice', 0);
    h.reset();
    expect(h.status(10 * STALL_MS).state).toBe('idle');
  });

  it('watch follows the consumed, unmuted speakers: one muted is forgotten, and unmuted it gets a fresh STALL_MS', () => {
    const h = new MediaHealth();
    h.transport('recv', 'connected');
    h.watch(['alice', 'bob'], 0);
    h.counters({ alice: 0, bob: 0 }, 0, 100);
    h.counters({ alice: 10, bob: 10 }, 0, 200);
    h.watch(['alice'], 300);
    h.counters({ alice: 10 + STALL_MS, bob: 10 }, 0, 100 + STALL_MS);
    h.watch(['alice', 'bob'], 100 + STALL_MS);
    expect(h.status(100 + STALL_MS).state).toBe('connecting');
    h.counters({ alice: 20 + STALL_MS, bob: 10 }, 0, 99 + 2 * STALL_MS);
    expect(h.status(99 + 2 * STALL_MS).state).toBe('connecting');
    expect(h.status(100 + 2 * STALL_MS)).toEqual({ state: 'failed', reason: 'no-frames', silent: ['bob'] });
  });
});
