// A pool of mediasoup workers: one per core by default, each with its load and media port, dead ones replaced.
import { existsSync } from 'node:fs';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from 'pino';

export class WorkerBinaryMissingError extends Error {
  override name = 'WorkerBinaryMissingError';
}

export class MediaPortError extends Error {
  override name = 'MediaPortError';
}

function describePorts(infos: types.TransportListenInfo[]): string {
  return infos.map((i) => `${i.protocol} ${i.port ?? `${i.portRange?.min}-${i.portRange?.max}`}`).join(', ');
}

interface Slot {
  worker: types.Worker;
  /** The worker's single media port (RTC_PORTS=single); null when transports take ports of their own. */
  server: types.WebRtcServer | null;
  load: number;
}

/** Where worker `index` serves WebRTC, the same on a replacement; null: no WebRtcServer. */
export type WebRtcServerPlan = (index: number) => types.TransportListenInfo[] | null;

/** What the pool does when it has no live worker: how long it keeps trying, and whom it tells when that runs out. */
export interface Recovery {
  boundMs: number;
  onUnrecoverable: () => void;
}

/** A failed replacement is tried again this often, until one starts or the recovery bound runs out. */
const RETRY_MS = 1_000;

export class WorkerPool {
  private slots: Slot[] = [];
  private closed = false;
  private readonly replacing = new Set<Promise<void>>();
  /** Set while no worker is live: fires `recovery.onUnrecoverable` unless a replacement starts first. */
  private noWorkerTimer: NodeJS.Timeout | null = null;
  recovery: Recovery | null = null;

  private readonly settings: types.WorkerSettings;
  private readonly log: Logger;
  private readonly onReplaced: (dead: types.Worker, fresh: types.Worker) => void;
  private readonly plan: WebRtcServerPlan;

  private constructor(settings: types.WorkerSettings, log: Logger, onReplaced: (dead: types.Worker, fresh: types.Worker) => void, plan: WebRtcServerPlan) {
    this.settings = settings;
    this.log = log;
    this.onReplaced = onReplaced;
    this.plan = plan;
  }

  static async create(count: number, settings: types.WorkerSettings, log: Logger, onReplaced: (dead: types.Worker, fresh: types.Worker) => void, plan: WebRtcServerPlan = () => null): Promise<WorkerPool> {
    const bin = mediasoup.workerBin;
    if (!existsSync(bin)) {
      throw new WorkerBinaryMissingError(`mediasoup worker binary not found at ${bin}: run "npm run setup" (or set MEDIASOUP_WORKER_BIN)`);
    }
    const pool = new WorkerPool(settings, log, onReplaced, plan);
    try {
      for (let i = 0; i < count; i++) pool.slots.push({ ...(await pool.spawn(i)), load: 0 });
    } catch (error) {
      // A media port already taken: the workers started so far must not outlive the failed start.
      await pool.close();
      throw error;
    }
    return pool;
  }

  get workers(): types.Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** Workers that can take routers now: a dead one awaiting its replacement is not one. */
  get liveCount(): number {
    return this.slots.filter((s) => !s.worker.died && !s.worker.closed).length;
  }

  /** Each live worker with the participants counted on it, in pool order: what media/placement.ts chooses from. */
  loads(): { worker: types.Worker; load: number }[] {
    return this.slots.filter((s) => !s.worker.died && !s.worker.closed).map((s) => ({ worker: s.worker, load: s.load }));
  }

  addLoad(worker: types.Worker, delta: number): void {
    const slot = this.slots.find((s) => s.worker === worker);
    if (slot) slot.load += delta;
  }

  /** The WebRtcServer every transport on this worker listens through, or null (RTC_PORTS=range). */
  webRtcServerOf(worker: types.Worker): types.WebRtcServer | null {
    return this.slots.find((s) => s.worker === worker)?.server ?? null;
  }

  /**
   * From here on a dying worker is the shutdown, not a failure: SIGTERM to the process group reaches the workers
   * as well, and their deaths must not be logged as errors nor replaced.
   */
  shutDown(): void {
    this.closed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.noWorkerTimer) clearTimeout(this.noWorkerTimer);
    await Promise.all(this.replacing);
    const exits = this.slots.map((s) => waitForExit(s.worker));
    for (const s of this.slots) s.worker.close();
    await Promise.all(exits);
    this.slots = [];
  }

  private async spawn(index: number): Promise<{ worker: types.Worker; server: types.WebRtcServer | null }> {
    const before = new Set(process.listeners('SIGTERM'));
    const worker = await mediasoup.createWorker(this.settings);
    // mediasoup (3.19.22 on) closes each worker on the process's own SIGTERM, which would end every room's media at
    // the start of the drain instead of at the hand-over: the relay closes its workers itself, once the drain is done.
    for (const listener of process.listeners('SIGTERM')) if (!before.has(listener)) process.removeListener('SIGTERM', listener);
    worker.on('died', () => {
      const replaced = this.replace(worker).finally(() => this.replacing.delete(replaced));
      this.replacing.add(replaced);
    });
    const listenInfos = this.plan(index);
    if (!listenInfos) return { worker, server: null };
    try {
      return { worker, server: await worker.createWebRtcServer({ listenInfos }) };
    } catch (error) {
      const exited = waitForExit(worker);
      worker.close();
      await exited;
      // Most often a second relay on this machine: the hint names the variable that moves this one.
      throw new MediaPortError(`worker ${index} could not listen on its media port (${describePorts(listenInfos)}): ${(error as Error).message}; another relay? stop it or set RTC_PORT to free ports`);
    }
  }

  private async replace(dead: types.Worker): Promise<void> {
    if (this.closed) return;
    const slot = this.slots.find((s) => s.worker === dead);
    if (!slot) return;
    const index = this.slots.indexOf(slot);
    this.log.error({ worker: index, live: this.liveCount }, 'mediasoup worker died; starting a replacement');
    if (this.liveCount === 0 && this.recovery && !this.noWorkerTimer) {
      const { boundMs, onUnrecoverable } = this.recovery;
      this.noWorkerTimer = setTimeout(() => {
        this.log.fatal({ boundMs }, 'no mediasoup worker could be started within WORKER_RECOVERY_MS; giving up so that the supervisor restarts the relay');
        onUnrecoverable();
      }, boundMs);
    }
    for (;;) {
      try {
        // The same index, so the same media port: the firewall rules and the announced candidates stay true.
        const fresh = await this.spawn(index);
        // close() may have run while it started: it must not outlive the pool.
        if (this.closed) {
          const exited = waitForExit(fresh.worker);
          fresh.worker.close();
          await exited;
          return;
        }
        slot.worker = fresh.worker;
        slot.server = fresh.server;
        slot.load = 0;
        if (this.noWorkerTimer) clearTimeout(this.noWorkerTimer);
        this.noWorkerTimer = null;
        this.log.info({ worker: index }, 'mediasoup worker replaced');
        this.onReplaced(dead, slot.worker);
        return;
      } catch (error) {
        // The error's name only: a spawn failure's message can carry paths and the worker's command line.
        this.log.error({ worker: index, err: (error as Error).name }, 'could not start a replacement mediasoup worker; trying again');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        if (this.closed) return;
      }
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
