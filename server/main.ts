// `npm start`: the relay with configuration from the environment; SIGINT/SIGTERM shut it down within seconds, SIGHUP
// re-reads the TLS certificate.
import { configFromEnv, ConfigError, RedisUnreachableError, startRelay, WorkerBinaryMissingError } from './index.ts';

try {
  const relay = await startRelay(configFromEnv());
  console.log(`Teahouse relay: open ${relay.url}/ in a browser`);
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
  if (error instanceof ConfigError || error instanceof WorkerBinaryMissingError || error instanceof RedisUnreachableError) {
    console.error(`teahouse: ${error.message}`);
    process.exit(2);
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error('teahouse: the port is in use; set PORT to another one');
    process.exit(2);
  }
  throw error;
}
