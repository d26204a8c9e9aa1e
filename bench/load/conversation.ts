// A child process the benchmark talks to over many commands (askChild is one command, one reply): both ends of it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Envelope {
  id: number;
  command?: { type: string };
  reply?: unknown;
  error?: string;
}

/** The parent's side: ask(command) resolves with the child's reply to that command. */
export class Conversation {
  private readonly child: ChildProcess;
  private next = 0;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(module: URL) {
    this.child = fork(fileURLToPath(module), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: Envelope) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.reply);
    });
    this.child.once('exit', (code) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${fileURLToPath(module)} exited (${code})`));
      this.waiting.clear();
    });
  }

  ask<T>(command: { type: string; [key: string]: unknown }): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command } satisfies Envelope);
    });
  }

  close(): void {
    this.child.kill();
  }
}

/** The child's side: answers each command with its handler's result, or the error's message. */
export function answer(handlers: Record<string, (command: never) => unknown>): void {
  process.on('message', async (message: Envelope) => {
    try {
      const handler = handlers[message.command!.type];
      if (!handler) throw new Error(`no handler for ${message.command!.type}`);
      process.send!({ id: message.id, reply: (await handler(message.command as never)) ?? null } satisfies Envelope);
    } catch (error) {
      process.send!({ id: message.id, error: (error as Error).stack ?? String(error) } satisfies Envelope);
    }
  });
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the processes of one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();
