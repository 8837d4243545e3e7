/**
 * A new run at the retention limit: publishing one event to a run id the bus
 * does not retain, into a bus already holding `maxRuns` runs, so that every
 * publish gives a run up. Target: flat in maxRuns (no scan), the 20,000-run
 * median within 1.5x of the 200-run one.
 *
 * Two regimes, because a bus remembers the last seq of every run it gave up
 * (`PastRuns`, exactly for the last max(1000, 10 x maxRuns), then folded):
 *
 * - fresh: fewer evictions per sample than that memory holds at the smallest
 *   size, so every size is measured in the same regime, and the figure is
 *   what choosing and giving up a run costs;
 * - long-running: after that memory is full and forgets a run per eviction,
 *   as on a bus that has run for a while. Measured at 200 and 2,000 only: at
 *   20,000 it takes over 200,000 evictions to get there.
 *
 * Baseline in the same process, on the same full bus: publishing to a run it
 * already retains (no eviction), so "new run at the limit" reads as a ratio
 * to an ordinary publish.
 */
import { EventBus, type StreamEvent } from '../dist/index.js';
import { median, report, round, spread } from './measure.js';

const SIZES = [200, 2_000, 20_000] as const;
const LONG_RUNNING_SIZES = [200, 2_000] as const;
const FRESH_EVICTIONS = 800; // per bus: under the 1,000 runs PastRuns remembers at maxRuns 200
const FRESH_BUSES = 4; // per sample, so that one sample times 3,200 evictions
const EXISTING = 20_000; // publishes per sample of the baseline
const ROUNDS = 10; // the first is warm-up and is dropped
const LONG_RUNNING_SAMPLES = 3;
const DATA = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };
const T0 = Date.now();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** How many runs a bus of `maxRuns` remembers exactly after giving them up (see `RunTable`'s constructor). */
const pastRunsCapacity = (maxRuns: number) => Math.max(1000, 10 * maxRuns);

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

/** Publishes to `count` new run ids; ns per publish. */
function newRuns(bus: EventBus, count: number): number {
  const ids = freshIds(count);
  const evictedBefore = bus.stats().evictedRuns;
  gc();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) bus.publish(makeEvent(ids[i] as string, i));
  const ns = Number(process.hrtime.bigint() - t0) / count;
  if (bus.stats().evictedRuns - evictedBefore !== count) throw new Error('every publish to a new run must evict one');
  return ns;
}

/** A bus holding `maxRuns` runs of one event each: the next new run evicts. */
function fullBus(maxRuns: number): EventBus {
  const bus = new EventBus({ maxRuns });
  for (const id of freshIds(maxRuns)) bus.publish(makeEvent(id, 0));
  return bus;
}

/** Fresh regime: ns per publish to a new run id at the limit (on fresh full buses), and per publish to a retained run. */
function freshSample(maxRuns: number): { newRun: number; existingRun: number } {
  let newRun = 0;
  let bus!: EventBus;
  for (let b = 0; b < FRESH_BUSES; b++) {
    bus = fullBus(maxRuns);
    newRun += newRuns(bus, FRESH_EVICTIONS) / FRESH_BUSES;
  }
  // The baseline, on the last of them: full, and past its first evictions.
  const evicted = bus.stats().evictedRuns;
  const existing = bus.runIds().at(-1) as string;
  const t0 = process.hrtime.bigint();
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
    const s = freshSample(size);
    if (r === 0) continue;
    newRun.get(size)?.push(s.newRun);
    existingRun.get(size)?.push(s.existingRun);
  }
}

// Long-running regime: past runs overflowing. Each sample covers as many
// evictions as PastRuns holds, so it spans its whole cycle of forgetting.
const longRunning = new Map<number, number[]>();
for (const size of LONG_RUNNING_SIZES) {
  const bus = fullBus(size);
  const capacity = pastRunsCapacity(size);
  newRuns(bus, 2 * capacity); // warm-up: fill PastRuns, then forget through it once
  longRunning.set(size, Array.from({ length: LONG_RUNNING_SAMPLES }, () => newRuns(bus, capacity)));
}

const byMaxRuns = (samples: Map<number, number[]>) => Object.fromEntries([...samples].map(([n, values]) => [n, spread(values)]));
const med = (samples: Map<number, number[]>, n: number) => median(samples.get(n) as number[]);
const flatFresh = med(newRun, 20_000) / med(newRun, 200);
const flatLongRunning = med(longRunning, 2_000) / med(longRunning, 200);
report('retention', {
  nsPerPublish: {
    newRunAtLimit: byMaxRuns(newRun),
    existingRun: byMaxRuns(existingRun),
    newRunAtLimitLongRunning: byMaxRuns(longRunning),
  },
  ratios: {
    newRunAtLimit20kVs200: round(flatFresh),
    newRunAtLimitLongRunning2kVs200: round(flatLongRunning),
    newRunAtLimitVsExistingRun: Object.fromEntries(SIZES.map((n) => [n, round(med(newRun, n) / med(existingRun, n))])),
  },
  targets: { newRunAtLimit20kVs200: '<= 1.5 (flat in maxRuns)', newRunAtLimitLongRunning2kVs200: '<= 1.5 (flat in maxRuns)' },
  ok: flatFresh <= 1.5 && flatLongRunning <= 1.5,
  okByRegime: { fresh: flatFresh <= 1.5, longRunning: flatLongRunning <= 1.5 },
  samples: { fresh: ROUNDS - 1, longRunning: LONG_RUNNING_SAMPLES },
});
