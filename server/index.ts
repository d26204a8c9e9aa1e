// The relay's programmatic API: startRelay(options) → { url, close() }, used by `npm start`, tests and benchmarks.
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { Server as SocketServer } from 'socket.io';
import { checkLocalAddresses, plainHttpOnNetwork, resolveConfig, type RelayConfig } from './config.ts';
import { createApp, type Readiness } from './http/app.ts';
import { createMetricsServer } from './http/metrics-server.ts';
import { loadTlsFiles } from './http/tls.ts';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Cluster, type ClusterStats } from './cluster/cluster.ts';
import { connectRedis, type RedisClient } from './cluster/redis.ts';
import { isWildcard, rtcAnnouncedAddress, rtcListenIp, webRtcServerListenInfos } from './media/listen.ts';
import { MediaPlacement } from './media/placement.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { createLog } from './log.ts';
import { createMetrics } from './metrics.ts';
import { newId } from './rooms/participant.ts';
import { localDispatcher } from './rooms/requests.ts';
import { RoomService } from './rooms/room-service.ts';
import { attachConnection, type MessageObserver } from './signaling/connection.ts';
import { PING_INTERVAL_MS, PING_TIMEOUT_MS } from '../protocol/heartbeat.ts';

/**
 * socket.io's heartbeat (protocol/heartbeat.ts). A network that vanishes without a FIN or RST (a phone leaving Wi-Fi)
 * is noticed only by it; socket.io's defaults (25 s + 20 s) let a connection sit dead for up to 45 s, past the 30 s
 * DISCONNECT_GRACE_MS. Each ping is a few bytes every 5 s per member.
 */
const HEARTBEAT = { pingInterval: PING_INTERVAL_MS, pingTimeout: PING_TIMEOUT_MS } as const;

export interface RelayOptions extends Partial<RelayConfig> {
  /** Called with every message a client sends, before validation: for tests that prove what the relay sees. */
  onClientMessage?: MessageObserver;
  /** Where the JSON log lines go (stdout by default): tests read them to prove what the relay never logs. */
  logDestination?: { write(line: string): void };
  /** The clock TURN credentials are minted by (Date.now): tests hand out credentials that have already expired. */
  now?: () => number;
  /** No mediasoup worker could be started within WORKER_RECOVERY_MS: `npm start` exits non-zero here. */
  onUnrecoverable?: () => void;
  /** Start-up warnings found before the log existed (misspelt variables): written as the first lines. */
  warnings?: string[];
}

export interface Relay {
  url: string;
  port: number;
  /** http://METRICS_HOST:port: Prometheus metrics, on their own listener. */
  metricsUrl: string;
  config: RelayConfig;
  log: Logger;
  /** What /readyz answers: false while no worker is live, Redis is unreachable (cluster mode) or the relay drains. */
  readiness(): Readiness;
  /** Read-only inspection for tests and benchmarks: rooms, their members, producers and mediasoup routers. */
  rooms: RoomService['rooms'];
  workers: () => WorkerPool['workers'];
  /** Each worker's WebRtcServer (RTC_PORTS=single), or null per worker when transports take ports of their own. */
  webRtcServers: () => ReturnType<WorkerPool['webRtcServerOf']>[];
  /** The socket.io server, for tests that play a hostile relay by emitting what an honest one never would. */
  io: SocketServer;
  /** Cluster mode (REDIS_URL): this relay's id in the cluster and its counts; null for a relay alone. */
  cluster: ClusterStats | null;
  /**
   * Reads TLS_CERT and TLS_KEY again (SIGHUP in `npm start`): new connections get the new certificate, open ones
   * and their rooms go on. A bad file throws TlsFileError and the old certificate stays in use.
   */
  reloadTls(): void;
  /**
   * SIGTERM: unready and refusing new rooms and members at once; in cluster mode for DRAIN_MS, so load balancers
   * stop sending newcomers here, then its rooms are handed over (close()).
   */
  drain(): Promise<void>;
  /** Tells clients the relay is going away, then closes sockets, workers and the port. */
  close(): Promise<void>;
}

export { configFromEnv, ConfigError, DEFAULTS, type RelayConfig } from './config.ts';
export { MediaPortError, WorkerBinaryMissingError } from './media/worker-pool.ts';
export { TlsFileError } from './http/tls.ts';
export { RedisUnreachableError } from './cluster/redis.ts';

/** METRICS_PORT taken or not allowed: a start-up error (exit 2) like the public port's. */
export class MetricsPortError extends Error {
  override name = 'MetricsPortError';
}

export async function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const { onClientMessage, logDestination, now, onUnrecoverable, warnings, ...rest } = options;
  const config = resolveConfig(rest);
  checkLocalAddresses(
    config,
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)),
  );
  // Before anything starts: a bad certificate is an error at start, never a relay without its HTTPS.
  const tls = config.tlsCert !== null && config.tlsKey !== null ? loadTlsFiles(config.tlsCert, config.tlsKey) : null;
  // A relay alone names itself; a cluster relay takes its cluster id once the cluster exists.
  let relayId = newId(9);
  const log = createLog(config.logLevel, () => relayId, logDestination);
  for (const warning of warnings ?? []) log.warn(warning);
  if (tls && tls.validTo.getTime() < Date.now()) log.warn({ validTo: tls.validTo.toISOString() }, 'TLS certificate has expired: browsers will refuse it; renew it and send SIGHUP');
  // Before the workers start: a Redis that cannot be reached is an error at start, not a relay alone by mistake.
  const redis: RedisClient | null = config.redisUrl ? await connectRedis(config.redisUrl, log) : null;
  let service: RoomService | undefined;
  const pool = await WorkerPool.create(
    config.workers,
    { logLevel: 'error', rtcMinPort: config.rtcMinPort, rtcMaxPort: config.rtcMaxPort },
    log,
    (dead, fresh) => void service?.workerReplaced(dead, fresh),
    (index) => (config.rtcPorts === 'single' ? webRtcServerListenInfos(config, index) : null),
  );
  // Late-bound: the socket.io server is made below, and nothing is broadcast before it exists.
  let io: SocketServer | undefined;
  const placement = new MediaPlacement(pool, config.listenersPerRouter);
  // In cluster mode members of a room may be on other relays: the cluster sends to each relay once.
  let cluster: Cluster | null = null;
  service = new RoomService(config, placement, (socketIds, event, payload) => (cluster ? cluster.multicast(socketIds, event, payload) : io?.to(socketIds).emit(event, payload)), now);
  let clusterStats: ClusterStats | null = null;
  const metrics = createMetrics(
    service,
    () => pool,
    () => clusterStats,
  );
  let draining = false;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (pool.liveCount === 0) reasons.push('no live media worker');
    if (redis && !redis.isReady) reasons.push('Redis unreachable');
    if (draining) reasons.push('draining');
    return { ready: reasons.length === 0, reasons };
  };
  pool.recovery = { boundMs: config.workerRecoveryMs, onUnrecoverable: () => onUnrecoverable?.() };
  const logError = (what: string) => (error: Error) => log.error({ err: error.name }, what);
  const app = createApp({
    clientDir: config.clientDir,
    readiness,
    sourceUrl: config.sourceUrl,
    onError: logError('HTTP request failed'),
    trustProxy: config.trustProxy,
  });
  const http = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, app) : createServer(app);
  io = new SocketServer(http, {
    ...HEARTBEAT,
    serveClient: false,
    maxHttpBufferSize: config.maxMessageBytes,
    cors: { origin: false },
    ...(redis ? { adapter: createAdapter(redis, { streamName: 'teahouse:events', channelPrefix: 'teahouse:sio' }) } : {}),
  });
  cluster = redis ? new Cluster(io, redis, service, placement, config, log, now ?? Date.now) : null;
  clusterStats = cluster?.stats() ?? null;
  if (cluster) relayId = cluster.relayId;
  const dispatcher = cluster ?? localDispatcher(service);
  io.on('connection', (socket) => attachConnection(socket, { config, log, metrics, observe: onClientMessage, dispatcher, draining: () => draining }));
  await cluster?.start();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const metricsHttp = createMetricsServer(metrics.registry, logError('metrics collection failed'));
  try {
    await new Promise<void>((resolve, reject) => {
      metricsHttp.once('error', reject);
      metricsHttp.listen(config.metricsPort, config.metricsHost, () => resolve());
    });
  } catch (error) {
    io.close();
    await cluster?.close();
    await pool.close();
    redis?.destroy();
    const code = (error as NodeJS.ErrnoException).code;
    throw new MetricsPortError(`cannot listen for metrics on ${config.metricsHost}:${config.metricsPort} (${code}): set METRICS_PORT to a free port`);
  }
  const metricsPort = (metricsHttp.address() as AddressInfo).port;
  const local = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  const hostForUrl = local.includes(':') ? `[${local}]` : local;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`;
  log.info({ port, metricsPort, workers: config.workers, tls: tls !== null, rtcPorts: config.rtcPorts, turn: config.turnUrls !== null, cluster: cluster !== null }, 'relay listening');
  // The operator's own media settings, so that "connected but no audio" can be checked against the log. Only when
  // set: the defaults are loopback, where the tests' clients are too, and a client's address never goes in a line.
  if (config.announcedIp || config.rtcListenIp) log.info({ listenIp: rtcListenIp(config), announcedIp: rtcAnnouncedAddress(config) }, 'media addresses');
  if (tls) log.info({ validTo: tls.validTo.toISOString() }, 'TLS certificate loaded');
  if (plainHttpOnNetwork(config)) {
    log.warn('plain HTTP on a network address: browsers allow the microphone only over HTTPS; set TLS_CERT and TLS_KEY, or TRUST_PROXY behind an HTTPS proxy');
  }
  if (isWildcard(rtcListenIp(config)) && !config.announcedIp) {
    log.warn('media listens on all addresses but ANNOUNCED_IP is not set: only browsers on this machine can send audio');
  }

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      pool.shutDown();
      // This relay's own sockets only: with the cluster adapter io.emit would reach every relay's.
      io.local.emit('relay.shuttingDown', {});
      await cluster?.close();
      for (const room of [...service.rooms.values()]) room.close();
      service.rooms.clear();
      // io.close() closes the HTTP server too, and its callback waits for every open connection to end: the pages'
      // keep-alive connections are cut first, so that an open page cannot hold the shutdown.
      const ioClosed = new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await ioClosed;
      await pool.close();
      metricsHttp.closeAllConnections();
      await new Promise((resolve) => metricsHttp.close(resolve));
      redis?.destroy();
      log.info('relay closed');
    })();
    return closing;
  };

  /** SIGTERM: see Relay.drain. */
  const drain = async (): Promise<void> => {
    if (!draining) log.info({ drainMs: cluster ? config.drainMs : 0 }, 'draining: not ready, refusing new rooms and members');
    draining = true;
    // Alone, nobody can take the rooms over: waiting would only delay the restart.
    if (cluster && !closing) await new Promise((resolve) => setTimeout(resolve, config.drainMs));
    await close();
  };

  return {
    url,
    port,
    metricsUrl: `http://${config.metricsHost.includes(':') ? `[${config.metricsHost}]` : config.metricsHost}:${metricsPort}`,
    config,
    log,
    readiness,
    rooms: service.rooms,
    workers: () => pool.workers,
    webRtcServers: () => pool.workers.map((w) => pool.webRtcServerOf(w)),
    io,
    cluster: clusterStats,
    reloadTls() {
      if (!tls || !('setSecureContext' in http)) throw new Error('the relay serves plain HTTP: TLS_CERT and TLS_KEY are not set');
      const fresh = loadTlsFiles(config.tlsCert!, config.tlsKey!);
      http.setSecureContext({ cert: fresh.cert, key: fresh.key });
      log.info({ validTo: fresh.validTo.toISOString() }, 'TLS certificate reloaded');
    },
    drain,
    close,
  };
}
