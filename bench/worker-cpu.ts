// The CPU a mediasoup worker process has used so far, as the worker itself reports it.
import type { types } from 'mediasoup';

/** User plus system time of the worker process, in ms. */
export async function workerCpuMs(worker: types.Worker): Promise<number> {
  const usage = await worker.getResourceUsage();
  return usage.ru_utime + usage.ru_stime;
}
