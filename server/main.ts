// `npm start`: the relay with configuration from the environment; SIGTERM drains and stops it, SIGINT stops it at once,
// SIGHUP re-reads the TLS certificate. `--check` (npm run config:check) validates the configuration without starting.
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { checkLocalAddresses, resolveConfig, unknownVariables } from './config.ts';
import { loadTlsFiles } from './http/tls.ts';
import { configFromEnv, ConfigError, MediaPortError, MetricsPortError, RedisUnreachableError, startRelay, WorkerBinaryMissingError } from './index.ts';

/** Anything that could hold a secret out of a message: URLs (REDIS_URL carries the password) and long opaque tokens. */
function redact(message: string): string {
  return message
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, '<url>')
    .replace(/[A-Za-z0-9+/=_-]{32,}/g, '<redacted>')
    .split('\n')[0]!
    .slice(0, 300);
}

/** Every start-up failure: one line on stderr and exit 2, which the systemd unit does not restart (RestartPreventExitStatus=2). */
function fail(message: string): never {
  console.error(`teahouse: ${message}`);
  process.exit(2);
}

const warnings = unknownVariables(process.env);

if (process.argv.includes('--check')) {
  try {
    const config = resolveConfig(configFromEnv());
    checkLocalAddresses(
      config,
      Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)),
    );
    const tls = config.tlsCert !== null && config.tlsKey !== null ? loadTlsFiles(config.tlsCert, config.tlsKey) : null;
    for (const warning of warnings) console.error(`teahouse: warning: ${warning}`);
    if (tls && tls.validTo.getTime() < Date.now()) console.error(`teahouse: warning: the TLS certificate expired on ${tls.validTo.toISOString()}`);
    console.log(`teahouse: configuration ok (port ${config.port}, metrics ${config.metricsHost}:${config.metricsPort}, ${config.redisUrl ? 'cluster mode' : 'alone'}${tls ? `, TLS until ${tls.validTo.toISOString()}` : ''})`);
    process.exit(0);
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : redact((error as Error).message));
  }
}

try {
  const relay = await startRelay({
    ...configFromEnv(),
    warnings,
    // The supervisor restarts a relay that exits non-zero (other than 2): a fresh process gets fresh workers.
    onUnrecoverable: () => process.exit(1),
  });
  const { log } = relay;
  // Before anything is printed: whoever reads the URL line may stop the relay at once (a supervisor, a test), and
  // a signal with no listener yet would kill it without the drain.
  let stopping = false;
  const stop = (signal: string, drain: boolean) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, drain ? 'draining, then shutting down' : 'telling clients and shutting down');
    const force = setTimeout(() => process.exit(1), (drain && relay.cluster ? relay.config.drainMs : 0) + 5_000);
    force.unref();
    (drain ? relay.drain() : relay.close()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT', false));
  process.on('SIGTERM', () => stop('SIGTERM', true));
  // A renewed certificate (certbot's deploy hook, `systemctl reload`) without a restart, so rooms go on.
  process.on('SIGHUP', () => {
    if (!relay.config.tlsCert) return log.warn('SIGHUP: no TLS_CERT to reload');
    try {
      relay.reloadTls();
    } catch (error) {
      log.error(`SIGHUP: ${(error as Error).message}; still serving the previous certificate`);
    }
  });
  // The two plain lines of a start, for the person at the terminal whatever LOG_LEVEL says; the rest is JSON.
  console.log(`Teahouse relay: open ${relay.url}/ in a browser`);
  // The relay still serves (the page asks for the build too, and a reload after it works): say it where the operator looks.
  if (!existsSync(join(relay.config.clientDir, 'index.html'))) {
    console.error(`teahouse: the client is not built (no ${relay.config.clientDir}/index.html): run "npm run setup"`);
  }
} catch (error) {
  const known = [ConfigError, WorkerBinaryMissingError, RedisUnreachableError, MediaPortError, MetricsPortError];
  if (known.some((kind) => error instanceof kind)) fail((error as Error).message);
  const { code, port, address } = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (code === 'EADDRINUSE') fail(`port ${port} is in use (another relay?); stop it or set PORT to a free one`);
  if (code === 'EACCES') fail(`not allowed to listen on port ${port} (ports below 1024 need privileges); set PORT to 1024 or above`);
  if (code === 'EADDRNOTAVAIL') fail(`cannot listen on ${address}: not an address of this machine; set HOST to one of its addresses or 0.0.0.0`);
  // Anything else at start is still one line, without a stack or anything secret in it: a loop would only repeat it.
  fail(`could not start: ${(error as Error).name}: ${redact((error as Error).message)}`);
}
