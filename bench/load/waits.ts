// What the rekey bench's member and stage processes share: a socket to the relay for thousands in one process, and waits.
import { io, type Socket } from 'socket.io-client';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `what` is read at the timeout, so that it can say how far things got. */
export async function until(check: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what()}`);
    await sleep(5);
  }
}

export async function connect(url: string): Promise<Socket> {
  // Thousands of sockets in this one process on a shared machine: the default 20 s handshake can pass while it is busy.
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 120_000 });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}
