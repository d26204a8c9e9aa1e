// Prometheus metrics: counts of rooms, participants, transports, producers, consumers and worker usage; no per-room or per-person labels.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ClusterStats } from './cluster/cluster.ts';
import { VERSION } from './log.ts';
import type { WorkerPool } from './media/worker-pool.ts';
import type { RoomService } from './rooms/room-service.ts';

export interface RelayMetrics {
  registry: Registry;
  messages: Counter<'result'>;
}

export function createMetrics(service: RoomService, pool: () => WorkerPool, cluster: () => ClusterStats | null = () => null): RelayMetrics {
  const registry = new Registry();
  // Memory, event-loop lag, handles and GC of the relay process itself, as operators expect of a Node service.
  collectDefaultMetrics({ register: registry });
  const count = (pick: (p: { transports: Map<string, unknown>; producers: Map<string, unknown>; consumers: Map<string, unknown> }) => number) => {
    let n = 0;
    for (const room of service.rooms.values()) for (const m of room.members.values()) n += pick(m);
    // A member connected here to a room held by another relay has its media here, not at the room's origin.
    for (const m of cluster()?.edgeMedia() ?? []) n += pick(m);
    return n;
  };
  new Gauge({
    name: 'teahouse_rooms',
    help: 'Open rooms',
    registers: [registry],
    collect() {
      this.set(service.rooms.size);
    },
  });
  new Gauge({
    name: 'teahouse_participants',
    help: 'Participants in rooms, by role',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      for (const [role, n] of Object.entries(service.roleCounts())) this.set({ role }, n);
    },
  });
  new Gauge({
    name: 'teahouse_lobby_visitors',
    help: 'Visitors waiting in lobbies',
    registers: [registry],
    collect() {
      let n = 0;
      for (const room of service.rooms.values()) n += room.lobby.size;
      this.set(n);
    },
  });
  new Gauge({
    name: 'teahouse_transports',
    help: 'WebRTC transports',
    registers: [registry],
    collect() {
      this.set(count((m) => m.transports.size));
    },
  });
  new Gauge({
    name: 'teahouse_producers',
    help: 'Audio producers',
    registers: [registry],
    collect() {
      this.set(count((m) => m.producers.size));
    },
  });
  new Gauge({
    name: 'teahouse_consumers',
    help: 'Audio consumers',
    registers: [registry],
    collect() {
      this.set(count((m) => m.consumers.size));
    },
  });
  new Gauge({ name: 'teahouse_build_info', help: 'The running version (always 1)', labelNames: ['version'], registers: [registry] }).set({ version: VERSION }, 1);
  // A counter, so rate() works; it starts again from 0 when a dead worker is replaced, which Prometheus reads as a reset.
  new Counter({
    name: 'teahouse_worker_cpu_seconds_total',
    help: 'CPU time used by each mediasoup worker (user + system)',
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      const workers = pool().workers.filter((w) => !w.died && !w.closed);
      const used = await Promise.all(
        workers.map(async (w) => {
          const u = await w.getResourceUsage();
          return (u.ru_utime + u.ru_stime) / 1000;
        }),
      );
      this.reset();
      for (const [i, seconds] of used.entries()) this.inc({ worker: String(i) }, seconds);
    },
  });
  new Gauge({
    name: 'teahouse_live_workers',
    help: 'mediasoup workers alive now (0: the relay is not ready)',
    registers: [registry],
    collect() {
      this.set(pool().liveCount);
    },
  });
  new Gauge({
    name: 'teahouse_worker_max_rss_bytes',
    help: 'Peak resident memory of each mediasoup worker',
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      const workers = pool().workers.filter((w) => !w.died && !w.closed);
      await Promise.all(workers.map(async (w, i) => this.set({ worker: String(i) }, (await w.getResourceUsage()).ru_maxrss * 1024)));
    },
  });
  // Cluster mode only (REDIS_URL); a relay alone reports them as 0.
  const clusterGauge = (name: string, help: string, read: (c: ClusterStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const c = cluster();
        this.set(c ? read(c) : 0);
      },
    });
  clusterGauge('teahouse_cluster_pipes', 'Relay-to-relay pipe transports, at the origin or the edge end', (c) => c.pipes());
  clusterGauge('teahouse_cluster_remote_members', "Members of this relay's rooms connected through other relays", (c) => c.remoteMembers());
  clusterGauge('teahouse_cluster_edge_members', 'Members connected here to rooms held by other relays', (c) => c.edgeMembers());
  clusterGauge('teahouse_cluster_redis_latency_seconds', 'Round trip of the last directory refresh in Redis', (c) => c.redisLatency());
  const messages = new Counter({ name: 'teahouse_signaling_messages_total', help: 'Signaling messages by result (ok or error code)', labelNames: ['result'], registers: [registry] });
  return { registry, messages };
}
