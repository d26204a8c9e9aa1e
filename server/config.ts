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
  /** Cluster mode: relays one relay pipes a room's media on to (its children in the room's tree, docs/architecture.md). */
  pipeChildren: number;
  /** Cluster mode: a listener's join is answered by the relay it reached, not the room's origin ("on"; "off" for comparison). */
  edgeJoins: 'on' | 'off';
  /** Prometheus metrics listen on their own address, never the public port: loopback by default. */
  metricsHost: string;
  /** 0: any free port (the default when `port` is 0, so tests side by side never collide). */
  metricsPort: number;
  /** A relay with no live mediasoup worker for this long gives up (exit 1) so that its supervisor restarts it. */
  workerRecoveryMs: number;
  /** SIGTERM in cluster mode: how long the relay stays up unready, refusing new rooms, before it hands its rooms over. */
  drainMs: number;
  /** Where the page's "Source" link leads (AGPL §13); null: the relay serves `git archive HEAD` of its own checkout. */
  sourceUrl: string | null;
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
  pipeChildren: 16,
  edgeJoins: 'on',
  metricsHost: '127.0.0.1',
  metricsPort: 9464,
  workerRecoveryMs: 30_000,
  drainMs: 5_000,
  sourceUrl: null,
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
  PIPE_CHILDREN: 'pipeChildren',
  EDGE_JOINS: 'edgeJoins',
  METRICS_HOST: 'metricsHost',
  METRICS_PORT: 'metricsPort',
  WORKER_RECOVERY_MS: 'workerRecoveryMs',
  DRAIN_MS: 'drainMs',
  SOURCE_URL: 'sourceUrl',
};

/** Every variable the relay reads, for `npm run config:check` and the warnings about misspelt ones. */
export const ENV_NAMES = Object.keys(ENV);

/** Read by scripts/ or by mediasoup rather than by the relay: known, so never warned about. */
const OTHER_KNOWN = new Set(['MEDIASOUP_WORKER_BIN', 'TEAHOUSE_CACHE', 'TEAHOUSE_MIN_NODE_MAJOR', 'TEAHOUSE_NODE_VERSION', 'TEAHOUSE_ROOT', 'TEAHOUSE_WORKER']);

/** setTimeout's limit: a longer delay fires after 1 ms, so a longer timer is nonsense rather than a long wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Inclusive bounds of every numeric variable; anything outside is refused at start. */
const RANGES: Partial<Record<keyof RelayConfig, [number, number]>> = {
  port: [0, 65535],
  rtcPort: [0, 65535],
  rtcMinPort: [1, 65535],
  rtcMaxPort: [1, 65535],
  turnTtlSeconds: [60, 86_400],
  workers: [1, 1024],
  maxRooms: [1, 10_000_000],
  maxParticipantsPerRoom: [2, 10_000_000],
  maxSpeakers: [1, 10_000],
  listenersPerRouter: [1, 1_000_000],
  messagesPerSecond: [1, 1_000_000],
  messageBurst: [1, 1_000_000],
  roomsPerConnectionPerMinute: [1, 1_000_000],
  maxMessageBytes: [1024, 1024 ** 3],
  disconnectGraceMs: [0, MAX_TIMER_MS],
  keyBatchMs: [0, MAX_KEY_BATCH_MS],
  awayGraceMs: [0, MAX_TIMER_MS],
  clusterHeartbeatMs: [100, 60_000],
  pipeChildren: [1, 10_000],
  metricsPort: [0, 65535],
  workerRecoveryMs: [1_000, MAX_TIMER_MS],
  drainMs: [0, 600_000],
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
      // Decimal digits only: Number() would also take 0x10, 1e3, " 7" and 3000000000 past setTimeout's range.
      const n = Number(raw);
      if (!/^\d{1,15}$/.test(raw)) throw new ConfigError(`${name} must be a non-negative decimal integer, got "${quote(raw)}"`);
      out[key] = n;
    } else out[key] = raw;
  }
  return out as Partial<RelayConfig>;
}

/** At most 64 characters of a value the operator typed, for an error line: enough to recognise it, never a whole secret. */
function quote(raw: string): string {
  return raw.length > 64 ? `${raw.slice(0, 61)}...` : raw;
}

function envName(key: keyof RelayConfig): string {
  return Object.keys(ENV).find((name) => ENV[name] === key) ?? key;
}

export function resolveConfig(options: Partial<RelayConfig> = {}): RelayConfig {
  const config = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as RelayConfig;
  // PORT=0 (tests, benchmarks): the metrics port is any free one too, unless named.
  if (options.metricsPort === undefined && config.port === 0) config.metricsPort = 0;
  for (const [key, [min, max]] of Object.entries(RANGES) as [keyof RelayConfig, [number, number]][]) {
    const value = config[key] as number;
    if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${envName(key)} must be between ${min} and ${max}, got ${value}`);
  }
  checkIp('HOST', config.host);
  checkIp('METRICS_HOST', config.metricsHost);
  if (config.rtcListenIp !== null) checkIp('RTC_LISTEN_IP', config.rtcListenIp);
  if (config.announcedIp !== null) checkIp('ANNOUNCED_IP', config.announcedIp);
  if (config.metricsPort !== 0 && config.metricsPort === config.port) throw new ConfigError('METRICS_PORT must differ from PORT: metrics never share the public port');
  if (options.awayGraceMs !== undefined && config.awayGraceMs > config.disconnectGraceMs) {
    throw new ConfigError(`AWAY_GRACE_MS (${config.awayGraceMs}) must be at most DISCONNECT_GRACE_MS (${config.disconnectGraceMs}): a page that said it is leaving gets no longer than one that dropped`);
  }
  if (config.sourceUrl !== null && !isHttpUrl(config.sourceUrl)) throw new ConfigError('SOURCE_URL must be an http:// or https:// URL');
  if (config.rtcMinPort > config.rtcMaxPort) throw new ConfigError('RTC_MIN_PORT must be at most RTC_MAX_PORT');
  if (config.edgeJoins !== 'on' && config.edgeJoins !== 'off') throw new ConfigError(`EDGE_JOINS must be "on" or "off", got "${config.edgeJoins}"`);
  if (config.rtcPorts !== 'single' && config.rtcPorts !== 'range') throw new ConfigError(`RTC_PORTS must be "single" or "range", got "${config.rtcPorts}"`);
  if (config.rtcPort > 0 && config.rtcPort + config.workers - 1 > 65535) throw new ConfigError('RTC_PORT + WORKERS - 1 must be at most 65535 (one media port per worker)');
  if ((config.turnUrls === null) !== (config.turnSecret === null)) throw new ConfigError('TURN_URL and TURN_SECRET go together: set both or neither');
  for (const url of turnUrlList(config)) if (!/^turns?:[^\s]+$/.test(url)) throw new ConfigError(`TURN_URL: "${url}" is not a turn: or turns: URL`);
  if ((config.tlsCert === null) !== (config.tlsKey === null)) throw new ConfigError('TLS_CERT and TLS_KEY go together: set both for HTTPS, or neither');
  if (config.trustProxy !== null) checkTrustProxy(config.trustProxy);
  if (config.redisUrl !== null) checkRedisUrl(config.redisUrl);
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'silent'].includes(config.logLevel)) throw new ConfigError(`LOG_LEVEL "${config.logLevel}" is not a level`);
  return config;
}

function checkIp(name: string, value: string): void {
  // A name (localhost, a host name) would be resolved differently by HTTP, mediasoup and browsers: addresses only.
  if (isIP(value) === 0) throw new ConfigError(`${name} must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1), got "${quote(value)}"`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** The URL carries the Redis password: no message here quotes it, whole or in part. */
function checkRedisUrl(value: string): void {
  const hint = 'REDIS_URL must be redis://[user]:password@host:port or rediss://…, with the password percent-encoded (encodeURIComponent) if it has / + = @ : or %';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(hint);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '' || /[@:]/.test(decodeURIComponent(url.pathname)) || !/^(\/\d{0,2})?$/.test(url.pathname)) {
    throw new ConfigError(hint);
  }
}

/**
 * Variables that look meant for the relay but are not read by it: TEAHOUSE_ names it does not know, and near misses
 * of its own names (REDIS_URI, ANNOUNCE_IP). Warnings, not errors: the environment is shared with other programs.
 */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set([...ENV_NAMES, ...OTHER_KNOWN]);
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (known.has(name)) continue;
    const near = ENV_NAMES.find((k) => Math.min(k.length, name.length) >= 6 && editDistance(k, name) <= (k.length >= 10 ? 2 : 1));
    if (near) out.push(`${name} is not a Teahouse variable: did you mean ${near}?`);
    else if (name.startsWith('TEAHOUSE_')) out.push(`${name} is not a Teahouse variable (see docs/operations.md, "Configuration")`);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * HOST, RTC_LISTEN_IP and METRICS_HOST must be this machine's (or a wildcard): anything else fails deep inside
 * listen() or mediasoup, after part of the relay has started.
 */
export function checkLocalAddresses(config: Pick<RelayConfig, 'host' | 'rtcListenIp' | 'metricsHost'>, local: string[], platform: NodeJS.Platform = process.platform): void {
  const mine = new Set(local);
  // Linux answers on all of 127.0.0.0/8 through its loopback interface, which lists only 127.0.0.1: a second
  // loopback address (coturn beside the relay on one host, say) is this machine's too.
  const loopbackNet = platform === 'linux' && mine.has('127.0.0.1');
  const named: [string, string | null][] = [
    ['HOST', config.host],
    ['RTC_LISTEN_IP', config.rtcListenIp],
    ['METRICS_HOST', config.metricsHost],
  ];
  for (const [name, address] of named) {
    if (address === null || address === '0.0.0.0' || address === '::' || mine.has(address) || (loopbackNet && address.startsWith('127.'))) continue;
    throw new ConfigError(`${name} ${address} is not an address of this machine (it has ${[...mine].filter((a) => !a.startsWith('fe80')).join(', ')}); use one of them or 0.0.0.0`);
  }
}

/** TURN_URL may list several URLs (say TLS on 443 and plain TURN on 3478), comma-separated. */
export function turnUrlList(config: Pick<RelayConfig, 'turnUrls'>): string[] {
  return (config.turnUrls ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
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
