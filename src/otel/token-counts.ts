/**
 * The token counts the bridge believes. `recordTokens` and `traceModel`
 * publish only checked counts, but the bus does not validate on publish: an
 * `agent.tokens.used` emitted by hand, or relayed from a stranger, may carry
 * `"12"`, -10, NaN or 1e308. Added as they are, a string would turn a span's
 * sum into a concatenation (`"012"`), and a single Infinity would stay in a
 * cumulative counter for the life of the process. So each count is taken
 * only when it is a token count by the core's rule (a non-negative safe
 * integer, src/token-usage.ts), and the others of the same event are still
 * taken: a bad cache count does not hide good input and output counts.
 * The bridge keeps no counter of what it ignores (its `stats()` is runs and
 * spans); the emitter's own path, `recordTokens`, refuses bad usage with a
 * counted, reported error before it is ever published.
 */
import type { EventData } from '../index.js';
import { isTokenCount } from '../token-usage.js';

/** The counts of one `agent.tokens.used` that are counts: each a non-negative safe integer, or undefined (absent, or not a count). */
export interface TokenCounts {
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly cacheReadInputTokens: number | undefined;
  readonly cacheCreationInputTokens: number | undefined;
  readonly reasoningOutputTokens: number | undefined;
}

/**
 * The counts of `usage` worth adding and recording, each read once; undefined
 * when none is (nothing to add: the span does not even get usage attributes
 * of 0) or the payload cannot be read (a hostile getter). Never throws.
 */
export function tokenCountsOf(usage: EventData<'agent.tokens.used'>): TokenCounts | undefined {
  let counts: TokenCounts;
  try {
    counts = {
      inputTokens: countOrUndefined(usage.inputTokens),
      outputTokens: countOrUndefined(usage.outputTokens),
      cacheReadInputTokens: countOrUndefined(usage.cacheReadInputTokens),
      cacheCreationInputTokens: countOrUndefined(usage.cacheCreationInputTokens),
      reasoningOutputTokens: countOrUndefined(usage.reasoningOutputTokens),
    };
  } catch {
    return undefined;
  }
  for (const count of Object.values(counts)) if (count !== undefined) return counts;
  return undefined;
}

function countOrUndefined(value: unknown): number | undefined {
  return isTokenCount(value) ? value : undefined;
}

/**
 * `sum + count`, capped at `Number.MAX_SAFE_INTEGER`: a span's total that
 * would pass it stays there rather than go on inexactly towards Infinity.
 * Capped rather than skipped: a skipped count would leave a total that looks
 * exact and is short by that count; the cap reads as "at least this many"
 * (nobody's agent uses 2^53 tokens; only a hostile event gets there).
 */
export function addCount(sum: number, count: number | undefined): number {
  if (count === undefined) return sum;
  return Math.min(sum + count, Number.MAX_SAFE_INTEGER);
}
