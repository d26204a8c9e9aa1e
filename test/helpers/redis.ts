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
  /** Stops it (SIGKILL loses nothing: it persists nothing) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
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
  return {
    port,
    url: `redis://:${password}@127.0.0.1:${port}`,
    command: (...args) =>
      new Promise((resolve, reject) => {
        const cli = spawn('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        cli.once('error', reject);
        cli.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args[0]} exited ${code}`))));
      }),
    restart: async () => {
      await stop();
      await launch();
    },
    stop,
  };
}
