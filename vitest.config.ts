// vitest configuration: unit, integration and browser tests under test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    pool: 'forks',
    // Integration and browser tests start real relays and Chromium; two cores cannot run many at once.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Browser and relay checks poll for state that arrives over real networks on a busy 2-core machine.
    expect: { poll: { timeout: 15_000, interval: 100 } },
  },
});
