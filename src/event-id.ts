/**
 * Event ids, `${runId}:${seq}`, written for every published event.
 *
 * Converting the seq to decimal is most of what a template literal costs
 * (~30 ns here, as much as the clock read: V8's number-to-string cache
 * misses on a counter), so the last two digits come from a table and the
 * rest is converted once per hundred events of a run.
 */

// '0'..'99' and '00'..'99', made on first use (a process that never opens a run makes none).
let plain: readonly string[] | undefined;
let padded: readonly string[] | undefined;

function tables(): void {
  const p: string[] = [];
  const d: string[] = [];
  for (let i = 0; i < 100; i++) {
    p.push(String(i));
    d.push(i < 10 ? `0${i}` : String(i));
  }
  plain = p;
  padded = d;
}

/** @internal Writes the event ids of one run, in any order of seqs (a run that comes back continues its sequence). */
export class EventIdWriter {
  // `${runId}:`, and that followed by the hundreds of the last seq written.
  readonly #prefix: string;
  #hundreds = 0;
  #hundredsPrefix: string;

  constructor(runId: string) {
    this.#prefix = `${runId}:`;
    this.#hundredsPrefix = this.#prefix;
    if (plain === undefined) tables();
  }

  /** The id of the event `seq` (a positive safe integer) of this run: exactly `${runId}:${seq}`. */
  of(seq: number): string {
    // `%` and the division below are exact on safe integers.
    const rest = seq % 100;
    const hundreds = (seq - rest) / 100;
    if (hundreds === 0) return this.#prefix + (plain as readonly string[])[rest];
    if (hundreds !== this.#hundreds) {
      this.#hundreds = hundreds;
      this.#hundredsPrefix = this.#prefix + hundreds;
    }
    return this.#hundredsPrefix + (padded as readonly string[])[rest];
  }
}
