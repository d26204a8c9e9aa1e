// Relay configuration: embedded defaults, overridden by environment variables (documented in README and docs/operations.md).
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MAX_KEY_BATCH_MS } from '../protocol/messages.ts';

export interface RelayConfig {
  port: number;
  host: string;
  /** The address WebRTC transports listen on; defaults to `host`. */
  rtcListenIp: string | null;
  /** The address browsers send media to; defaults to the media listen address (or loopback when that is a wildcard). */
  announcedIp: string | null;
  /** `single`: each worker's transports share one UDP and one TCP port (mediasoup WebRtcServer); `range`: a port per transport. */
  rtcPorts: 'single' | 'range';
  /** The first worker's media port (UDP and TCP); worker i uses rtcPort + i. 0: any free port in the range (tests). */
  rtcPort: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  /** TURN server URLs (comma-separated in TURN_URL), e.g. `turns:turn.example.org:443?transport=tcp`; null: no TURN. */
  turnUrls: string | null;
  /** coturn's `static-auth-secret`: the relay mints short-lived credentials from it and never hands it out. */
  turnSecret: string | null;
  /** How long a member's TURN credential is valid for a new allocation. */
  turnTtlSeconds: number;
  workers: number;
  clientDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  maxRooms: number;
  maxParticipantsPerRoom: number;
  maxSpeakers: number;
  /** Receivers on a room's router before the room spreads to a router on another worker (see docs/performance.md). */
  listenersPerRouter: number;
  messagesPerSecond: number;
  messageBurst: number;
  roomsPerConnectionPerMinute: number;
  maxMessageBytes: number;
  disconnectGraceMs: number;
  /** How long a distributor gathers joins and leaves into one commit (told to clients in the join reply). */
  keyBatchMs: number;
  /** The grace of a member whose page said it is going away (closed or reloading): a reload comes back within it. */
  awayGraceMs: number;
  /** PEM certificate chain and private key: with both, the relay serves HTTPS and secure websockets on `port`. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** Express `trust proxy`: the reverse proxies whose X-Forwarded-Proto is believed (null: none). */
  trustProxy: string | null;
  /** Cluster mode: relays sharing this Redis (redis://[user:password@]host:port) share rooms; null: one process alone. */
  redisUrl: string | null;
  /** How often a cluster relay refreshes its directory entries; they expire after three missed beats. */
  clusterHeartbeatMs: number;
}

export const DEFAULTS: RelayConfig = {
  port: 3000,
  host: '127.0.0.1',
  rtcListenIp: null,
  announcedIp: null,
  rtcPorts: 'single',
  rtcPort: 40000,
  rtcMinPort: 40000,
  rtcMaxPort: 49999,
  turnUrls: null,
  turnSecret: null,
  turnTtlSeconds: 600,
  workers: availableParallelism(),
  clientDir: fileURLToPath(new URL('../client/dist', import.meta.url)),
  logLevel: 'info',
  maxRooms: 10_000,
  maxParticipantsPerRoom: 10_000,
  maxSpeakers: 20,
  listenersPerRouter: 400,
  messagesPerSecond: 50,
  messageBurst: 200,
  roomsPerConnectionPerMinute: 10,
  maxMessageBytes: 2 * 1024 * 1024,
  disconnectGraceMs: 30_000,
  keyBatchMs: 500,
  awayGraceMs: 5_000,
  tlsCert: null,
  tlsKey: null,
  trustProxy: null,
  redisUrl: null,
  clusterHeartbeatMs: 2_000,
};

const ENV: Record<string, keyof RelayConfig> = {
  PORT: 'port',
  HOST: 'host',
  RTC_LISTEN_IP: 'rtcListenIp',
  ANNOUNCED_IP: 'announcedIp',
  RTC_PORTS: 'rtcPorts',
  RTC_PORT: 'rtcPort',
  RTC_MIN_PORT: 'rtcMinPort',
  RTC_MAX_PORT: 'rtcMaxPort',
  TURN_URL: 'turnUrls',
  TURN_SECRET: 'turnSecret',
  TURN_TTL_SECONDS: 'turnTtlSeconds',
  WORKERS: 'workers',
  CLIENT_DIR: 'clientDir',
  LOG_LEVEL: 'logLevel',
  MAX_ROOMS: 'maxRooms',
  MAX_PARTICIPANTS_PER_ROOM: 'maxParticipantsPerRoom',
  MAX_SPEAKERS: 'maxSpeakers',
  LISTENERS_PER_ROUTER: 'listenersPerRouter',
  MESSAGES_PER_SECOND: 'messagesPerSecond',
  MESSAGE_BURST: 'messageBurst',
  ROOMS_PER_CONNECTION_PER_MINUTE: 'roomsPerConnectionPerMinute',
  MAX_MESSAGE_BYTES: 'maxMessageBytes',
  DISCONNECT_GRACE_MS: 'disconnectGraceMs',
  KEY_BATCH_MS: 'keyBatchMs',
  AWAY_GRACE_MS: 'awayGraceMs',
  TLS_CERT: 'tlsCert',
  TLS_KEY: 'tlsKey',
  TRUST_PROXY: 'trustProxy',
  REDIS_URL: 'redisUrl',
  CLUSTER_HEARTBEAT_MS: 'clusterHeartbeatMs',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the environment; a malformed value is an error naming the variable, never a silent default. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<RelayConfig> {
  const out: Partial<Record<keyof RelayConfig, unknown>> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (typeof DEFAULTS[key] === 'number') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
      out[key] = n;
    } else out[key] = raw;
  }
  return out as Partial<RelayConfig>;
}

export function resolveConfig(options: Partial<RelayConfig> = {}): RelayConfig {
  const config = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as RelayConfig;
  if (config.port > 65535) throw new ConfigError('PORT must be at most 65535');
  if (config.rtcMinPort > config.rtcMaxPort || config.rtcMaxPort > 65535) throw new ConfigError('RTC_MIN_PORT must be at most RTC_MAX_PORT (and both at most 65535)');
  if (config.workers < 1) throw new ConfigError('WORKERS must be at least 1');
  if (config.rtcPorts !== 'single' && config.rtcPorts !== 'range') throw new ConfigError(`RTC_PORTS must be "single" or "range", got "${config.rtcPorts}"`);
  if (config.rtcPort > 0 && config.rtcPort + config.workers - 1 > 65535) throw new ConfigError('RTC_PORT + WORKERS - 1 must be at most 65535 (one media port per worker)');
  if ((config.turnUrls === null) !== (config.turnSecret === null)) throw new ConfigError('TURN_URL and TURN_SECRET go together: set both or neither');
  for (const url of turnUrlList(config)) if (!/^turns?:[^\s]+$/.test(url)) throw new ConfigError(`TURN_URL: "${url}" is not a turn: or turns: URL`);
  if (config.turnTtlSeconds < 60 || config.turnTtlSeconds > 86_400) throw new ConfigError('TURN_TTL_SECONDS must be between 60 and 86400');
  if (config.listenersPerRouter < 1) throw new ConfigError('LISTENERS_PER_ROUTER must be at least 1');
  if (config.keyBatchMs > MAX_KEY_BATCH_MS) throw new ConfigError(`KEY_BATCH_MS must be at most ${MAX_KEY_BATCH_MS}: a member who left can decrypt until its batch closes`);
  if ((config.tlsCert === null) !== (config.tlsKey === null)) throw new ConfigError('TLS_CERT and TLS_KEY go together: set both for HTTPS, or neither');
  if (config.trustProxy !== null) checkTrustProxy(config.trustProxy);
  if (config.redisUrl !== null && !/^rediss?:\/\/[^\s]+$/.test(config.redisUrl)) throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL');
  if (config.clusterHeartbeatMs < 100 || config.clusterHeartbeatMs > 60_000) throw new ConfigError('CLUSTER_HEARTBEAT_MS must be between 100 and 60000');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'silent'].includes(config.logLevel)) throw new ConfigError(`LOG_LEVEL "${config.logLevel}" is not a level`);
  return config;
}

/** TURN_URL may list several URLs (say TLS on 443 and plain TURN on 3478), comma-separated. */
export function turnUrlList(config: Pick<RelayConfig, 'turnUrls'>): string[] {
  return (config.turnUrls ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
}

/**
 * Plain HTTP reachable from other machines with no proxy in front: browsers there withhold the microphone and the
 * crypto, so the relay warns at start (the page itself explains it to visitors).
 */
export function plainHttpOnNetwork(config: Pick<RelayConfig, 'host' | 'tlsCert' | 'trustProxy'>): boolean {
  const loopback = config.host === 'localhost' || config.host === '::1' || config.host.startsWith('127.');
  return config.tlsCert === null && config.trustProxy === null && !loopback;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Only named proxies may be trusted: `true` or a hop count would believe X-Forwarded-* from any client, which could
 * then claim a secure connection it does not have.
 */
function checkTrustProxy(value: string): void {
  for (const entry of value.split(',').map((e) => e.trim())) {
    const [address, prefix, extra] = entry.split('/');
    const named = PROXY_NAMES.has(entry);
    const version = isIP(address ?? '');
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (version === 6 ? 128 : 32));
    if (!named && (version === 0 || !prefixOk || extra !== undefined)) {
      throw new ConfigError(`TRUST_PROXY lists the proxies to believe (loopback, linklocal, uniquelocal, addresses or subnets, comma-separated); "${entry}" is none of these`);
    }
  }
}
