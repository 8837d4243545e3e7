/**
 * `agentbus ui <sse-base-url>`: serves the console for an SSE server on
 * 127.0.0.1 and prints the URL to open. Before serving it reads the
 * server's run list once, so a wrong URL, a missing `--header` or a server
 * without `allRuns: true` is said at once, in the terminal, rather than
 * only in the page (which says it too, and keeps retrying).
 *
 * Exit status: 0 on Ctrl-C, 1 when it cannot serve, 2 on bad usage.
 */
import { printable } from './printable.js';
import { UsageError } from './args.js';
import { bodyPrefix } from '../sse/body-prefix.js';
import { failureMessage } from './failure.js';
import { maskedUrl, withoutPassword } from '../masked-url.js';
import { parseUiArgs, UI_SYNOPSIS, UI_USAGE, type UiArgs } from './ui-args.js';
import { startUiServer } from './ui-server.js';

const PROBE_TIMEOUT_MS = 3000;
// How the route's JSON (`{"runs":[...]}`) starts. The probe reads a few KiB
// of the answer, not a list that may be megabytes, so it knows the list by its
// start; spaces are allowed, should a proxy reformat it.
const RUN_LIST_START = /^\s*\{\s*"runs"\s*:\s*\[/;

/** What the SSE server says to a first read of its run list, as a warning line, or `undefined` when all is well. */
async function probe(args: UiArgs): Promise<string | undefined> {
  const base = args.upstream.href.replace(/\/+$/, '');
  const url = new URL(`${base}/runs`);
  const shown = maskedUrl(url);
  try {
    const response = await fetch(url, { headers: args.headers, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    // Only the start is read: an endless answer must not hold the command, nor grow it.
    const start = await bodyPrefix(response);
    const body = start.trim().slice(0, 300);
    if (response.ok) {
      // An app with a catch-all route answers 200 to any path: only a run list says this is the server.
      const type = response.headers.get('content-type') ?? '';
      if (/^application\/json\b/i.test(type) && RUN_LIST_START.test(start)) return undefined;
      const what = type === '' ? 'without a content-type' : type.split(';')[0]?.trim();
      return `${shown} answered ${response.status} ${what}, not an agentbus run list: is ${maskedUrl(args.upstream).replace(/\/+$/, '')} the base URL (basePath included) of a createSseHandler({ allRuns: true }) server?`;
    }
    if (response.status === 501) return `${shown} cannot list past runs (${body}); the console shows runs as they emit events`;
    if (response.status === 401) {
      const fix = Object.keys(args.headers).length === 0 ? 'pass --header "authorization: Bearer <token>"' : 'the server did not accept what --header sent';
      return `${shown} answered 401 (${body}); ${fix}`;
    }
    return `${shown} answered ${response.status}: ${body}`;
  } catch (error) {
    // The connection may be open: "cannot connect" would send the reader to the wrong place.
    if ((error as { name?: unknown } | null)?.name === 'TimeoutError') return `${shown} did not answer within ${PROBE_TIMEOUT_MS / 1000} s`;
    return withoutPassword(failureMessage(error, { url, headerNames: Object.keys(args.headers), connected: false, fetchError: error }), url);
  }
}

/** @internal Runs `agentbus ui` with `argv` (what follows the program); resolves with the exit status once it should exit. */
export async function runUi(argv: readonly string[]): Promise<number> {
  let args: UiArgs | 'help';
  try {
    args = parseUiArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`agentbus ui: ${printable(error.message)}\n${UI_SYNOPSIS}\nHelp: agentbus ui --help\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${UI_USAGE}\n`);
    return 0;
  }
  let server;
  try {
    server = await startUiServer(args);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `port ${args.port} is taken; choose another with --port` : error instanceof Error ? error.message : String(error);
    process.stderr.write(`agentbus ui: cannot serve on 127.0.0.1:${args.port}: ${printable(why)}\n`);
    return 1;
  }
  process.stdout.write(`agentbus ui: the console for ${maskedUrl(args.upstream).replace(/\/+$/, '')} is at ${server.url}\n`);
  const warning = await probe(args);
  if (warning !== undefined) process.stderr.write(`agentbus ui: warning: ${printable(warning)}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
