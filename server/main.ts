// `npm start`: the relay with configuration from the environment; SIGINT/SIGTERM shut it down within seconds, SIGHUP
// re-reads the TLS certificate.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { configFromEnv, ConfigError, MediaPortError, RedisUnreachableError, startRelay, WorkerBinaryMissingError } from './index.ts';

try {
  const relay = await startRelay(configFromEnv());
  console.log(`Teahouse relay: open ${relay.url}/ in a browser`);
  // The relay still serves (the page asks for the build too, and a reload after it works): say it where the operator looks.
  if (!existsSync(join(relay.config.clientDir, 'index.html'))) {
    console.error(`teahouse: the client is not built (no ${relay.config.clientDir}/index.html): run "npm run setup"`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: telling clients and shutting down`);
    const force = setTimeout(() => process.exit(1), 5_000);
    force.unref();
    relay.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A renewed certificate (certbot's deploy hook, `systemctl reload`) without a restart, so rooms go on.
  process.on('SIGHUP', () => {
    if (!relay.config.tlsCert) return console.log('SIGHUP: no TLS_CERT to reload');
    try {
      relay.reloadTls();
      console.log('SIGHUP: TLS certificate reloaded');
    } catch (error) {
      console.error(`teahouse: SIGHUP: ${(error as Error).message}; still serving the previous certificate`);
    }
  });
} catch (error) {
  const known = [ConfigError, WorkerBinaryMissingError, RedisUnreachableError, MediaPortError];
  if (known.some((kind) => error instanceof kind)) {
    console.error(`teahouse: ${(error as Error).message}`);
    process.exit(2);
  }
  const { code, port } = error as NodeJS.ErrnoException & { port?: number };
  if (code === 'EADDRINUSE') {
    console.error(`teahouse: port ${port} is in use (another relay?); stop it or set PORT to a free one`);
    process.exit(2);
  }
  if (code === 'EACCES') {
    console.error(`teahouse: not allowed to listen on port ${port} (ports below 1024 need privileges); set PORT to 1024 or above`);
    process.exit(2);
  }
  throw error;
}
