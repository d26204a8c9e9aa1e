// Debian's haproxy as a child process for proxy tests: docs/haproxy.cfg with test ports and certificate, or a balancer over relays.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Debian installs haproxy in /usr/sbin, which is not on an ordinary user's PATH.
export const HAPROXY_PATH = process.env.HAPROXY_PATH ?? '/usr/sbin/haproxy';
export const HAPROXY_RECIPE = fileURLToPath(new URL('../../docs/haproxy.cfg', import.meta.url));

/** A TCP port free on loopback right now (the kernel's pick), for a process that takes its port as configuration. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Replaces `from` exactly once, so that a change to the recipe breaks the test instead of slipping past it. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`docs/haproxy.cfg: expected exactly one "${from}"`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/**
 * The recipe as the test runs it: on loopback at the given ports, with the test certificate, and without switching
 * user (the test may not run as root). Nothing else changes.
 */
export function testRecipe(ports: { https: number; http: number; relay: number }, pemPath: string): string {
  let cfg = readFileSync(HAPROXY_RECIPE, 'utf8');
  cfg = replaceOnce(cfg, '    user haproxy\n', '');
  cfg = replaceOnce(cfg, '    group haproxy\n', '');
  cfg = replaceOnce(cfg, 'bind :80\n', `bind 127.0.0.1:${ports.http}\n`);
  cfg = replaceOnce(cfg, 'bind :443 ssl crt /etc/haproxy/certs/teahouse.pem', `bind 127.0.0.1:${ports.https} ssl crt ${pemPath}`);
  cfg = replaceOnce(cfg, 'server relay 127.0.0.1:3000', `server relay 127.0.0.1:${ports.relay}`);
  return cfg;
}

/** The recipe's `backend relay` lines before its `server` line: health checks on /readyz, retries, redispatch. */
export function recipeBackendLines(): string[] {
  const cfg = readFileSync(HAPROXY_RECIPE, 'utf8');
  const backend = cfg.slice(cfg.indexOf('\nbackend relay\n') + '\nbackend relay\n'.length);
  return backend
    .slice(0, backend.indexOf('    server relay '))
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/**
 * HAProxy round-robin over relays on loopback, websockets passed through, plain HTTP (loopback is a secure context),
 * with the recipe's health checks, retries and redispatch as docs/haproxy.cfg has them. With `failover`, an admin
 * socket at `failover.adminSocket` takes commands.
 */
export function balancerConfig(options: { port: number; relayPorts: number[]; failover?: { adminSocket: string } }): string {
  const { failover } = options;
  return [
    ...(failover ? ['global', `    stats socket ${failover.adminSocket} level admin`] : []),
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout tunnel 1h',
    'frontend teahouse',
    `    bind 127.0.0.1:${options.port}`,
    '    default_backend relays',
    'backend relays',
    '    balance roundrobin',
    ...recipeBackendLines(),
    ...options.relayPorts.map((p, i) => `    server relay${i} 127.0.0.1:${p}`),
    '',
  ].join('\n');
}

export interface Haproxy {
  stop(): Promise<void>;
  /** What haproxy printed: empty when it runs quietly, as configured. */
  output(): string;
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

/** Starts haproxy in the foreground on `config` (written into `dir`) and waits until `port` accepts connections. */
export async function startHaproxy(dir: string, config: string, port: number): Promise<Haproxy> {
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, config);
  const child: ChildProcess = spawn(HAPROXY_PATH, ['-f', path, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      output += `${error.message}\n`;
      resolve();
    });
  }).then(() => {
    running = false;
  });
  const stop = async () => {
    if (running) child.kill('SIGTERM');
    await exited;
  };
  for (let tries = 0; !(await accepts(port)); tries++) {
    if (!running || tries > 100) {
      await stop();
      throw new Error(`haproxy did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { stop, output: () => output };
}

/** One command on haproxy's admin socket (`stats socket … level admin`), e.g. to put a server in maintenance. */
export async function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = connect(socketPath, () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => (out += chunk.toString()));
    socket.once('error', reject);
    socket.once('close', () => resolve(out.trim()));
  });
}
