import { defineConfig } from 'vitest/config';

// e2e suites against real backends (Jaeger v2 + OpenTelemetry Collector,
// started natively by scripts/backends.sh; see test/e2e/backends.ts).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Each suite starts its own backends; one at a time on 2 cores.
    fileParallelism: false,
    maxWorkers: 1,
    // Exact heap readings for the memory checks (redis-outage).
    execArgv: ['--expose-gc'],
  },
});
