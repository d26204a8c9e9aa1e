// When a member asks the distributor again for an epoch its speakers send under and it never got (missed-epoch.ts).
import { describe, expect, it } from 'vitest';
import { ASK_AGAIN_MS, MISSED_AFTER_MS, MissedEpoch } from '../../client/src/session/missed-epoch.ts';

/** Readings every 250 ms, as the E2EE Worker posts them, frames held at 50 a second while `ahead`; the times asked. */
function asks(missed: MissedEpoch, from: number, to: number, ahead: number | null, mine: number | null, start = { held: 0 }, jitter = 0): number[] {
  const out: number[] = [];
  for (let now = from; now <= to; now += 250) {
    if (ahead !== null && (mine === null || ahead > mine)) start.held += 12;
    if (missed.observe(start.held, ahead, mine, now, jitter)) out.push(now);
  }
  return out;
}

describe('a missed epoch', () => {
  it('is asked for after MISSED_AFTER_MS of held frames, then after each wait of ASK_AGAIN_MS, the last repeating', () => {
    const missed = new MissedEpoch();
    const times = asks(missed, 0, 90_000, 5, 4);
    expect(times[0]).toBe(MISSED_AFTER_MS);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 4)).toEqual([ASK_AGAIN_MS[0], ASK_AGAIN_MS[1], ASK_AGAIN_MS[2], ASK_AGAIN_MS[2]]);
  });

  it('a newcomer holding no epoch yet asks too', () => {
    expect(asks(new MissedEpoch(), 0, 4_000, 1, null)).toEqual([MISSED_AFTER_MS]);
  });

  it('asks nothing for frames of an epoch it holds, nor once held frames stop coming, and starts afresh after either', () => {
    const missed = new MissedEpoch();
    const counter = { held: 0 };
    // Held for 2 s (a commit on its way), then the epoch arrives: nothing asked.
    expect(asks(missed, 0, 2_000, 5, 4, counter)).toEqual([]);
    expect(asks(missed, 2_250, 10_000, 5, 5, counter)).toEqual([]);
    // Held again for 2 s, then no frames held at all for 1.5 s (the speaker muted): the wait starts again after it.
    expect(asks(missed, 10_250, 12_000, 6, 5, counter)).toEqual([]);
    for (let now = 12_250; now <= 13_500; now += 250) expect(missed.observe(counter.held, 6, 5, now, 0)).toBe(false);
    expect(asks(missed, 13_750, 17_000, 6, 5, counter)).toEqual([13_750 + MISSED_AFTER_MS]);
  });

  it('spreads the asks after the first over half the wait again at random, so that a room does not ask all at once', () => {
    const late = asks(new MissedEpoch(), 0, 20_000, 5, 4, { held: 0 }, 0.999);
    expect(late[0]).toBe(MISSED_AFTER_MS);
    expect(late[1]! - late[0]!).toBeGreaterThan(ASK_AGAIN_MS[0] * 1.45);
  });
});
