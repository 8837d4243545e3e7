/**
 * The command line of `agentbus ui`, read like `agentbus tail`'s (args.ts):
 * `parseArgs` tokenizes, the checks are ours, and every mistake gets one
 * short message naming the option and what it expects.
 */
import { parseArgs } from 'node:util';
import { addHeader, UsageError } from './args.js';
import type { TokenPrice } from '../ui/handler.js';

/**
 * The console's default port: free of the OpenTelemetry and Jaeger ports
 * (4317, 4318, 16686, 14250, 14268, 9411) and of the usual dev servers
 * (3000, 5173, 8080).
 */
export const DEFAULT_UI_PORT = 7600;

/** The first line of {@link UI_USAGE}, printed after a usage error. */
export const UI_SYNOPSIS = 'usage: agentbus ui <sse-base-url> [--header "Name: value"]... [--port N] [--price "model=in,out"]...';

/** The help text of `agentbus ui --help`. */
export const UI_USAGE = `${UI_SYNOPSIS}

Serves a live console for every run of an agentbus SSE server on
http://127.0.0.1:${DEFAULT_UI_PORT}/ (this machine only): a list of runs, newest first,
and a waterfall of each run's steps, updated as they happen.

<sse-base-url> is where the server's routes live: <base>/events (it needs
createSseHandler({ allRuns: true })), <base>/runs and <base>/runs/<runId>/events.
The console reads them through this process, which adds the --header values
on its side: they never reach the browser.

  -H, --header "Name: value"   header sent to the SSE server (repeatable), e.g. authorization
  -p, --port N                 port to serve on, 0 for any free one (default ${DEFAULT_UI_PORT})
      --price "model=in,out"   dollars per million input and output tokens of a model
                               (repeatable), for tokens whose events carry no cost
                               (a run priced with runContext's prices carries its own)
  -h, --help                   this help

Exit status: 0 on Ctrl-C, 1 when it cannot serve (port taken), 2 on bad usage.`;

/** What the command line asks for. */
export interface UiArgs {
  /** The SSE server's base URL, without a trailing `/events` or `/`. */
  readonly upstream: URL;
  /** Headers for the SSE server, names lower-cased. */
  readonly headers: Record<string, string>;
  /** Port to listen on, 0 for any. */
  readonly port: number;
  /** `--price` values by model. */
  readonly prices: Record<string, TokenPrice>;
}

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  port: { type: 'string', short: 'p' },
  price: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const PORT = /^\d{1,5}$/;
const PRICE = /^(.+)=\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*$/;

/**
 * Reads `argv` (what follows the program, the leading `ui` included or
 * not). Returns `'help'` when `-h`/`--help` is anywhere in it.
 *
 * @throws {UsageError} naming the first problem.
 */
export function parseUiArgs(argv: readonly string[]): UiArgs | 'help' {
  const { tokens } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  let help = false;
  let problem: string | undefined;
  const fail = (message: string) => {
    problem ??= message;
  };
  const headers: Record<string, string> = {};
  const prices: Record<string, TokenPrice> = Object.create(null) as Record<string, TokenPrice>;
  let port = DEFAULT_UI_PORT;
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const { name, rawName, value } = token;
    if (name === 'help') {
      if (value === undefined) help = true;
      else fail(`${rawName} takes no value`);
    } else if (name === 'header') {
      const problem = addHeader(headers, rawName, value);
      if (problem !== undefined) fail(problem);
    } else if (name === 'port') {
      if (value === undefined || !PORT.test(value) || Number(value) > 65535) fail(`${rawName} expects a port number from 0 to 65535, got ${JSON.stringify(value ?? '')}`);
      else port = Number(value);
    } else if (name === 'price') {
      const match = value === undefined ? null : PRICE.exec(value);
      if (match === null) fail(`${rawName} expects "model=input,output" in dollars per million tokens, e.g. "gpt-4o=2.5,10", got ${JSON.stringify(value ?? '')}`);
      else prices[(match[1] as string).trim()] = { input: Number(match[2]), output: Number(match[3]) };
    } else {
      fail(`unknown option ${rawName}`);
    }
  }
  if (help) return 'help';
  if (problem !== undefined) throw new UsageError(problem);
  if (positionals[0] === 'ui') positionals.shift();
  if (positionals.length === 0) throw new UsageError('missing <sse-base-url>, e.g. http://127.0.0.1:3000');
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])} (one <sse-base-url> only)`);
  const text = positionals[0] as string;
  let upstream: URL;
  try {
    upstream = new URL(text);
  } catch {
    throw new UsageError(`<sse-base-url> must be an http(s) URL, got ${JSON.stringify(text)}`);
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new UsageError(`<sse-base-url> must be an http(s) URL, got ${JSON.stringify(text)}`);
  if (upstream.search !== '' || upstream.hash !== '') throw new UsageError(`<sse-base-url> takes no query or fragment, got ${JSON.stringify(text)}`);
  // The all-runs stream's own URL is accepted too: the base is what precedes it.
  upstream.pathname = upstream.pathname.replace(/\/events\/?$/, '').replace(/\/+$/, '');
  return { upstream, headers, port, prices: { ...prices } };
}
