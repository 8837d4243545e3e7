/**
 * A stream's events as lines: one {@link RunTree} per run, so that the
 * all-runs stream (`GET /events`) draws each run's tree and totals on its
 * own, each line labelled with its run. A child run (one whose `run.started`
 * names a followed run as `parentRunId`) is drawn inside its parent's tree,
 * under the step that started it, with the parent's label.
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
   * stream. Without it, lines are labelled only once a second tree shows up
   * (which a single run's stream never sends), so they never mix unlabelled;
   * a child run drawn inside the first run's tree is part of that tree and
   * does not start the labels.
   */
  readonly labelled: boolean;
}

interface TrackedRun {
  readonly tree: RunTree;
  readonly label: string;
  /** The run at the top of the tree this run is drawn in: itself, unless it is a nested child run. */
  readonly root: string;
}

/**
 * Prints a stream's events: per run, each run's own tree and totals. At most
 * 1000 runs are followed at once; past that the least recently active is
 * let go, with a line saying so.
 *
 * A run is drawn inside another's tree when its first event is its
 * `run.started` and that names, as `parentRunId`, a run followed at that
 * moment: its lines start one level deeper than the parent's step named by
 * `parentSpanId` while that step is open, else one deeper than the parent's
 * own run lines (beside its top-level steps). The depth is fixed then: the
 * child stays there when the step or the parent run ends first. Otherwise
 * (its parent unknown, gone or let go, or the stream joined after its
 * start) a run is a tree of its own. A nested run shares its parent's label
 * and keeps its own token totals. Since a parent must already be followed
 * when its child starts, nesting cannot loop (a run naming itself or a
 * later run is a tree of its own), and no line is indented deeper than 32
 * levels.
 */
export class StreamPrinter {
  readonly #style: Style;
  readonly #write: (line: string) => void;
  readonly #runs = new BoundedMap<string, TrackedRun>(MAX_TRACKED_RUNS);
  // How many tracked runs hold each label: a tree's runs share one, and it is
  // free for another tree only once none of them is followed any more (a
  // child can outlive its parent), so two live trees never share one.
  readonly #labels = new Map<string, number>();
  #labelled: boolean;
  // The top run of the first tree seen: lines go unlabelled until another tree shows up.
  #firstRoot: string | undefined;
  // Labels are padded to the widest seen so far, so that concurrent trees line up.
  #width = 0;
  #sawCompletion = false;

  constructor(options: StreamPrinterOptions) {
    this.#style = options.style;
    this.#write = options.write;
    this.#labelled = options.labelled;
  }

  /** True once the `run.completed` of a run drawn as a tree of its own (not nested in another) was printed. */
  get sawCompletion(): boolean {
    return this.#sawCompletion;
  }

  /** Writes the lines of one event. */
  print(event: StreamEvent): void {
    const runId = event.runId;
    const e = printableEvent(event);
    let run = this.#runs.get(runId);
    if (run === undefined) {
      // A loss report of the all-runs stream counts events of any run (it names only
      // the last one lost); it does not start tracking a run.
      if (event.eventType === 'stream.dropped') {
        this.#seeTree(runId);
        this.#write(lostLine(this.#style, (e.data as { count?: unknown }).count));
        return;
      }
      run = this.#track(event);
    } else {
      this.#seeTree(run.root);
    }
    const line = run.tree.line(e);
    if (line !== undefined) this.#write(`${this.#prefix(run.label)}${line}`);
    if (event.eventType === 'run.completed') {
      if (run.root === runId) this.#sawCompletion = true;
      this.#runs.delete(runId);
      this.#release(run.label);
    }
  }

  /** Starts the labels when `root` is not the first tree's: two trees' lines must not mix unlabelled. */
  #seeTree(root: string): void {
    this.#firstRoot ??= root;
    if (root !== this.#firstRoot) this.#labelled = true;
  }

  #track(event: StreamEvent): TrackedRun {
    const runId = event.runId;
    const parent = this.#parentOf(event);
    // Raw, not printable(): the ids are map keys, as the events' span ids are.
    const run: TrackedRun =
      parent === undefined
        ? { tree: new RunTree(this.#style), label: this.#labelFor(event), root: runId }
        : { tree: new RunTree(this.#style, parent.tree.childDepth((event.data as { parentSpanId?: unknown }).parentSpanId)), label: parent.label, root: parent.root };
    // Before the eviction line, which is labelled once a second tree shows up.
    this.#seeTree(run.root);
    this.#labels.set(run.label, (this.#labels.get(run.label) ?? 0) + 1);
    const evicted = this.#runs.set(runId, run);
    if (evicted !== undefined) {
      const [, gone] = evicted;
      this.#release(gone.label);
      // Said, so that a run which goes on later, with its totals started over, is not a mystery.
      this.#write(`${this.#prefix(gone.label)}${this.#style.red(`⚠ no longer followed: more than ${this.#runs.capacity} runs open at once`)}`);
    }
    return run;
  }

  /**
   * The followed run whose tree `event`'s run is drawn in, or undefined for a
   * tree of its own. Only a `run.started` nests (a run first seen later has
   * no parent to read), and only under a run already followed: the run
   * itself is not yet, so a run naming itself is a tree of its own.
   */
  #parentOf(event: StreamEvent): TrackedRun | undefined {
    if (event.eventType !== 'run.started') return undefined;
    const parentRunId = (event.data as { parentRunId?: unknown } | null)?.parentRunId;
    return typeof parentRunId === 'string' ? this.#runs.get(parentRunId) : undefined;
  }

  /** One run fewer holds `label`; with none, another tree may take it. */
  #release(label: string): void {
    const holders = (this.#labels.get(label) ?? 1) - 1;
    if (holders > 0) this.#labels.set(label, holders);
    else this.#labels.delete(label);
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
