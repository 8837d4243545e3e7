/**
 * The bridge's memory: which OpenTelemetry span stands for which step of
 * which run, bounded in every direction.
 *
 * Spans are keyed by run id, then by our span id (never by tool name, so two
 * concurrent calls of one tool are two entries). Per-run state is dropped
 * when the run ends; the number of runs, of open spans per run and of ended
 * spans remembered per run are all capped.
 */
import { context, trace, type Attributes, type Context, type Span, type SpanContext } from './api.js';
import { now } from '../clock.js';
import type { EventData } from '../index.js';
import { Ring } from '../ring.js';
import { OpenSpans } from './open-spans.js';
import type { McpStep } from './mapping.js';
import type { TokenCost } from '../prices.js';
import { addCount, type TokenCounts } from './token-counts.js';

/**
 * What kind of step a span stands for, named for the event family that opens
 * it (`agent.model.*` is `model`; its span's GenAI operation is `chat`), and
 * `workflow` for a run's own root span.
 */
export type StepKind = 'agent' | 'model' | 'tool' | 'fanout' | 'workflow';

/** One open span and what its closing event needs to finish it. */
export class SpanEntry {
  readonly span: Span;
  /** The span's own context (its parent's context with this span set): parent of its children, and where its body runs. */
  readonly ctx: Context;
  readonly kind: StepKind;
  /** Start time, epoch ms (the opening event's timestamp, our clock). */
  readonly startTime: number;
  /** Start time on the wall clock the SDK uses (see span-time.ts); later times of the span are exact offsets from it. */
  readonly wallStart: number;
  /** The enclosing step's entry while it is open, whose end must not come before this one's. */
  readonly parent: SpanEntry | undefined;
  /** Latest wall-clock end of an ended child: the span ends no earlier. */
  childEnd = 0;
  /** The nearest enclosing `invoke_agent` (this entry itself for an agent), where token usage is summed. */
  readonly agent: SpanEntry | undefined;
  /** Its `gen_ai.client.operation.duration` attributes as it started (see `StepSpan`); undefined when not measured. */
  readonly durationAttributes: Attributes | undefined;
  /** A step made over MCP: its end sets `rpc.response.status_code` and records the MCP duration metric. */
  readonly mcp: McpStep | undefined;
  /**
   * True for an agent invocation or a workflow (a fan-out, a run's own root)
   * and for every step inside one: an invocation opened under such an entry
   * is nested (the latest conventions' `gen_ai.invocation.is_nested`).
   */
  readonly inInvocation: boolean;
  inputTokens = 0;
  outputTokens = 0;
  cacheReadInputTokens = 0;
  cacheCreationInputTokens = 0;
  reasoningOutputTokens = 0;
  hasUsage = false;
  /**
   * A model call's cost (`chat` spans only): the sum of its tokens events'
   * costs, undefined while none came. `costMixed` once two of them were in
   * different currencies, or their sum is too large to be finite: then the
   * span carries no cost (they cannot be added; the attribute is finite).
   */
  cost: TokenCost | undefined = undefined;
  costMixed = false;

  constructor(
    span: Span,
    ctx: Context,
    kind: StepKind,
    startTime: number,
    wallStart: number,
    parent: SpanEntry | undefined,
    agent: SpanEntry | undefined,
    durationAttributes: Attributes | undefined,
    mcp: McpStep | undefined = undefined,
  ) {
    this.span = span;
    this.ctx = ctx;
    this.kind = kind;
    this.startTime = startTime;
    this.wallStart = wallStart;
    this.parent = parent;
    this.agent = kind === 'agent' ? this : agent;
    this.durationAttributes = durationAttributes;
    this.mcp = mcp;
    this.inInvocation = kind === 'agent' || kind === 'fanout' || kind === 'workflow' || parent?.inInvocation === true;
  }

  /** The wall-clock time of `eventTime` (our clock) on this span's time base. */
  wallTime(eventTime: number): number {
    return this.wallStart + (eventTime - this.startTime);
  }

  /**
   * Adds one model call's checked tokens (see token-counts.ts: a count that
   * was not one is undefined and adds nothing) to this span's totals, each
   * capped at `Number.MAX_SAFE_INTEGER`: an attribute is never a string,
   * negative, NaN or Infinity.
   */
  addUsage(counts: TokenCounts): void {
    this.hasUsage = true;
    this.inputTokens = addCount(this.inputTokens, counts.inputTokens);
    this.outputTokens = addCount(this.outputTokens, counts.outputTokens);
    this.cacheReadInputTokens = addCount(this.cacheReadInputTokens, counts.cacheReadInputTokens);
    this.cacheCreationInputTokens = addCount(this.cacheCreationInputTokens, counts.cacheCreationInputTokens);
    this.reasoningOutputTokens = addCount(this.reasoningOutputTokens, counts.reasoningOutputTokens);
  }

  /** Adds one model call's cost (checked) to this span's; see {@link SpanEntry.cost}. */
  addCost(cost: TokenCost): void {
    const sum = this.cost;
    if (sum === undefined) {
      this.cost = { amount: cost.amount, currency: cost.currency, source: cost.source };
    } else if (sum.currency !== cost.currency) {
      this.costMixed = true;
    } else if (!Number.isFinite(sum.amount + cost.amount)) {
      // Each amount is finite (checked), their sum need not be (hand-made events): no cost rather than Infinity.
      this.costMixed = true;
    } else {
      sum.amount += cost.amount;
      // Part computed here makes the sum computed here.
      if (cost.source === 'local') sum.source = 'local';
    }
  }
}

/** What the table asks of its owner when a bound makes it let go of a run or a span. */
export interface Eviction {
  /** Ends a run the table drops (the oldest, past `maxRuns`), with everything it left open. */
  evictRun(run: RunTrace, at: number): void;
  /** Ends an open span the table dropped (its run's oldest, past `maxSpansPerRun`); it is already out of the table. */
  evictSpan(entry: SpanEntry, at: number): void;
}

/**
 * Every run the bridge follows and its open spans, by run id then span id;
 * oldest first in both, which is the order bounds evict in.
 */
export class SpanTable {
  readonly #runs = new Map<string, RunTrace>();
  // The run of the last lookup: a run's events come in bursts, and a string
  // compare of the same id object is cheaper than hashing into the map.
  #recent: RunTrace | undefined;
  // Runs that ended recently: their late events (a tool that ignored the
  // abort and finished after the run) must not reopen them.
  readonly #finished = new BoundedSet(4096);
  readonly #ignored = new BoundedSet(4096);
  readonly #maxRuns: number;
  readonly #maxSpansPerRun: number;
  readonly #eviction: Eviction;

  constructor(maxRuns: number, maxSpansPerRun: number, eviction: Eviction) {
    this.#maxRuns = maxRuns;
    this.#maxSpansPerRun = maxSpansPerRun;
    this.#eviction = eviction;
  }

  /** The run followed under `runId`, if any. */
  run(runId: string): RunTrace | undefined {
    const recent = this.#recent;
    if (recent !== undefined && recent.runId === runId) return recent;
    const run = this.#runs.get(runId);
    if (run !== undefined) this.#recent = run;
    return run;
  }

  /** The open span of step `spanId` in run `runId`, if any. */
  entry(runId: string, spanId: string | undefined): SpanEntry | undefined {
    return spanId === undefined ? undefined : this.run(runId)?.open.get(spanId);
  }

  /** Follows a run from its start (the caller has finished any run still followed under its id). */
  start(runId: string, parentCtx: Context, name: string | undefined, startTime: number): RunTrace {
    this.#finished.delete(runId);
    return this.#add(runId, parentCtx, name, startTime);
  }

  /**
   * The run a step's opening event belongs to. A run that began before the
   * bridge was attached is followed from here, under the context active now;
   * a run that already finished is not reopened (undefined).
   */
  follow(runId: string, startTime: number): RunTrace | undefined {
    const run = this.run(runId);
    if (run !== undefined) return run;
    return this.#finished.has(runId) || this.#ignored.has(runId) ? undefined : this.#add(runId, context.active(), undefined, startTime);
  }

  /** Never follows run `runId` (one relayed from another process, which exports it itself). */
  ignore(runId: string): void {
    this.#ignored.add(runId);
  }

  /** True for a run given to {@link SpanTable.ignore} (among the last 4096). */
  ignores(runId: string): boolean {
    return this.#ignored.has(runId);
  }

  #add(runId: string, parentCtx: Context, name: string | undefined, startTime: number): RunTrace {
    if (this.#runs.size >= this.#maxRuns) {
      const oldest = this.#runs.values().next().value;
      if (oldest !== undefined) this.#eviction.evictRun(oldest, now());
    }
    const run = new RunTrace(runId, parentCtx, name, startTime);
    this.#runs.set(runId, run);
    return run;
  }

  /** Stops following `run`: its later events are ignored. Its open spans stay in `run.open` for the caller to end. */
  finish(run: RunTrace): void {
    if (this.#recent === run) this.#recent = undefined;
    this.#runs.delete(run.runId);
    this.#finished.add(run.runId);
  }

  /** Adds an open span to its run; past `maxSpansPerRun`, the run's oldest open span is evicted first. */
  insert(run: RunTrace, spanId: string, entry: SpanEntry, at: number): void {
    if (run.open.size >= this.#maxSpansPerRun) {
      const [oldestId, oldest] = run.open.oldest() as [string, SpanEntry];
      this.release(run, oldestId, oldest);
      this.#eviction.evictSpan(oldest, at);
    }
    run.open.add(spanId, entry);
  }

  /** Takes step `spanId`'s span out of the table; undefined when it is not open (never seen, or already ended). */
  take(runId: string, spanId: string | undefined): SpanEntry | undefined {
    if (spanId === undefined) return undefined;
    const run = this.run(runId);
    const entry = run?.open.get(spanId);
    if (run === undefined || entry === undefined) return undefined;
    this.release(run, spanId, entry);
    return entry;
  }

  /** Moves an open span to its run's ended spans, where late children still find it. */
  release(run: RunTrace, spanId: string, entry: SpanEntry): void {
    run.open.delete(spanId);
    run.rememberEnded(spanId, entry.span.spanContext());
  }

  /** The context a child of step `spanId` starts in: the step's own, its remembered span context once it ended, or the run's top. */
  contextOf(run: RunTrace, spanId: string): Context {
    const open = run.open.get(spanId);
    if (open !== undefined) return open.ctx;
    const ended = run.endedSpanContext(spanId);
    return ended === undefined ? (run.top ?? run.parentCtx) : trace.setSpanContext(run.parentCtx, ended);
  }

  /** The runs followed now, oldest first (a copy: finishing them changes the table). */
  runs(): RunTrace[] {
    return [...this.#runs.values()];
  }

  /** Forgets which runs finished (at shutdown: nothing is followed any more). */
  forgetFinished(): void {
    this.#finished.clear();
  }

  /** Runs followed and spans open right now. */
  stats(): { runs: number; openSpans: number } {
    let openSpans = 0;
    for (const run of this.#runs.values()) openSpans += run.open.size;
    return { runs: this.#runs.size, openSpans };
  }
}

/** Ended spans remembered per run so that late children still find their parent. */
const ENDED_PER_RUN = 1024;

/** One run the bridge is following. */
export class RunTrace {
  readonly runId: string;
  /** Parent of the run's top-level spans: the OTel context active where `runContext` was called. */
  readonly parentCtx: Context;
  /** Open spans by our span id, oldest first. */
  readonly open = new OpenSpans<SpanEntry>();
  /** The run's name and start (epoch ms), for a root span of its own. */
  readonly name: string | undefined;
  readonly startTime: number;
  /** The conversation the run serves (`run.started`'s `conversationId`), for its agent and model spans. */
  conversationId: string | undefined = undefined;
  /**
   * Parent of the run's top-level steps once the first one decided it: that
   * agent invocation's context, or the run's own root span's.
   */
  top: Context | undefined;
  /** The run's own root span, when its first top-level step was not an agent invocation. */
  root: SpanEntry | undefined;
  /**
   * True for a run started inside an agent invocation or a workflow of a run
   * this bridge follows (a nested run): its outermost invocation is nested too.
   */
  inInvocation = false;
  // Ended spans as (span id, span context) pairs in two rings that evict in
  // step, newest last. Written on every span end (two pushes, no allocation
  // once full), searched only on the rare miss of a child whose parent
  // already ended.
  readonly #endedIds = new Ring<string>(ENDED_PER_RUN);
  readonly #endedContexts = new Ring<SpanContext>(ENDED_PER_RUN);

  constructor(runId: string, parentCtx: Context, name: string | undefined, startTime: number) {
    this.runId = runId;
    this.parentCtx = parentCtx;
    this.name = name;
    this.startTime = startTime;
  }

  /** Remembers an ended span's identity (not the span: its attributes and events can be collected). */
  rememberEnded(spanId: string, spanContext: SpanContext): void {
    this.#endedIds.push(spanId);
    this.#endedContexts.push(spanContext);
  }

  /** The span context of an ended span of this run, if still remembered. */
  endedSpanContext(spanId: string): SpanContext | undefined {
    // Newest first: a late child most likely belongs to a recently ended step.
    const i = this.#endedIds.lastIndexOf(spanId);
    return i < 0 ? undefined : this.#endedContexts.at(i);
  }
}

/**
 * A set that forgets its oldest additions past `capacity`. An item deleted
 * and added again may be forgotten a little early (when its earlier
 * addition leaves the ring); for the bridge's memory of finished runs that
 * only means a very late event of a reused run id is followed again, within
 * the run cap.
 */
export class BoundedSet {
  readonly #items = new Set<string>();
  // Additions, oldest first; one that leaves the ring leaves the set.
  readonly #order: Ring<string>;

  constructor(capacity: number) {
    this.#order = new Ring(capacity);
  }

  add(item: string): void {
    if (this.#items.has(item)) return;
    const out = this.#order.push(item);
    if (out !== undefined) this.#items.delete(out);
    this.#items.add(item);
  }

  has(item: string): boolean {
    return this.#items.has(item);
  }

  /** Forgets `item` (its addition leaves the ring in its turn). */
  delete(item: string): void {
    this.#items.delete(item);
  }

  clear(): void {
    this.#items.clear();
    this.#order.clear();
  }
}
