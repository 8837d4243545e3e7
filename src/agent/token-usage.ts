/**
 * The check of a model's token counts. Each count goes into
 * `agent.tokens.used`, whose catalogue entry wants a non-negative integer
 * (`inputTokens` and `outputTokens` always, the others when present), and
 * into the run's totals: a count of -5 or NaN would publish an event that
 * fails agentbus's own schema and poison every sum after it.
 */
import { shownValue } from '../options.js';

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

/**
 * @internal The first problem of `usage` (a model's or a script's token
 * counts), or undefined when it is fit for `agent.tokens.used`. Reads each
 * count once; a getter that throws throws to the caller.
 */
export function usageProblem(usage: unknown): UsageProblem | undefined {
  if (typeof usage !== 'object' || usage === null) {
    return { field: 'usage', rule: 'an object of token counts ({ inputTokens, outputTokens }) or undefined', got: shownValue(usage), range: false };
  }
  for (const [i, key] of COUNTS.entries()) {
    const value = (usage as Record<string, unknown>)[key];
    if (value === undefined && i >= REQUIRED) continue;
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) continue;
    const rule = i < REQUIRED ? 'a non-negative integer' : 'a non-negative integer or undefined';
    const isNumber = typeof value === 'number';
    return { field: `usage.${key}`, rule, got: shownValue(value), range: isNumber };
  }
  return undefined;
}
