// Coalesces a changing value into at most one send per interval: the last value wins and the final one is always sent.
export interface Timers {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

export class Throttle<T> {
  private readonly intervalMs: () => number;
  private readonly send: (value: T) => void;
  private readonly timers: Timers;
  private lastSentAt = -Infinity;
  private sent: { value: T } | null = null;
  private pending: { value: T } | null = null;
  private timer: unknown = null;

  /** `initial`: the value receivers already hold, so setting it again sends nothing. `intervalMs` is read at each set. */
  constructor(options: { intervalMs: number | (() => number); initial: T; send: (value: T) => void; timers?: Timers }) {
    const interval = options.intervalMs;
    this.intervalMs = typeof interval === 'number' ? () => interval : interval;
    this.send = options.send;
    this.sent = { value: options.initial };
    this.timers = options.timers ?? realTimers;
  }

  /** A new value: sent now if the interval since the last send has passed, else once it has (unless it changes back). */
  set(value: T): void {
    this.pending = { value };
    if (this.timer !== null) return;
    const wait = this.lastSentAt + this.intervalMs() - this.timers.now();
    if (wait <= 0) return this.flush();
    const timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
    (timer as { unref?(): unknown }).unref?.();
    this.timer = timer;
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = null;
    // Back where the last send left it: nothing changed for whoever received that.
    if (!pending || (this.sent && Object.is(this.sent.value, pending.value))) return;
    this.sent = pending;
    this.lastSentAt = this.timers.now();
    this.send(pending.value);
  }

  /** Drops anything pending: the room is gone. */
  stop(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }
}
