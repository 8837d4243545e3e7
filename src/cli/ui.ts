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
import { failureMessage } from './failure.js';
import { parseUiArgs, UI_SYNOPSIS, UI_USAGE, type UiArgs } from './ui-args.js';
import { startUiServer } from './ui-server.js';

/** What the SSE server says to a first read of its run list, as a warning line, or `undefined` when all is well. */
async function probe(args: UiArgs): Promise<string | undefined> {
  const url = new URL(`${args.upstream.href.replace(/\/+$/, '')}/runs`);
  try {
    const response = await fetch(url, { headers: args.headers, signal: AbortSignal.timeout(3000) });
    const body = (await response.text()).trim().slice(0, 300);
    if (response.ok) return undefined;
    if (response.status === 501) return `${url.href} cannot list past runs (${body}); the console shows runs as they emit events`;
    if (response.status === 401) {
      const fix = Object.keys(args.headers).length === 0 ? 'pass --header "authorization: Bearer <token>"' : 'the server did not accept what --header sent';
      return `${url.href} answered 401 (${body}); ${fix}`;
    }
    return `${url.href} answered ${response.status}: ${body}`;
  } catch (error) {
    return failureMessage(error, { url, headerNames: Object.keys(args.headers), connected: false, fetchError: error });
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
  process.stdout.write(`agentbus ui: the console for ${args.upstream.href.replace(/\/+$/, '')} is at ${server.url}\n`);
  const warning = await probe(args);
  if (warning !== undefined) process.stderr.write(`agentbus ui: warning: ${printable(warning)}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
