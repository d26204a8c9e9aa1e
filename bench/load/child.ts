// Runs one benchmark load module in a child process: sends it one command and resolves with its one reply.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The load runs apart from the relay, so that the relay's event loop is not also the clients' or members'. */
export function askChild<T>(module: URL, command: unknown): Promise<T> {
  const child = fork(fileURLToPath(module), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<T>((resolve, reject) => {
    child.once('message', (reply) => resolve(reply as T));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${fileURLToPath(module)} exited (${code}) before replying`)));
    child.send(command as object);
  }).finally(() => child.kill());
}
