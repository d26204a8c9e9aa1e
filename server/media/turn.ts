// TURN credentials in coturn's `use-auth-secret` (TURN REST API) scheme: one per request, short-lived, never logged.
import { createHmac, randomBytes } from 'node:crypto';
import { turnUrlList, type RelayConfig } from '../config.ts';

export interface TurnIceServer {
  urls: string[];
  username: string;
  credential: string;
}

type TurnConfig = Pick<RelayConfig, 'turnUrls' | 'turnSecret' | 'turnTtlSeconds'>;

/**
 * The username is `<expiry in unix seconds>:<random tag>` and the password its HMAC-SHA1 under the shared secret, as
 * coturn checks it. The tag is random per request, not the participant id: coturn's logs then cannot be joined to
 * the relay's view of a room. Empty when TURN is not configured.
 */
export function turnIceServers(config: TurnConfig, nowMs: number): TurnIceServer[] {
  const urls = turnUrlList(config);
  if (urls.length === 0 || !config.turnSecret) return [];
  const expiry = Math.floor(nowMs / 1000) + config.turnTtlSeconds;
  const username = `${expiry}:${randomBytes(12).toString('base64url')}`;
  const credential = createHmac('sha1', config.turnSecret).update(username).digest('base64');
  return [{ urls, username, credential }];
}
