/**
 * How `agentbus/redis` tells of what went wrong without throwing into the
 * process: each problem becomes one Error, handed to the user's `onError`,
 * or else a process warning once per kind of problem (the counts are in
 * `stats()`, so repeats need no warning).
 */
import { warnOnce } from '../warnings.js';

/** Tells of one problem; `kind` groups problems for the once-per-kind warning. Never throws. */
export type Report = (kind: string, message: string, cause?: unknown) => void;

/** A {@link Report} to `onError` (which must not throw; if it does, it is ignored), or to process warnings without one. */
export function reportTo(onError: ((error: Error) => void) | undefined): Report {
  return (kind, message, cause) => {
    const error = new Error(`agentbus/redis: ${message}`, cause === undefined ? undefined : { cause });
    if (onError === undefined) {
      warnOnce(`agentbus/redis:${kind}`, error.message);
      return;
    }
    try {
      onError(error);
    } catch {
      // onError must not throw; if it does, the writer goes on.
    }
  };
}

/** An error's message, short (for a message that quotes it), never throwing. */
export function errorText(error: unknown): string {
  try {
    const text = error instanceof Error ? error.message : String(error);
    return text.length > 300 ? `${text.slice(0, 299)}…` : text;
  } catch {
    return 'an error that could not be read';
  }
}
