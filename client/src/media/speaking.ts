// Decides "speaking" from decrypted audio levels, with hysteresis so the indicator does not flicker.

export interface SpeakingState {
  speaking: boolean;
  /** Last time (ms) the level was above the release threshold. */
  lastLoudAt: number;
}

export const SPEAKING_ON_DBFS = -50;
export const SPEAKING_OFF_DBFS = -60;
export const SPEAKING_HOLD_MS = 400;

export function initialSpeaking(): SpeakingState {
  return { speaking: false, lastLoudAt: -Infinity };
}

/** Root-mean-square level of a block of float samples in dBFS (-Infinity for digital silence). */
export function rmsDbfs(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  return rms === 0 ? -Infinity : 20 * Math.log10(rms);
}

export function nextSpeaking(state: SpeakingState, levelDbfs: number, nowMs: number): SpeakingState {
  if (levelDbfs >= SPEAKING_ON_DBFS) return { speaking: true, lastLoudAt: nowMs };
  if (levelDbfs >= SPEAKING_OFF_DBFS && state.speaking) return { speaking: true, lastLoudAt: nowMs };
  if (state.speaking && nowMs - state.lastLoudAt < SPEAKING_HOLD_MS) return state;
  return { speaking: false, lastLoudAt: state.lastLoudAt };
}

/** The strongest frequency in a spectrum from AnalyserNode.getFloatFrequencyData. */
export function peakFrequency(bins: Float32Array, sampleRate: number, fftSize: number): { hz: number; db: number } {
  let best = -Infinity;
  let index = 0;
  for (let i = 1; i < bins.length; i++) {
    if (bins[i]! > best) {
      best = bins[i]!;
      index = i;
    }
  }
  return { hz: (index * sampleRate) / fftSize, db: best };
}
