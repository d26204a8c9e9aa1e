// Cluster test parts: relays in this process or as child processes (to SIGKILL), all on one test Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Relay, RelayOptions } from '../../server/index.ts';
import { startTestRelay, TEST_CLIENT_DIR } from './relay.ts';

/** Short beats, so that a dead relay's entries expire within a test (three beats). */
export const TEST_HEARTBEAT_MS = 200;

export function startClusterRelay(redisUrl: string, options: RelayOptions = {}): Promise<Relay> {
  return startTestRelay({ redisUrl, clusterHeartbeatMs: TEST_HEARTBEAT_MS, ...options });
}

export interface RelayProcess {
  url: string;
  pid: number;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Its exit code once it has exited (null while it runs, or when a signal ended it). */
  exitCode(): number | null;
}

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

/** `npm start` as a child process with REDIS_URL, on free ports: a relay a test can kill without killing itself. */
export async function spawnClusterRelay(redisUrl: string, env: Record<string, string> = {}): Promise<RelayProcess> {
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      RTC_PORT: '0',
      WORKERS: '1',
      LOG_LEVEL: 'warn',
      CLIENT_DIR: TEST_CLIENT_DIR,
      REDIS_URL: redisUrl,
      CLUSTER_HEARTBEAT_MS: String(TEST_HEARTBEAT_MS),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${output}`)), 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /open (http:\/\/\S+?)\/ in a browser/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`relay exited: ${output}`));
    });
  });
  // `read` stays attached: output() has everything the relay wrote, not only its start.
  return {
    url,
    pid: child.pid!,
    output: () => output,
    exitCode: () => child.exitCode,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
