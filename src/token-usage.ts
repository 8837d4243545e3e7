/**
 * The check of a model call's token counts. Each count goes into
 * `agent.tokens.used`, whose catalogue entry wants a non-negative safe
 * integer (`inputTokens`, `outputTokens` and their sum `totalTokens` always,
 * the others when present), and from there into span attributes, metric
 * series and the run's totals: a count of `"12"` would turn a sum into a
 * string concatenation, one of -5 or NaN would fail agentbus's own schema,
 * and one of 1e308 would make every sum after it Infinity. One rule for the
 * core (`recordTokens`, `traceModel`), the reference Agent and the
 * OpenTelemetry bridge, so that they cannot disagree on what a count is.
 */
import { shownValue } from './options.js';
import type { TokenUsage } from './trace.js';

/** The counts of a `TokenUsage`, required ones first. */
const COUNTS = ['inputTokens', 'outputTokens', 'cacheReadInputTokens', 'cacheCreationInputTokens', 'reasoningOutputTokens'] as const;
const REQUIRED = 2;

/** @internal What is wrong with one usage: the field (under `usage`), what it must be, and what it was. */
export interface UsageProblem {
  /** `usage` itself, or `usage.<count>`. */
  readonly field: string;
  /** What the field must be. */
  readonly rule: string;
  /** What it was, for the message (a number as written, else its type). */
  readonly got: string;
  /** True when the field is a number out of range (a RangeError), false when of the wrong type (a TypeError). */
  readonly range: boolean;
}

/** @internal A usage read: its counts copied (each read once), or its first problem. */
export type UsageReading =
  | { readonly usage: TokenUsage; readonly problem?: undefined }
  | { readonly usage?: undefined; readonly problem: UsageProblem };

/**
 * @internal Whether `value` is a token count: a non-negative safe integer,
 * the catalogue's `count`. Past `Number.MAX_SAFE_INTEGER` integers are no
 * longer exact and sums of them soon reach Infinity.
 */
export function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The rule a count broke, worded for the value it had. */
function countRule(value: unknown, required: boolean): string {
  // An integer too large says so: "must be a non-negative integer, got 1e+308" would puzzle.
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return `at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER)`;
  return required ? 'a non-negative integer' : 'a non-negative integer or undefined';
}

/**
 * @internal `usage` (a model's or a script's token counts) read once and
 * copied, or the first problem that keeps it out of `agent.tokens.used`:
 * a count that is not a non-negative safe integer, or input and output
 * counts whose sum (the event's `totalTokens`) is not one. A getter that
 * throws throws to the caller.
 */
export function readUsage(usage: unknown): UsageReading {
  if (typeof usage !== 'object' || usage === null) {
    return { problem: { field: 'usage', rule: 'an object of token counts ({ inputTokens, outputTokens }) or undefined', got: shownValue(usage), range: false } };
  }
  const counts: Record<string, number | undefined> = {};
  for (const [i, key] of COUNTS.entries()) {
    const value = (usage as Record<string, unknown>)[key];
    if ((value === undefined && i >= REQUIRED) || isTokenCount(value)) {
      counts[key] = value;
      continue;
    }
    return { problem: { field: `usage.${key}`, rule: countRule(value, i < REQUIRED), got: shownValue(value), range: typeof value === 'number' } };
  }
  const { inputTokens, outputTokens } = counts as { inputTokens: number; outputTokens: number };
  if (!Number.isSafeInteger(inputTokens + outputTokens)) {
    const rule = `at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER) in all (the event's totalTokens)`;
    return { problem: { field: 'usage.inputTokens + usage.outputTokens', rule, got: String(inputTokens + outputTokens), range: true } };
  }
  return { usage: counts as unknown as TokenUsage };
}

/**
 * @internal The first problem of `usage`, or undefined when it is fit for
 * `agent.tokens.used` (see {@link readUsage}). A getter that throws throws to the caller.
 */
export function usageProblem(usage: unknown): UsageProblem | undefined {
  return readUsage(usage).problem;
}
