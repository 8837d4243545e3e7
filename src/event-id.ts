/**
 * Event ids, `${runId}:${seq}`, written for every published event.
 *
 * Converting the seq to decimal was most of what the template literal cost
 * (V8's number-to-string cache misses on a counter): 30-40 ns per id here,
 * as much as the clock read. From tables, 10: a run's first hundred ids are
 * its id and one of `:0`..`:99`; past that, `${runId}:${hundreds}` is
 * converted once per hundred events of a run publishing in a row (one
 * entry, kept here for every bus: the prefix depends on nothing else), and
 * gets one of `00`..`99` appended. Runs taking turns past their first
 * hundred convert it at each turn, as the template did.
 *
 * Nothing is kept per run. With two fields more on each run's record (16
 * bytes), a new run at maxRuns 20,000 cost about 10% more (1,320 ns against
 * 1,190, median of four runs of bench/retention.bench.ts); with an object
 * per run, made lazily in `publish`, TurboFan's code for it was thrown away
 * at every GC ("weak objects" deopts), and publishing to a run cost 250 ns
 * instead of 90.
 */

// ':0'..':99' and '00'..'99', made on first use (a process that never opens a run makes none).
let colonAndSeq: readonly string[] = [];
let twoDigits: readonly string[] = [];

function tables(): void {
  const small: string[] = [];
  const pairs: string[] = [];
  for (let i = 0; i < 100; i++) {
    small.push(`:${i}`);
    pairs.push(i < 10 ? `0${i}` : String(i));
  }
  colonAndSeq = small;
  twoDigits = pairs;
}

// The last prefix past a first hundred: `${prefixRunId}:${prefixHundreds}`.
let prefixRunId = '';
let prefixHundreds = 0;
let prefix = '';

/** @internal The id of event `seq` (a positive safe integer) of run `runId`: exactly `${runId}:${seq}`. */
export function eventIdOf(runId: string, seq: number): string {
  if (colonAndSeq.length === 0) tables();
  // `%` and the division are exact on safe integers.
  const rest = seq % 100;
  const hundreds = (seq - rest) / 100;
  if (hundreds === 0) return runId + (colonAndSeq[rest] as string);
  if (hundreds !== prefixHundreds || runId !== prefixRunId) {
    prefixRunId = runId;
    prefixHundreds = hundreds;
    prefix = `${runId}:${hundreds}`;
  }
  return prefix + (twoDigits[rest] as string);
}
