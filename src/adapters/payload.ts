/**
 * Framework values turned into canonical payload fields, shared by the
 * framework adapters so that each reads them the same way. (Error text and
 * class, argument keys and abort detection come from the core and the step
 * tracker: `errorText`, `errorTypeOf`, `argKeys`, `isAbortError`.)
 */
import type { TokenUsage } from '../trace.js';

/**
 * Tool arguments as an object when they arrive as a JSON string (as several
 * frameworks pass them); anything else is returned unchanged.
 */
export function parseArgs(args: unknown): unknown {
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

/** A framework's string field when it is a non-empty string, else `fallback`. */
export function stringOr<T>(value: unknown, fallback: T): string | T {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

/** A non-negative integer token count, or undefined when the framework gave none. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

/** A framework's number field (a request setting such as `temperature`) when it is a finite number, else undefined. */
export function finiteNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * A model call's token usage from the counts a framework reported (each read
 * with {@link tokenCount}); undefined when it reported neither input nor
 * output tokens, so that no empty `agent.tokens.used` is recorded.
 */
export function tokenUsage(input: unknown, output: unknown, cacheRead?: unknown, reasoning?: unknown, cacheCreation?: unknown): TokenUsage | undefined {
  const inputTokens = tokenCount(input);
  const outputTokens = tokenCount(output);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  return {
    inputTokens: inputTokens ?? 0,
    outputTokens: outputTokens ?? 0,
    cacheReadInputTokens: tokenCount(cacheRead),
    cacheCreationInputTokens: tokenCount(cacheCreation),
    reasoningOutputTokens: tokenCount(reasoning),
  };
}
