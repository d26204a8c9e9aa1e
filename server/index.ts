// The relay's programmatic API: startRelay(options) → { url, close() }, used by `npm start`, tests and benchmarks.
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Server as SocketServer } from 'socket.io';
import { plainHttpOnNetwork, resolveConfig, type RelayConfig } from './config.ts';
import { createApp } from './http/app.ts';
import { loadTlsFiles } from './http/tls.ts';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Cluster, type ClusterStats } from './cluster/cluster.ts';
import { connectRedis, type RedisClient } from './cluster/redis.ts';
import { isWildcard, rtcListenIp, webRtcServerListenInfos } from './media/listen.ts';
import { MediaPlacement } from './media/placement.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { createMetrics } from './metrics.ts';
import { localDispatcher } from './rooms/requests.ts';
import { RoomService } from './rooms/room-service.ts';
import { attachConnection, type MessageObserver } from './signaling/connection.ts';

export interface RelayOptions extends Partial<RelayConfig> {
  /** Called with every message a client sends, before validation: for tests that prove what the relay sees. */
  onClientMessage?: MessageObserver;
  /** Where the JSON log lines go (stdout by default): tests read them to prove what the relay never logs. */
  logDestination?: { write(line: string): void };
  /** The clock TURN credentials are minted by (Date.now): tests hand out credentials that have already expired. */
  now?: () => number;
}

export interface Relay {
  url: string;
  port: number;
  config: RelayConfig;
  /** Read-only inspection for tests and benchmarks: rooms, their members, producers and mediasoup routers. */
  rooms: RoomService['rooms'];
  workers: () => WorkerPool['workers'];
  /** Each worker's WebRtcServer (RTC_PORTS=single), or null per worker when transports take ports of their own. */
  webRtcServers: () => (ReturnType<WorkerPool['webRtcServerOf']>)[];
  /** The socket.io server, for tests that play a hostile relay by emitting what an honest one never would. */
  io: SocketServer;
  /** Cluster mode (REDIS_URL): this relay's id in the cluster and its counts; null for a relay alone. */
  cluster: ClusterStats | null;
  /**
   * Reads TLS_CERT and TLS_KEY again (SIGHUP in `npm start`): new connections get the new certificate, open ones
   * and their rooms go on. A bad file throws TlsFileError and the old certificate stays in use.
   */
  reloadTls(): void;
  /** Tells clients the relay is going away, then closes sockets, workers and the port. */
  close(): Promise<void>;
}

export { configFromEnv, ConfigError, DEFAULTS, type RelayConfig } from './config.ts';
export { MediaPortError, WorkerBinaryMissingError } from './media/worker-pool.ts';
export { TlsFileError } from './http/tls.ts';
export { RedisUnreachableError } from './cluster/redis.ts';

export async function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const { onClientMessage, logDestination, now, ...rest } = options;
  const config = resolveConfig(rest);
  // Before anything starts: a bad certificate is an error at start, never a relay without its HTTPS.
  const tls = config.tlsCert !== null && config.tlsKey !== null ? loadTlsFiles(config.tlsCert, config.tlsKey) : null;
  // Structured logs go to stdout and carry counts and codes only: never addresses, room ids or payloads.
  const log = logDestination ? pino({ level: config.logLevel, base: undefined }, logDestination) : pino({ level: config.logLevel, base: undefined });
  // Before the workers start: a Redis that cannot be reached is an error at start, not a relay alone by mistake.
  const redis: RedisClient | null = config.redisUrl ? await connectRedis(config.redisUrl) : null;
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
  const metrics = createMetrics(service, () => pool, () => clusterStats);
  const app = createApp({
    clientDir: config.clientDir,
    registry: metrics.registry,
    health: () => ({ rooms: service.rooms.size, workers: pool.workers.length }),
    trustProxy: config.trustProxy,
  });
  const http = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, app) : createServer(app);
  io = new SocketServer(http, {
    serveClient: false,
    maxHttpBufferSize: config.maxMessageBytes,
    cors: { origin: false },
    ...(redis ? { adapter: createAdapter(redis, { streamName: 'teahouse:events', channelPrefix: 'teahouse:sio' }) } : {}),
  });
  cluster = redis ? new Cluster(io, redis, service, placement, config, log, now ?? Date.now) : null;
  clusterStats = cluster?.stats() ?? null;
  const dispatcher = cluster ?? localDispatcher(service);
  io.on('connection', (socket) => attachConnection(socket, { config, log, metrics, observe: onClientMessage, dispatcher }));
  await cluster?.start();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const local = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  const hostForUrl = local.includes(':') ? `[${local}]` : local;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`;
  log.info({ port, workers: config.workers, tls: tls !== null, rtcPorts: config.rtcPorts, turn: config.turnUrls !== null }, 'relay listening');
  if (tls) log.info({ validTo: tls.validTo.toISOString() }, 'TLS certificate loaded');
  if (plainHttpOnNetwork(config)) {
    log.warn('plain HTTP on a network address: browsers allow the microphone only over HTTPS; set TLS_CERT and TLS_KEY, or TRUST_PROXY behind an HTTPS proxy');
  }
  if (isWildcard(rtcListenIp(config)) && !config.announcedIp) {
    log.warn('media listens on all addresses but ANNOUNCED_IP is not set: only browsers on this machine can send audio');
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    config,
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
    close() {
      closing ??= (async () => {
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
        redis?.destroy();
        log.info('relay closed');
      })();
      return closing;
    },
  };
}
