/**
 * Canonical payload fields built from framework values, shared by the
 * framework adapters: the text of an error, the keys of tool arguments, the
 * text of model output. Each adapter reads its framework's shapes and hands
 * them here, so every adapter words these fields the same way.
 */
import { preview } from '../events.js';

/** `Name: message` of an error (or its string form), cut to a preview. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return preview(`${error.name}: ${error.message}`);
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return preview((error as { message: string }).message);
  }
  return preview(String(error));
}

/** True for the errors an abort or a timeout raises (`AbortError`, `TimeoutError`). */
export function isAbortError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** The top-level keys of tool arguments: an object's keys, else none. */
export function argKeys(args: unknown): string[] {
  return typeof args === 'object' && args !== null && !Array.isArray(args) ? Object.keys(args) : [];
}

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

/** A non-negative integer token count, or undefined when the framework gave none. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}
