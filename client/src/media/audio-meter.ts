// Plays remote decrypted tracks and measures them with WebAudio: speaking indicators and a spectrum probe.
import { initialSpeaking, nextSpeaking, peakFrequency, rmsDbfs, type SpeakingState } from './speaking.ts';

interface Entry {
  element: HTMLAudioElement;
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  state: SpeakingState;
}

export class AudioMeter {
  private readonly context = new AudioContext();
  private readonly entries = new Map<string, Entry>();
  private readonly timeBuf = new Float32Array(2048);
  private timer: ReturnType<typeof setInterval> | undefined;

  private readonly onSpeaking: (id: string, speaking: boolean) => void;

  constructor(onSpeaking: (id: string, speaking: boolean) => void) {
    this.onSpeaking = onSpeaking;
  }

  /** Attaches a remote track for playback; the media element is what makes Chromium pull remote audio at all. */
  add(id: string, track: MediaStreamTrack): void {
    this.remove(id);
    const stream = new MediaStream([track]);
    const element = new Audio();
    element.srcObject = stream;
    element.autoplay = true;
    void element.play().catch(() => undefined);
    void this.context.resume().catch(() => undefined);
    const source = this.context.createMediaStreamSource(stream);
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 8192;
    source.connect(analyser);
    this.entries.set(id, { element, source, analyser, state: initialSpeaking() });
    this.timer ??= setInterval(() => this.tick(), 100);
  }

  remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.source.disconnect();
    entry.element.srcObject = null;
    this.entries.delete(id);
    if (entry.state.speaking) this.onSpeaking(id, false);
  }

  /** Browsers block audio until a gesture; the join button calls this. */
  resume(): void {
    void this.context.resume().catch(() => undefined);
    for (const entry of this.entries.values()) void entry.element.play().catch(() => undefined);
  }

  spectrumPeak(id: string): { hz: number; db: number } | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const bins = new Float32Array(entry.analyser.frequencyBinCount);
    entry.analyser.getFloatFrequencyData(bins);
    return peakFrequency(bins, this.context.sampleRate, entry.analyser.fftSize);
  }

  close(): void {
    for (const id of [...this.entries.keys()]) this.remove(id);
    clearInterval(this.timer);
    void this.context.close().catch(() => undefined);
  }

  private tick(): void {
    const now = performance.now();
    for (const [id, entry] of this.entries) {
      entry.analyser.getFloatTimeDomainData(this.timeBuf);
      const next = nextSpeaking(entry.state, rmsDbfs(this.timeBuf), now);
      if (next.speaking !== entry.state.speaking) this.onSpeaking(id, next.speaking);
      entry.state = next;
    }
  }
}
