/**
 * Retention bound: 100,000 runs through the process-wide bus, ten events
 * each, half of them left open. The heap after GC must stay flat once the
 * 200-run limit is reached.
 */
import { emit, getEventBus, runContext } from '../dist/index.js';
import { report, round } from './measure.js';

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return round(process.memoryUsage().heapUsed / 1048576);
}

const RUNS = 100_000;
const checkpoints: Record<string, number> = {};
const started = process.hrtime.bigint();
for (let i = 1; i <= RUNS; i++) {
  await runContext(async (runId) => {
    for (let k = 0; k < 8; k++) emit('bench.step', { k, text: 'x'.repeat(64) });
    if (i % 2 === 0) getEventBus().closeStream(runId);
  });
  if (i === 1_000 || i === 10_000 || i === 50_000 || i === RUNS) checkpoints[`after${i}Runs`] = heapMiB();
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const stats = getEventBus().stats();
report('bus-memory', {
  heapUsedMiBAfterGc: checkpoints,
  growthFrom10kTo100kRunsMiB: round((checkpoints.after100000Runs as number) - (checkpoints.after10000Runs as number)),
  retainedRuns: stats.runs,
  evictedRuns: stats.evictedRuns,
  runsPerSecond: Math.round(RUNS / seconds),
});
