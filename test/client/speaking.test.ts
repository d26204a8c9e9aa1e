import { describe, expect, it } from 'vitest';
import { initialSpeaking, nextSpeaking, peakFrequency, rmsDbfs, SPEAKING_HOLD_MS } from '../../client/src/media/speaking.ts';

describe('speaking detection', () => {
  it('measures RMS in dBFS', () => {
    expect(rmsDbfs(new Float32Array(480))).toBe(-Infinity);
    expect(rmsDbfs(new Float32Array(480).fill(1))).toBeCloseTo(0, 6);
    expect(rmsDbfs(new Float32Array(480).fill(0.1))).toBeCloseTo(-20, 6);
  });

  it('turns on when loud, holds through short gaps, releases after the hold time', () => {
    let s = nextSpeaking(initialSpeaking(), -30, 0);
    expect(s.speaking).toBe(true);
    s = nextSpeaking(s, -55, 100); // between the thresholds: keeps speaking and refreshes
    expect(s).toEqual({ speaking: true, lastLoudAt: 100 });
    s = nextSpeaking(s, -90, 100 + SPEAKING_HOLD_MS - 1);
    expect(s.speaking).toBe(true);
    s = nextSpeaking(s, -90, 100 + SPEAKING_HOLD_MS);
    expect(s.speaking).toBe(false);
  });

  it('does not turn on between the thresholds', () => {
    expect(nextSpeaking(initialSpeaking(), -55, 0).speaking).toBe(false);
  });

  it('finds the strongest bin', () => {
    const bins = new Float32Array(4096).fill(-120);
    bins[75] = -30;
    expect(peakFrequency(bins, 48_000, 8192)).toEqual({ hz: (75 * 48_000) / 8192, db: -30 });
  });
});
