/**
 * A stream's events as lines: one {@link RunTree} per run, so that the
 * all-runs stream (`GET /events`) draws each run's tree and totals on its
 * own, each line labelled with its run.
 */
import type { StreamEvent } from '../events.js';
import { BoundedMap } from './bounded-map.js';
import { printable, printableEvent } from './printable.js';
import { lostLine, RunTree } from './run-tree.js';
import type { Style } from './style.js';

// Runs followed at once. A run's state goes when its `run.completed` arrives;
// one that never completes (its process died, or the stream invents run ids)
// is let go, least recently active first, past this many.
const MAX_TRACKED_RUNS = 1000;
// Longest label, in code points; the `run.started` line shows the whole name and id.
const MAX_LABEL = 16;
// A run id up to this long is its own label; a longer one (a UUID) is cut to ID_PREFIX.
const SHORT_ID = 16;
const ID_PREFIX = 8;

/** Options of {@link StreamPrinter}. */
export interface StreamPrinterOptions {
  readonly style: Style;
  /** Where each finished line goes (without its line end). */
  readonly write: (line: string) => void;
  /**
   * Label every line with its run from the first event: for the all-runs
   * stream. Without it, lines are labelled only once a second run shows up
   * (which a single run's stream never sends), so they never mix unlabelled.
   */
  readonly labelled: boolean;
}

interface TrackedRun {
  readonly tree: RunTree;
  readonly label: string;
}

/**
 * Prints a stream's events: per run, each run's own tree and totals. At most
 * 1000 runs are followed at once; past that the least recently active is
 * let go, with a line saying so.
 */
export class StreamPrinter {
  readonly #style: Style;
  readonly #write: (line: string) => void;
  readonly #runs = new BoundedMap<string, TrackedRun>(MAX_TRACKED_RUNS);
  // The labels of the tracked runs, so that two live runs never share one.
  readonly #labels = new Set<string>();
  #labelled: boolean;
  #firstRunId: string | undefined;
  // Labels are padded to the widest seen so far, so that concurrent trees line up.
  #width = 0;
  #sawCompletion = false;

  constructor(options: StreamPrinterOptions) {
    this.#style = options.style;
    this.#write = options.write;
    this.#labelled = options.labelled;
  }

  /** True once some run's `run.completed` was printed. */
  get sawCompletion(): boolean {
    return this.#sawCompletion;
  }

  /** Writes the lines of one event. */
  print(event: StreamEvent): void {
    const runId = event.runId;
    this.#firstRunId ??= runId;
    if (!this.#labelled && runId !== this.#firstRunId) this.#labelled = true;
    const e = printableEvent(event);
    // A loss report of the all-runs stream counts events of any run (it names only
    // the last one lost); it does not start tracking a run.
    if (event.eventType === 'stream.dropped' && !this.#runs.has(runId)) {
      this.#write(lostLine(this.#style, (e.data as { count?: unknown }).count));
      return;
    }
    const run = this.#runs.get(runId) ?? this.#track(event);
    const line = run.tree.line(e);
    if (line !== undefined) this.#write(`${this.#prefix(run.label)}${line}`);
    if (event.eventType === 'run.completed') {
      this.#sawCompletion = true;
      this.#runs.delete(runId);
      this.#labels.delete(run.label);
    }
  }

  #track(event: StreamEvent): TrackedRun {
    const run: TrackedRun = { tree: new RunTree(this.#style), label: this.#labelFor(event) };
    const evicted = this.#runs.set(event.runId, run);
    this.#labels.add(run.label);
    if (evicted !== undefined) {
      const [, gone] = evicted;
      this.#labels.delete(gone.label);
      // Said, so that a run which goes on later, with its totals started over, is not a mystery.
      this.#write(`${this.#prefix(gone.label)}${this.#style.red(`⚠ no longer followed: more than ${this.#runs.capacity} runs open at once`)}`);
    }
    return run;
  }

  /** `[label] ` padded to the widest label, or nothing while lines are unlabelled. */
  #prefix(label: string): string {
    if (!this.#labelled) return '';
    const tag = `[${label}]`;
    if (tag.length > this.#width) this.#width = tag.length;
    return `${this.#style.bold(tag)}${' '.repeat(this.#width - tag.length + 1)}`;
  }

  /**
   * A short name for the run: its `run.started` name, else its id (cut to a
   * prefix when long, as a UUID is); `#2`, `#3` ... when a live run already
   * has it. Made printable: names and ids come from the stream.
   */
  #labelFor(event: StreamEvent): string {
    const name = event.eventType === 'run.started' ? (event.data as { name?: unknown }).name : undefined;
    let base: string;
    if (typeof name === 'string' && name !== '') {
      base = cut(name, MAX_LABEL);
    } else {
      base = event.runId.length <= SHORT_ID ? event.runId : cut(event.runId, ID_PREFIX);
    }
    base = printable(base);
    let label = base;
    for (let n = 2; this.#labels.has(label); n++) label = `${base}#${n}`;
    return label;
  }
}

/** `text` cut to `max` code points, with `…` when it was longer. */
function cut(text: string, max: number): string {
  // Slice first: a hostile name can be large, and only its start is shown.
  const points = Array.from(text.slice(0, 2 * max + 2));
  return points.length <= max ? points.join('') : `${points.slice(0, max).join('')}…`;
}
