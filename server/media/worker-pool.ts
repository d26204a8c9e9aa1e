// A pool of mediasoup workers: one per core by default, rooms placed on the least-loaded one, dead ones replaced.
import { existsSync } from 'node:fs';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from 'pino';

export class WorkerBinaryMissingError extends Error {
  override name = 'WorkerBinaryMissingError';
}

interface Slot {
  worker: types.Worker;
  load: number;
}

export class WorkerPool {
  private slots: Slot[] = [];
  private closed = false;
  private readonly replacing = new Set<Promise<void>>();

  private readonly settings: types.WorkerSettings;
  private readonly log: Logger;
  private readonly onReplaced: (dead: types.Worker, fresh: types.Worker) => void;

  private constructor(settings: types.WorkerSettings, log: Logger, onReplaced: (dead: types.Worker, fresh: types.Worker) => void) {
    this.settings = settings;
    this.log = log;
    this.onReplaced = onReplaced;
  }

  static async create(count: number, settings: types.WorkerSettings, log: Logger, onReplaced: (dead: types.Worker, fresh: types.Worker) => void): Promise<WorkerPool> {
    const bin = mediasoup.workerBin;
    if (!existsSync(bin)) {
      throw new WorkerBinaryMissingError(`mediasoup worker binary not found at ${bin}: run "npm run setup" (or set MEDIASOUP_WORKER_BIN)`);
    }
    const pool = new WorkerPool(settings, log, onReplaced);
    for (let i = 0; i < count; i++) pool.slots.push({ worker: await pool.spawn(), load: 0 });
    return pool;
  }

  get workers(): types.Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** The worker with the fewest participants; the caller adds its load. */
  leastLoaded(): types.Worker {
    return this.slots.reduce((a, b) => (b.load < a.load ? b : a)).worker;
  }

  addLoad(worker: types.Worker, delta: number): void {
    const slot = this.slots.find((s) => s.worker === worker);
    if (slot) slot.load += delta;
  }

  loadOf(worker: types.Worker): number {
    return this.slots.find((s) => s.worker === worker)?.load ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.replacing);
    const exits = this.slots.map((s) => waitForExit(s.worker));
    for (const s of this.slots) s.worker.close();
    await Promise.all(exits);
    this.slots = [];
  }

  private async spawn(): Promise<types.Worker> {
    const worker = await mediasoup.createWorker(this.settings);
    worker.on('died', () => {
      const replaced = this.replace(worker).finally(() => this.replacing.delete(replaced));
      this.replacing.add(replaced);
    });
    return worker;
  }

  private async replace(dead: types.Worker): Promise<void> {
    if (this.closed) return;
    const slot = this.slots.find((s) => s.worker === dead);
    if (!slot) return;
    this.log.error({ pid: dead.pid }, 'mediasoup worker died; starting a replacement');
    try {
      const fresh = await this.spawn();
      // close() may have run while it started: it must not outlive the pool.
      if (this.closed) {
        const exited = waitForExit(fresh);
        fresh.close();
        await exited;
        return;
      }
      slot.worker = fresh;
      slot.load = 0;
      this.onReplaced(dead, slot.worker);
    } catch (error) {
      this.log.fatal({ err: error }, 'could not replace a dead mediasoup worker');
    }
  }
}

/** Resolves once the worker process has exited, so close() leaves no process behind. */
function waitForExit(worker: types.Worker): Promise<void> {
  const pid = worker.pid;
  return new Promise((resolve) => {
    const check = () => {
      try {
        process.kill(pid, 0);
        setTimeout(check, 20);
      } catch {
        resolve();
      }
    };
    check();
  });
}
