// Debian's redis-server as a child process on a free loopback port, without persistence, for cluster tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './haproxy.ts';

export interface TestRedis {
  port: number;
  /** redis://:password@127.0.0.1:port: relays authenticate, as the operations guide asks. */
  url: string;
  /** Redis CLI commands against it (keys, values), for tests that check what Redis holds. */
  command(...args: string[]): Promise<string>;
  /** Everything Redis is asked to do from now on (MONITOR), as redis-cli prints it. */
  monitor(): Promise<RedisMonitor>;
  /** Stops it (SIGKILL loses nothing: it persists nothing) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisMonitor {
  /** What it printed so far. */
  text(): string;
  /**
   * What it printed up to now, complete: MONITOR's output comes through a pipe, behind Redis itself, so a marker is
   * sent and waited for, after which every command Redis ran before it is in the text.
   */
  settled(): Promise<string>;
  stop(): void;
}

async function until(done: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    if (waited > 10_000) throw new Error(`redis-cli MONITOR: no ${what} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startRedis(password = 'cluster-test-password'): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let output = '';
  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (let tries = 0; !(await accepts(port)); tries++) {
      if (tries > 100 || child.exitCode !== null) throw new Error(`redis-server did not start: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await launch();
  const run = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const cli = spawn('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      cli.once('error', reject);
      cli.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args[0]} exited ${code}`))));
    });
  return {
    port,
    url: `redis://:${password}@127.0.0.1:${port}`,
    command: run,
    monitor: async () => {
      const cli = spawn('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      cli.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      await until(() => text.includes('OK'), 'OK');
      return {
        text: () => text,
        settled: async () => {
          const marker = `marker-${Date.now()}-${Math.random()}`;
          await run('ECHO', marker);
          await until(() => text.includes(marker), 'marker');
          return text;
        },
        stop: () => cli.kill(),
      };
    },
    restart: async () => {
      await stop();
      await launch();
    },
    stop,
  };
}
