/**
 * `GET <base>/runs`: the runs a source retains, one summary each, as JSON.
 *
 * Why it exists: the all-runs stream (`GET /events`) has neither history nor
 * resume (its frames carry no `id:`, since sequence numbers are per run). A
 * console that opens after some runs started, or whose connection dropped
 * for a while, would otherwise show those runs late, nameless or stuck at
 * "running". It reads this list when it connects and after every reconnect,
 * and keeps each run's summary with the higher `lastSeq`, so a row is never
 * missing and never doubled.
 *
 * Served only beside the all-runs stream (`allRuns: true`), and authorized
 * like it (`authorize(request, undefined)`): both show every run. A summary
 * is computed from the retained history only when asked, so publishing pays
 * nothing for it. The runs come from the source's `retainedRuns()` (the
 * bus's retained runs; the Redis source's most recently indexed ones); a
 * source without it answers 501, and the console falls back to the live stream.
 */
import type { StreamEvent } from '../events.js';
import type { RetainedRun } from '../source.js';
import { readTokenCost } from '../prices.js';

/** What the route says of one retained run. */
export interface RunSummary {
  runId: string;
  /** `run.started`'s `name`. */
  name?: string;
  /** Set on a child run: the run and the step (span) that started it. */
  parentRunId?: string;
  parentSpanId?: string;
  /** `running` until `run.completed` says otherwise. */
  status: 'running' | 'ok' | 'error' | 'aborted';
  /** `run.completed`'s error text. */
  error?: string;
  /** Epoch ms of `run.started` (else of the oldest retained event). */
  startedAt?: number;
  /** Epoch ms of `run.completed`. */
  endedAt?: number;
  /** `run.completed`'s `durationMs`. */
  durationMs?: number;
  /** The run's last sequence number: which of two summaries is newer. */
  lastSeq: number;
  /** True when history starts at seq 1, so the token totals cover the whole run. */
  complete: boolean;
  /** True when the run's stream is still open. */
  open: boolean;
  /** Token totals by model, from `agent.tokens.used`. */
  tokens: Record<string, { input: number; output: number }>;
  /**
   * The run's cost by model, then by ISO 4217 currency: the sums of the
   * `cost` its `agent.tokens.used` events carry (two currencies never added;
   * a sum too large to be finite left out).
   */
  cost: Record<string, Record<string, number>>;
  /** Token totals by model of the `agent.tokens.used` events that carry no cost (what a console may price from its own table). */
  uncosted: Record<string, { input: number; output: number }>;
}

// (model, currency) pairs a summary's cost lists; a history naming more is not believed past these.
const MAX_COST_ENTRIES = 64;

const STATUSES: ReadonlySet<string> = new Set(['ok', 'error', 'aborted']);

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** @internal One run's summary from its retained history (oldest first). Payloads are read defensively: they came from user code. */
export function summarizeRun(runId: string, history: readonly StreamEvent[], open: boolean): RunSummary {
  const summary: RunSummary = {
    runId,
    status: 'running',
    lastSeq: history.at(-1)?.seq ?? 0,
    complete: history[0]?.seq === 1,
    open,
    // No prototype: a model named `__proto__` is a key like any other.
    tokens: Object.create(null) as RunSummary['tokens'],
    cost: Object.create(null) as RunSummary['cost'],
    uncosted: Object.create(null) as RunSummary['uncosted'],
  };
  let costEntries = 0;
  if (history[0] !== undefined) summary.startedAt = history[0].timestamp;
  for (const event of history) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.eventType) {
      case 'run.started': {
        summary.startedAt = event.timestamp;
        const name = text(data.name);
        if (name !== undefined) summary.name = name;
        const parentRunId = text(data.parentRunId);
        if (parentRunId !== undefined) summary.parentRunId = parentRunId;
        const parentSpanId = text(data.parentSpanId);
        if (parentSpanId !== undefined) summary.parentSpanId = parentSpanId;
        break;
      }
      case 'run.completed': {
        const status = text(data.status);
        summary.status = status !== undefined && STATUSES.has(status) ? (status as RunSummary['status']) : 'error';
        const error = text(data.error);
        if (error !== undefined) summary.error = error;
        summary.endedAt = event.timestamp;
        if (typeof data.durationMs === 'number') summary.durationMs = data.durationMs;
        break;
      }
      case 'agent.tokens.used': {
        const model = text(data.model) ?? '?';
        const totals = (summary.tokens[model] ??= { input: 0, output: 0 });
        totals.input += count(data.inputTokens);
        totals.output += count(data.outputTokens);
        const cost = readTokenCost(data.cost);
        if (cost === undefined) {
          const uncosted = (summary.uncosted[model] ??= { input: 0, output: 0 });
          uncosted.input += count(data.inputTokens);
          uncosted.output += count(data.outputTokens);
        } else {
          const byCurrency = summary.cost[model];
          if (byCurrency !== undefined && Object.hasOwn(byCurrency, cost.currency)) {
            byCurrency[cost.currency]! += cost.amount;
          } else if (costEntries < MAX_COST_ENTRIES) {
            // Made only here, within the bound: past it, a model gets no empty entry either.
            costEntries++;
            (summary.cost[model] ??= Object.create(null) as Record<string, number>)[cost.currency] = cost.amount;
          }
        }
        break;
      }
    }
  }
  dropInfiniteCosts(summary.cost);
  return summary;
}

// Each amount is finite (readTokenCost), their sum need not be (hand-made events): a sum
// too large to be finite is no sum, rather than the `null` JSON would write for Infinity.
function dropInfiniteCosts(cost: RunSummary['cost']): void {
  for (const model of Object.keys(cost)) {
    const byCurrency = cost[model]!;
    for (const currency of Object.keys(byCurrency)) if (!Number.isFinite(byCurrency[currency])) delete byCurrency[currency];
    if (Object.keys(byCurrency).length === 0) delete cost[model];
  }
}

/** @internal The body of `GET /runs`: every retained run, in the order the source gives them (most recently active first). */
export function listRuns(retained: readonly RetainedRun[]): { runs: RunSummary[] } {
  return { runs: retained.map((run) => summarizeRun(run.runId, run.events, run.open)) };
}
