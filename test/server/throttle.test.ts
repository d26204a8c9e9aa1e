import { describe, expect, it } from 'vitest';
import { audienceCountIntervalMs } from '../../server/rooms/room.ts';
import { Throttle, type Timers } from '../../server/rooms/throttle.ts';

/** A clock the test moves by hand: timers fire only when it passes their time. */
function manualClock() {
  let now = 0;
  const timers: { at: number; run: () => void }[] = [];
  const api: Timers = {
    now: () => now,
    setTimeout: (run, ms) => {
      const t = { at: now + ms, run };
      timers.push(t);
      return t;
    },
    clearTimeout: (t) => timers.splice(timers.indexOf(t as (typeof timers)[number]), 1),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((x) => x.at <= now)) {
      timers.splice(timers.indexOf(t), 1);
      t.run();
    }
  };
  return { api, advance, pending: () => timers.length };
}

describe('Throttle', () => {
  it('sends the first change at once, then at most one per interval with the last value, and always the final one', () => {
    const clock = manualClock();
    const sent: number[] = [];
    const t = new Throttle({ intervalMs: 1_000, initial: 0, send: (v) => sent.push(v), timers: clock.api });
    t.set(1);
    expect(sent).toEqual([1]);
    for (let v = 2; v <= 50; v++) {
      t.set(v);
      clock.advance(10);
    }
    expect(sent).toEqual([1]);
    clock.advance(510);
    expect(sent).toEqual([1, 50]);
    t.set(51);
    t.set(52);
    clock.advance(999);
    expect(sent).toEqual([1, 50]);
    clock.advance(1);
    expect(sent).toEqual([1, 50, 52]);
    expect(clock.pending()).toBe(0);
  });

  it('sends nothing when the value came back to what was last sent, and nothing after stop', () => {
    const clock = manualClock();
    const sent: number[] = [];
    const t = new Throttle({ intervalMs: 1_000, initial: 5, send: (v) => sent.push(v), timers: clock.api });
    t.set(5);
    expect(sent).toEqual([]);
    t.set(6);
    t.set(7);
    t.set(6);
    clock.advance(1_000);
    expect(sent).toEqual([6]);
    t.set(9);
    t.set(10);
    t.stop();
    clock.advance(5_000);
    expect(sent).toEqual([6, 9]);
    expect(clock.pending()).toBe(0);
  });

  it('after a quiet interval a change goes out at once again', () => {
    const clock = manualClock();
    const sent: number[] = [];
    const t = new Throttle({ intervalMs: 1_000, initial: 0, send: (v) => sent.push(v), timers: clock.api });
    t.set(1);
    clock.advance(3_000);
    t.set(2);
    expect(sent).toEqual([1, 2]);
  });

  it('reads its interval at every change: a room that grows hears its count less often', () => {
    const clock = manualClock();
    const sent: number[] = [];
    let members = 1_000;
    const t = new Throttle({ intervalMs: () => audienceCountIntervalMs(members), initial: 0, send: (v) => sent.push(v), timers: clock.api });
    t.set(1);
    clock.advance(1_000);
    t.set(2);
    expect(sent).toEqual([1, 2]);
    members = 10_000;
    t.set(3);
    clock.advance(4_999);
    expect(sent).toEqual([1, 2]);
    clock.advance(1);
    expect(sent).toEqual([1, 2, 3]);
  });

  it("keeps a room's count events at about 2,000 a second or fewer, and at least a second apart", () => {
    for (const [members, ms] of [
      [1, 1_000],
      [2_000, 1_000],
      [2_001, 2_000],
      [5_000, 3_000],
      [10_000, 5_000],
      [100_000, 50_000],
    ] as const) {
      expect(audienceCountIntervalMs(members), `${members}`).toBe(ms);
      expect(members / (ms / 1_000)).toBeLessThanOrEqual(2_000);
    }
  });
});
