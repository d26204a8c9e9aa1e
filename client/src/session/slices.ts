// Works through a long list a slice per task, so that the page answers in between; a newer list or a cancel stops it.

export interface Scheduler {
  later(run: () => void): void;
}

const nextTask: Scheduler = { later: (run) => setTimeout(run, 0) };

export class Slices {
  private readonly perTask: number;
  private readonly scheduler: Scheduler;
  private current = 0;
  private running = false;

  constructor(perTask: number, scheduler: Scheduler = nextTask) {
    if (!Number.isInteger(perTask) || perTask < 1) throw new RangeError('at least one item a task');
    this.perTask = perTask;
    this.scheduler = scheduler;
  }

  /** Whether a list is still being worked through. */
  get busy(): boolean {
    return this.running;
  }

  /**
   * Calls `each` for every item, `perTask` of them per task (the first slice at once), and `afterSlice` after each
   * slice. Starting another list, or cancel(), stops this one before its next slice.
   */
  start<T>(items: readonly T[], each: (item: T) => void, afterSlice: () => void): void {
    const run = ++this.current;
    this.running = true;
    const step = (from: number) => {
      if (run !== this.current) return;
      const to = Math.min(from + this.perTask, items.length);
      for (let i = from; i < to; i++) each(items[i]!);
      if (to < items.length) this.scheduler.later(() => step(to));
      else this.running = false;
      afterSlice();
    };
    step(0);
  }

  cancel(): void {
    this.current++;
    this.running = false;
  }
}
