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
    element.volume = this.volumes.get(id) ?? 1;
    element.muted = this.held;
    void element.play().catch(() => undefined);
    void this.context.resume().catch(() => undefined);
    const source = this.context.createMediaStreamSource(stream);
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 8192;
    this.entries.set(id, { element, source, analyser, state: initialSpeaking() });
    if (!this.held) this.connect(source, analyser);
    this.timer ??= setInterval(() => this.tick(), 100);
  }

  /**
   * Holds every remote track silent (element muted, nothing into the analysers or a recording) until released: a
   * newcomer plays nothing before it knows whether the host records. Held from the start, so it fails closed.
   */
  hold(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    for (const entry of this.entries.values()) {
      entry.element.muted = held;
      if (held) entry.source.disconnect();
      else this.connect(entry.source, entry.analyser);
    }
  }

  private held = true;

  private connect(source: MediaStreamAudioSourceNode, analyser: AnalyserNode): void {
    source.connect(analyser);
    if (this.recordTo) source.connect(this.recordTo);
  }

  /** This listener's own volume for one speaker (0 mutes it locally); kept for a speaker who reconnects. */
  setVolume(id: string, volume: number): void {
    this.volumes.set(id, volume);
    const entry = this.entries.get(id);
    if (entry) entry.element.volume = volume;
  }

  private readonly volumes = new Map<string, number>();

  /**
   * Records every remote track (and `own`, the host's microphone) as heard, decrypted, into one WebM/Opus file on this
   * device. Tracks that arrive while it records join it.
   */
  record(own: MediaStreamTrack | null): { stop(): Promise<Blob> } {
    const destination = this.context.createMediaStreamDestination();
    this.recordTo = destination;
    if (!this.held) for (const entry of this.entries.values()) entry.source.connect(destination);
    const ownSource = own ? this.context.createMediaStreamSource(new MediaStream([own])) : null;
    ownSource?.connect(destination);
    const recorder = new MediaRecorder(destination.stream, { mimeType: 'audio/webm;codecs=opus' });
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.start(1_000);
    return {
      stop: () =>
        new Promise<Blob>((resolve) => {
          recorder.onstop = () => resolve(new Blob(chunks, { type: 'audio/webm' }));
          recorder.stop();
          ownSource?.disconnect();
          for (const entry of this.entries.values()) entry.source.disconnect(destination);
          if (this.recordTo === destination) this.recordTo = null;
        }),
    };
  }

  private recordTo: MediaStreamAudioDestinationNode | null = null;

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
