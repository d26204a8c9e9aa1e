// The relay's one log format: pino JSON lines, each with the relay's id and version, to stdout or a test's destination.
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';

/** package.json's version: on every line, and in teahouse_build_info, so a log or a scrape says what was running. */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/**
 * `relayId()` is read per line: a cluster relay learns its id after the first lines (Redis, workers) are written.
 * Lines carry counts, codes and the relay's own settings only: never a client's address, a room id, a URL with
 * credentials or a payload.
 */
export function createLog(level: string, relayId: () => string, destination?: { write(line: string): void }): Logger {
  const options = { level, base: { version: VERSION }, mixin: () => ({ relay: relayId() }) };
  return destination ? pino(options, destination) : pino(options);
}
