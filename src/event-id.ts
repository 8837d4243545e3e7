/**
 * Event ids, `${runId}:${seq}`, written for every published event.
 *
 * Converting the seq to decimal was most of what the template literal cost
 * (V8's number-to-string cache misses on a counter): 30-40 ns per id here,
 * as much as the clock read. From tables, 10: a run's first hundred ids are
 * its id and one of `:0`..`:99`; past that, the run's record keeps
 * `${runId}:${hundreds}`, converted once per hundred events, and appends
 * one of `00`..`99`.
 *
 * That state is two fields of the run's record, not an object of its own:
 * made lazily in `publish`, such an object got TurboFan's code for it thrown
 * away at every GC ("weak objects" deopts), and publishing to a run cost 250
 * ns instead of 90 (bench/retention.bench.ts, its existing-run baseline).
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

/** @internal What a run keeps to write its ids past its first hundred: the hundreds of the last such seq, and `${runId}:${hundreds}`. */
export interface EventIdState {
  readonly runId: string;
  idHundreds: number;
  idPrefix: string;
}

/** @internal The id of event `seq` (a positive safe integer) of the run: exactly `${runId}:${seq}`. */
export function eventIdOf(run: EventIdState, seq: number): string {
  if (colonAndSeq.length === 0) tables();
  // `%` and the division are exact on safe integers.
  const rest = seq % 100;
  const hundreds = (seq - rest) / 100;
  if (hundreds === 0) return run.runId + (colonAndSeq[rest] as string);
  if (hundreds !== run.idHundreds) {
    run.idHundreds = hundreds;
    run.idPrefix = `${run.runId}:${hundreds}`;
  }
  return run.idPrefix + (twoDigits[rest] as string);
}
