// The relay's Redis connection in cluster mode: a clear error when Redis is unreachable at start, reconnects after.
import { createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;

export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

/**
 * Connects to REDIS_URL (a password or ACL user in the URL authenticates the relay). Before the first connection a
 * failure is final, so `npm start` exits with an error instead of waiting on a Redis that is not there; once
 * connected, a Redis restart is retried for ever and the relay goes on.
 */
export async function connectRedis(url: string): Promise<RedisClient> {
  let connected = false;
  const client = createClient({
    url,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(100 * 2 ** Math.min(retries, 5), 2_000) : new RedisUnreachableError(`cannot reach Redis at REDIS_URL: ${cause.message}`),
    },
  });
  // Errors while reconnecting are expected during a Redis restart; node-redis retries by the strategy above.
  let lastError: Error | null = null;
  client.on('error', (error: Error) => (lastError = error));
  try {
    await client.connect();
  } catch (error) {
    if (client.isOpen) client.destroy();
    // Unreachable, refused, or a wrong password: the message names the cause, never the password in the URL.
    const cause = (lastError as Error | null) ?? (error as Error);
    throw new RedisUnreachableError(`cannot reach Redis at REDIS_URL: ${cause.message}`);
  }
  connected = true;
  return client;
}
