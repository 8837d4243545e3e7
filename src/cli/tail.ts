#!/usr/bin/env node
/**
 * `agentbus tail <url>`: follows an agentbus SSE stream and prints each run
 * as an indented tree (run > agent > model / tool calls) with durations and
 * token counts, one line per step start and end.
 *
 *   agentbus tail http://127.0.0.1:3000/runs/<runId>/events --header "authorization: Bearer xyz"
 *   agentbus tail http://127.0.0.1:3000/events --header "authorization: Bearer xyz"
 *
 * A run's stream ends with the run. The all-runs stream (`/events`) goes on
 * until Ctrl-C; its lines are labelled with their run (its name, else a
 * short id) and each run keeps its own tree and token totals. A child run
 * (its `run.started` names a run being followed as `parentRunId`) is drawn
 * inside its parent's tree, under the step that started it, with the
 * parent's label.
 *
 * Exit status: 0 when the stream ended (or the reader of stdout did), 1 on
 * an error, 2 on bad usage, 130 on Ctrl-C.
 */
import { subscribeSse } from '../sse/client.js';
import { parseTailArgs, SYNOPSIS, UsageError, USAGE, type TailArgs } from './args.js';
import { failureMessage } from './failure.js';
import { withoutPassword } from '../masked-url.js';
import { printable } from './printable.js';
import { StreamPrinter } from './stream-printer.js';
import { colourWanted, createStyle } from './style.js';

// The single-run route, under any base path; any other URL is taken for the all-runs stream.
const RUN_STREAM = /\/runs\/[^/]+\/events\/?$/;

async function main(argv: readonly string[]): Promise<number> {
  let args: TailArgs | 'help';
  try {
    args = parseTailArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // The synopsis, not the whole help: the message is the news and must not scroll away.
    process.stderr.write(`agentbus tail: ${printable(error.message)}\n${SYNOPSIS}\nHelp: agentbus tail --help\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const stop = new AbortController();
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    stop.abort();
  });
  // A reader that went away (`agentbus tail … | head`) ends the tail quietly, as
  // it ends any filter, instead of an unhandled EPIPE with a stack trace.
  let readerGone = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && !readerGone) throw error;
    readerGone = true;
    stop.abort();
  });

  const style = createStyle(colourWanted(process.env, process.stdout));
  const allRuns = !RUN_STREAM.test(args.url.pathname);
  const printer = new StreamPrinter({
    style,
    labelled: allRuns,
    // Events already received still arrive after the abort; they have nowhere to go.
    write: (line) => void (readerGone || process.stdout.write(`${line}\n`)),
  });

  // The SSE client retries a failed fetch (5 times, 1 s apart) and then throws
  // `fetch failed` with the reason only in `cause`. That suits a server that
  // restarts under a live stream, not a wrong port: until the server has
  // answered once, the first failure ends the subscription (through the
  // signal, which the client obeys quietly) and is reported at once.
  let connected = false;
  let fetchError: unknown;
  let unreachable = false;
  const fetchWatched: typeof fetch = async (input, init) => {
    try {
      const response = await fetch(input, init);
      connected = true;
      return response;
    } catch (error) {
      fetchError = error;
      if (!connected && !stop.signal.aborted) {
        unreachable = true;
        stop.abort();
      }
      throw error;
    }
  };

  const context = () => ({ url: args.url, headerNames: Object.keys(args.headers), connected, fetchError });
  // A password in the URL is not echoed: fetch refuses such a URL and quotes it whole.
  const failure = (error: unknown) => printable(withoutPassword(failureMessage(error, context()), args.url));
  try {
    const events = subscribeSse(args.url, { headers: args.headers, signal: stop.signal, lastEventId: args.lastEventId, fetch: fetchWatched });
    for await (const event of events) printer.print(event);
  } catch (error) {
    // The message can quote the server (an HTTP error body) or the stream.
    process.stderr.write(`agentbus tail: ${failure(error)}\n`);
    return 1;
  }
  if (unreachable) {
    process.stderr.write(`agentbus tail: ${failure(fetchError)}\n`);
    return 1;
  }
  if (interrupted) return 130;
  if (readerGone) return 0;
  // A run's stream that ended without the run's end (closed, evicted) says so;
  // the all-runs stream has no end of its own, so its ending is always news.
  if (allRuns || !printer.sawCompletion) process.stdout.write(`${style.dim('stream ended')}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
