/**
 * What `agentbus tail` says when following the stream fails: the host and
 * port it could not reach and why (`fetch` itself says only `fetch failed`,
 * with the reason in `cause`), or the server's refusal with the flag that
 * fixes it.
 */
import { SseHttpError } from '../sse/client.js';

/** What the failure message needs to know besides the error. */
export interface FailureContext {
  /** The stream's URL. */
  readonly url: URL;
  /** Names of the headers sent with `--header` (never their values: they hold credentials). */
  readonly headerNames: readonly string[];
  /** True when the server had answered before: the failure is a lost connection, not a first one. */
  readonly connected: boolean;
  /**
   * The last error `fetch` rejected with. The SSE client rethrows it after
   * its retries; recognised by identity, not by undici's wording.
   */
  readonly fetchError: unknown;
}

/** Plain words for the system error codes a connection usually fails with, and what to check. */
const REASONS: Readonly<Record<string, readonly [reason: string, hint?: string]>> = {
  ECONNREFUSED: ['connection refused', 'is the server running, on that port?'],
  ECONNRESET: ['connection reset by the other side'],
  ENOTFOUND: ['no such host', 'check the host name'],
  EAI_AGAIN: ['the host name could not be looked up (DNS)', 'try again'],
  ETIMEDOUT: ['timed out'],
  UND_ERR_CONNECT_TIMEOUT: ['timed out'],
  EHOSTUNREACH: ['host unreachable'],
  ENETUNREACH: ['network unreachable'],
};

/** The error `fetch` rejected with, as one line naming host, port and cause. */
function connectionFailure(error: unknown, context: FailureContext): string {
  const cause = networkCause(error) ?? { message: error instanceof Error ? error.message : String(error) };
  const { url } = context;
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const where = `${url.hostname}:${port}`;
  const what = context.connected ? `lost the stream and could not reconnect to ${where}` : `cannot connect to ${where}`;
  if (cause.code === undefined) {
    // The Fetch standard blocks some ports outright (6000, 6665-6669 ...), before any connection.
    if (cause.message === 'bad port') return `${what}: fetch refuses port ${port} (a blocked "bad port" of the Fetch standard); serve the stream on another port`;
    return `${what}: ${cause.message}`;
  }
  const [reason, hint] = REASONS[cause.code] ?? [cause.message];
  return `${what}: ${reason} (${cause.code})${hint === undefined ? '' : `; ${hint}`}`;
}

/**
 * The system error behind a failed `fetch`: the `cause` chain's first error
 * with a string `code` (the first of an `AggregateError`'s, when every
 * address of a host failed), else the innermost cause.
 */
function networkCause(error: unknown): { code?: string; message: string } | undefined {
  let current: unknown = (error as { cause?: unknown } | null)?.cause;
  let innermost: { message: string } | undefined;
  for (let hops = 0; hops < 4 && typeof current === 'object' && current !== null; hops++) {
    const code = (current as { code?: unknown }).code;
    const message = String((current as { message?: unknown }).message ?? '');
    if (typeof code === 'string') return { code, message };
    const first = (current as { errors?: unknown }).errors;
    if (Array.isArray(first) && typeof first[0]?.code === 'string') return { code: first[0].code, message: String(first[0].message ?? '') };
    innermost = { message };
    current = (current as { cause?: unknown }).cause;
  }
  return innermost;
}

/** The message for a 401: the flag that sends credentials, or that the ones sent were not taken. */
function unauthorized(error: SseHttpError, context: FailureContext): string {
  // Worded like the client's own messages for the other statuses.
  const head = `SSE GET ${error.url} answered 401: credentials required`;
  if (context.headerNames.length === 0) return `${head}; send them with --header "authorization: Bearer <token>"`;
  return `${head}; the server did not accept what --header sent (${context.headerNames.join(', ')})`;
}

/**
 * One line saying why following the stream failed; the caller makes it
 * printable (it can quote the server or the stream).
 */
export function failureMessage(error: unknown, context: FailureContext): string {
  if (error instanceof SseHttpError) return error.status === 401 ? unauthorized(error, context) : error.message;
  if (error === context.fetchError) return connectionFailure(error, context);
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
