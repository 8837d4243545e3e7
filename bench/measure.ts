/**
 * Measurement primitives shared by the benchmarks: a calibrated loop timed
 * with `process.hrtime.bigint`, repeated, reported as the median; bytes
 * allocated per call, read from the young generation.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';

type Loop = (fn: () => void, iterations: number) => number;

/**
 * A timing loop compiled afresh for each measured function: one shared loop
 * would see many callees, turn its call site megamorphic and stop inlining,
 * which would flatter whichever case happened to run first.
 */
function freshLoop(): Loop {
  return new Function(
    'fn',
    'iterations',
    'const t0 = process.hrtime.bigint(); for (let i = 0; i < iterations; i++) fn(); return Number(process.hrtime.bigint() - t0);',
  ) as Loop;
}

/** Nanoseconds per operation of `fn`, median of `reps` repetitions of `iterations` calls. */
export function nsPerOp(fn: () => void, iterations: number, reps = 7): number {
  return median(nsPerOpSamples(fn, iterations, reps));
}

/** Nanoseconds per operation of `fn` in each of `reps` repetitions of `iterations` calls, after a warm-up. */
export function nsPerOpSamples(fn: () => void, iterations: number, reps = 7): number[] {
  const loop = freshLoop();
  loop(fn, Math.min(iterations, 200_000)); // warm up, let the JIT settle
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) samples.push(loop(fn, iterations) / iterations);
  return samples;
}

/** `numerators[i] / denominators[i]` for each repetition: a ratio is taken per repetition, then spread. */
export function ratios(numerators: readonly number[], denominators: readonly number[]): number[] {
  if (numerators.length !== denominators.length) throw new Error(`ratios: ${numerators.length} numerators for ${denominators.length} denominators`);
  return numerators.map((n, i) => n / (denominators[i] as number));
}

/** `items` starting at index `offset` (mod length): for alternations whose first variant rotates, sample by sample. */
export function rotated<T>(items: readonly T[], offset: number): T[] {
  const n = items.length;
  return items.map((_, i) => items[(((i + offset) % n) + n) % n] as T);
}

/** What {@link youngBytesPerCall} read. */
export interface AllocationReading {
  /** Bytes per call in each window. */
  samples: number[];
  /** Windows during which the collector ran: their readings are meaningless (a scavenge empties the young generation). */
  collectedWindows: number;
}

/**
 * Bytes allocated per call of `fn`: the young generation's growth over
 * `calls` calls, in `reps` windows, each starting from a collected heap.
 *
 * Read from new space alone: every small allocation lands there first, while
 * the old spaces move by hundreds of KB across a window for reasons of their
 * own (the JIT's code and feedback, sweeping still under way after `gc()`),
 * which per call would read as allocation the call never made. Sound only if
 * no scavenge runs inside a window: run with a fixed young generation
 * (`--min-semi-space-size` = `--max-semi-space-size`, large enough for
 * `calls` times the largest allocation expected), and check
 * `collectedWindows`, which a GC observer counts. Needs `--expose-gc`.
 */
export async function youngBytesPerCall(fn: () => void, calls: number, reps = 5): Promise<AllocationReading> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('youngBytesPerCall: run with --expose-gc');
  const loop = new Function('fn', 'calls', 'for (let i = 0; i < calls; i++) fn();') as (fn: () => void, calls: number) => void;
  const collections: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) collections.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  loop(fn, calls); // warm up: the JIT's first tiers allocate what the steady state does not
  const windows: Array<[number, number]> = [];
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    gc();
    const t0 = performance.now();
    // Reading the statistics allocates their result (about 2 KB): read twice
    // to learn that cost, and subtract it from the window's growth.
    const reading = -newSpaceUsed() + newSpaceUsed();
    const before = newSpaceUsed();
    loop(fn, calls);
    const after = newSpaceUsed();
    windows.push([t0, performance.now()]);
    samples.push((after - before - reading) / calls);
  }
  // GC entries reach observers a task or more after the collection.
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const entry of observer.takeRecords()) collections.push(entry.startTime);
  observer.disconnect();
  const collectedWindows = windows.filter(([t0, t1]) => collections.some((at) => at >= t0 && at <= t1)).length;
  return { samples, collectedWindows };
}

function newSpaceUsed(): number {
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (space === undefined) throw new Error('youngBytesPerCall: this V8 reports no new_space');
  return space.space_used_size;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Min, median and max of a non-empty list of repetitions, rounded for JSON output: what every bench reports. */
export function spread(values: readonly number[], digits = 2): { min: number; median: number; max: number } {
  return { min: round(Math.min(...values), digits), median: round(median(values), digits), max: round(Math.max(...values), digits) };
}

/** The value at quantile `q` (0..1) of a list. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Rounds for JSON output: 3 significant decimals are plenty for ns figures. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Prints one benchmark's result as the single JSON line `bench/run.ts` collects. */
export function report(name: string, result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: name, node: process.version, ...result })}\n`);
}
