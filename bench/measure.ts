/**
 * Measurement primitives shared by the benchmarks: a calibrated loop timed
 * with `process.hrtime.bigint`, repeated, reported as the median.
 */

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
  const loop = freshLoop();
  loop(fn, Math.min(iterations, 200_000)); // warm up, let the JIT settle
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) samples.push(loop(fn, iterations) / iterations);
  return median(samples);
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
