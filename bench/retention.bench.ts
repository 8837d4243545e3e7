/**
 * A new run at the retention limit: publishing one event to a run id the bus
 * does not retain, into a bus already holding `maxRuns` runs, so that every
 * publish gives a run up. Target: flat in maxRuns (no scan), the 20,000-run
 * median within 1.5x of the 200-run one.
 *
 * Baseline in the same process, on the same full bus: publishing to a run it
 * already retains (no eviction), so "new run at the limit" reads as a ratio
 * to an ordinary publish.
 */
import { EventBus, type StreamEvent } from '../dist/index.js';
import { median, report, round, spread } from './measure.js';

const SIZES = [200, 2_000, 20_000] as const;
const NEW_RUNS = 4_000; // publishes per sample, each to a new run id
const EXISTING = 20_000; // publishes per sample of the baseline
const ROUNDS = 6; // the first is warm-up and is dropped
const DATA = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };
const T0 = Date.now();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

// Ids are built ahead of time, so a sample times publish and not string
// concatenation; each sample gets ids the bus has never seen.
let nextId = 0;
function freshIds(count: number): string[] {
  return Array.from({ length: count }, () => `run-${(nextId++).toString(36)}`);
}

// Fresh event objects per publish, as emit makes them (see publish.bench.ts).
function makeEvent(runId: string, i: number): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType: 'agent.think', timestamp: T0 + i, spanId: undefined, parentSpanId: undefined, data: DATA };
}

/** A bus holding `maxRuns` runs of one event each: the next new run evicts. */
function fullBus(maxRuns: number): EventBus {
  const bus = new EventBus({ maxRuns });
  for (const id of freshIds(maxRuns)) bus.publish(makeEvent(id, 0));
  return bus;
}

/** ns per publish to a new run id at the limit, and per publish to a retained run, on one full bus. */
function sample(maxRuns: number): { newRun: number; existingRun: number } {
  const bus = fullBus(maxRuns);
  const ids = freshIds(NEW_RUNS);
  gc();
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < NEW_RUNS; i++) bus.publish(makeEvent(ids[i] as string, i));
  const newRun = Number(process.hrtime.bigint() - t0) / NEW_RUNS;
  const evicted = bus.stats().evictedRuns;
  if (evicted !== NEW_RUNS || bus.stats().runs !== maxRuns) throw new Error(`expected ${NEW_RUNS} evictions at ${maxRuns} runs, got ${evicted}`);
  const existing = ids[NEW_RUNS - 1] as string;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < EXISTING; i++) bus.publish(makeEvent(existing, i));
  const existingRun = Number(process.hrtime.bigint() - t0) / EXISTING;
  if (bus.stats().evictedRuns !== evicted) throw new Error('the baseline must not evict');
  return { newRun, existingRun };
}

// Sizes interleaved over several rounds, each from a collected heap: order
// and GC timing move single figures; the spread shows by how much.
const newRun = new Map<number, number[]>(SIZES.map((n) => [n, []]));
const existingRun = new Map<number, number[]>(SIZES.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const size of SIZES) {
    const s = sample(size);
    if (r === 0) continue;
    newRun.get(size)?.push(s.newRun);
    existingRun.get(size)?.push(s.existingRun);
  }
}

const byMaxRuns = (samples: Map<number, number[]>) => Object.fromEntries(SIZES.map((n) => [n, spread(samples.get(n) as number[])]));
const med = (samples: Map<number, number[]>, n: number) => median(samples.get(n) as number[]);
const flatness = med(newRun, 20_000) / med(newRun, 200);
report('retention', {
  nsPerPublish: {
    newRunAtLimit: byMaxRuns(newRun),
    existingRun: byMaxRuns(existingRun),
  },
  ratios: {
    newRunAtLimit20kVs200: round(flatness),
    newRunAtLimitVsExistingRun: Object.fromEntries(SIZES.map((n) => [n, round(med(newRun, n) / med(existingRun, n))])),
  },
  targets: { newRunAtLimit20kVs200: '<= 1.5 (flat in maxRuns)' },
  ok: flatness <= 1.5,
  samples: ROUNDS - 1,
});
