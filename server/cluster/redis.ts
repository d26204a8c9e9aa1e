// The relay's Redis connection in cluster mode: a clear error when Redis is unreachable at start, reconnects after, and whether it is up now.
import type { Logger } from 'pino';
import { createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;

/** The longest wait between tries to reconnect after Redis went away: relays come back up to this far apart. */
export const RECONNECT_MAX_MS = 2_000;

export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

/** A driver message without anything URL-shaped in it: some quote the URL they were given, password included. */
function safe(message: string): string {
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, '<REDIS_URL>').slice(0, 200);
}

/**
 * Connects to REDIS_URL (a password or ACL user in the URL authenticates the relay). Before the first connection a
 * failure is final, so `npm start` exits with an error instead of waiting on a Redis that is not there; once
 * connected, a Redis restart is retried for ever and the relay goes on, saying so once when Redis goes and once
 * when it is back (its readiness follows `client.isReady`).
 */
export async function connectRedis(url: string, log?: Logger): Promise<RedisClient> {
  let connected = false;
  let client: RedisClient;
  try {
    client = createClient({
      url,
      socket: {
        connectTimeout: 5_000,
        reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(100 * 2 ** Math.min(retries, 5), RECONNECT_MAX_MS) : new RedisUnreachableError(`cannot reach Redis at REDIS_URL: ${safe(cause.message)}`)),
      },
    });
  } catch {
    throw new RedisUnreachableError('REDIS_URL cannot be parsed as a Redis URL (a password with / + = @ : or % must be percent-encoded)');
  }
  // Errors while reconnecting are expected during a Redis restart; node-redis retries by the strategy above.
  let lastError: Error | null = null;
  let down = false;
  client.on('error', (error: Error) => {
    lastError = error;
    if (connected && !down) {
      down = true;
      log?.error({ err: (error as NodeJS.ErrnoException).code ?? error.name }, 'Redis unreachable: this relay is not ready until it is back');
    }
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log?.info('Redis reachable again');
  });
  try {
    await client.connect();
    // A Redis with a password answers the connection but refuses every command (NOAUTH): find out now, not later.
    await client.ping();
  } catch (error) {
    if (client.isOpen) client.destroy();
    // Unreachable, refused, or a wrong password: the message names the cause, never the password in the URL.
    const cause = (lastError as Error | null) ?? (error as Error);
    throw new RedisUnreachableError(`cannot reach Redis at REDIS_URL: ${safe(cause.message)}`);
  }
  connected = true;
  return client;
}
