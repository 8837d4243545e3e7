#!/usr/bin/env node
/**
 * `agentbus tail <url>`: follows a run's SSE stream and prints it as an
 * indented tree (run > agent > model / tool calls) with durations and token
 * counts, one line per step start and end, until the run's stream ends.
 *
 *   agentbus tail http://127.0.0.1:3000/runs/<runId>/events --header "authorization: Bearer xyz"
 *
 * Exit status: 0 when the stream ended, 1 on an error, 2 on bad usage,
 * 130 on Ctrl-C.
 */
import type { StreamEvent } from '../events.js';
import { SseHttpError, subscribeSse } from '../sse/client.js';

const USAGE = `usage: agentbus tail <url> [--header "Name: value"]... [--last-event-id N]

Follows a run's event stream (GET /runs/:runId/events of an agentbus SSE server)
and prints it as a tree until the run ends.

  -H, --header "Name: value"   extra request header (repeatable), e.g. authorization
      --last-event-id N        start after event N instead of at the beginning
  -h, --help                   this help`;

class UsageError extends Error {}

interface Args {
  url: string;
  headers: Record<string, string>;
  lastEventId: number | undefined;
}

function parseArgs(argv: readonly string[]): Args | 'help' {
  const rest = [...argv];
  if (rest[0] === 'tail') rest.shift();
  const headers: Record<string, string> = {};
  let url: string | undefined;
  let lastEventId: number | undefined;
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    if (arg === '-h' || arg === '--help') return 'help';
    if (arg === '-H' || arg === '--header' || arg.startsWith('--header=')) {
      const value = arg.startsWith('--header=') ? arg.slice('--header='.length) : rest.shift();
      const colon = value?.indexOf(':') ?? -1;
      if (value === undefined || colon < 1) throw new UsageError(`--header expects "Name: value", got ${JSON.stringify(value ?? '')}`);
      headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim();
    } else if (arg === '--last-event-id') {
      const value = rest.shift();
      if (value === undefined || !/^\d+$/.test(value)) throw new UsageError(`--last-event-id expects a sequence number, got ${JSON.stringify(value ?? '')}`);
      lastEventId = Number(value);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else if (url === undefined) {
      url = arg;
    } else {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    }
  }
  if (url === undefined) throw new UsageError('missing <url>');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`<url> must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  return { url, headers, lastEventId };
}

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: string) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const cyan = paint('36');
const blue = paint('34');
const magenta = paint('35');

function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

function mark(ok: boolean): string {
  return ok ? green('✓') : red('✗');
}

// Terminal controls: C0 (with \n \r \t), DEL, C1, the line and paragraph
// separators, and the bidi embeddings, overrides and isolates.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
// Deeper data is shown as `…`: no line interpolates it, and a hostile payload
// must not exhaust the stack.
const MAX_DEPTH = 32;

/**
 * `text` with every terminal control written visibly (`\x1b`, `\n`,
 * `\u009b`, `\u202e`). Event text comes from models, tools and whoever
 * serves the stream; printed raw, an escape sequence would set the window
 * title, clear the screen or write the clipboard (OSC 52), a CR or LF would
 * forge tree lines, and a bidi override would make a line read otherwise.
 */
function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** A copy of a JSON value with every string in it (keys included) made {@link printable}. */
function printableValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return printable(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) return value.map((item) => printableValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[printable(key)] = printableValue(item, depth + 1);
  return copy;
}

/**
 * The event as {@link TreePrinter} may print it: its type, run id and every
 * string in its data made {@link printable}. This is the one place event text
 * is cleaned; the inputs are cleaned rather than the finished line, so that
 * the tool's own colour codes still reach the terminal. Span ids are only
 * map keys, never printed, and stay as they are.
 */
function printableEvent(e: StreamEvent): StreamEvent {
  return { ...e, eventType: printable(e.eventType), runId: printable(e.runId), data: printableValue(e.data) as object };
}

/** Turns events into tree lines; keeps step start times, depths and token totals. */
class TreePrinter {
  readonly #depth = new Map<string, number>();
  readonly #started = new Map<string, number>();
  readonly #stepTokens = new Map<string, string>();
  inputTokens = 0;
  outputTokens = 0;
  sawCompletion = false;

  line(event: StreamEvent): string | undefined {
    const e = printableEvent(event);
    const d = e.data as Record<string, any>;
    const depth = e.eventType.startsWith('run.')
      ? 0
      : e.parentSpanId !== undefined
        ? (this.#depth.get(e.parentSpanId) ?? 1) + 1
        : 1;
    if (e.spanId !== undefined && !this.#depth.has(e.spanId)) {
      this.#depth.set(e.spanId, depth);
      this.#started.set(e.spanId, e.timestamp);
    }
    const pad = '  '.repeat(this.#depth.get(e.spanId ?? '') ?? depth);
    const took = () => ms(e.timestamp - (this.#started.get(e.spanId ?? '') ?? e.timestamp));
    switch (e.eventType) {
      case 'run.started':
        // Quoted by hand: JSON.stringify would double the backslashes printable() wrote.
        return `${pad}▶ run ${e.runId}${d.name ? ` "${d.name}"` : ''}`;
      case 'run.completed':
        this.sawCompletion = true;
        return `${pad}${mark(d.status === 'ok')} run ${d.status} ${dim(ms(d.durationMs))} · tokens ${this.inputTokens} in / ${this.outputTokens} out (${this.inputTokens + this.outputTokens} total)${d.error ? ` · ${red(String(d.error))}` : ''}`;
      case 'agent.invocation.started':
        return `${pad}▶ ${cyan(`agent ${d.agentName}`)}${d.model ? dim(` (${d.model})`) : ''}`;
      case 'agent.terminate':
        return `${pad}${mark(d.reason === 'completed')} ${cyan('agent')} ${dim(took())} · ${d.reason}, ${d.iterationsUsed} iterations, ${d.totalToolCalls} tool calls`;
      case 'agent.model.started':
        return `${pad}▶ ${blue(`model ${d.model}`)} ${dim(`${d.messageCount} messages, ${d.toolCount} tools`)}`;
      case 'agent.tokens.used':
        this.inputTokens += d.inputTokens;
        this.outputTokens += d.outputTokens;
        if (e.spanId !== undefined) this.#stepTokens.set(e.spanId, `${d.inputTokens} in / ${d.outputTokens} out tokens`);
        return undefined;
      case 'agent.model.completed': {
        const tokens = this.#stepTokens.get(e.spanId ?? '');
        return `${pad}${mark(d.error === undefined)} ${blue('model')} ${dim(took())}${tokens ? ` · ${tokens}` : ''} · ${d.stopReason}${d.error ? ` ${red(String(d.error))}` : ''}`;
      }
      case 'agent.think':
        return d.reasoningPreview ? `${pad}${dim(`💭 ${d.reasoningPreview}`)}` : undefined;
      case 'agent.tool.started':
        return `${pad}▶ ${magenta(`tool ${d.toolName}`)}${dim(`(${(d.argKeys as string[]).join(', ')})`)}`;
      case 'agent.tool.completed':
        return `${pad}${mark(d.success === true)} ${magenta(`tool ${d.toolName}`)} ${dim(ms(d.durationMs))}${d.success ? (d.outputPreview ? dim(` → ${d.outputPreview}`) : '') : ` ${red(String(d.error ?? 'failed'))}`}`;
      case 'multiagent.fanout.started':
        return `${pad}▶ fan-out ${d.agentCount} agents ${dim(d.mergeStrategy)}`;
      case 'multiagent.fanout.completed':
        return `${pad}${mark(d.failed === 0)} fan-out ${dim(ms(d.durationMs))} · ${d.succeeded} ok, ${d.failed} failed`;
      case 'stream.dropped':
        return `${pad}${red(`⚠ ${d.count} events lost (the terminal fell behind)`)}`;
      default:
        return `${pad}${dim(`· ${e.eventType}`)}`;
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args | 'help';
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`agentbus tail: ${error.message}\n\n${USAGE}\n`);
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
  const printer = new TreePrinter();
  try {
    for await (const event of subscribeSse(args.url, { headers: args.headers, signal: stop.signal, lastEventId: args.lastEventId })) {
      const line = printer.line(event);
      if (line !== undefined) process.stdout.write(`${line}\n`);
    }
  } catch (error) {
    const message = error instanceof SseHttpError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
    // The message can quote the server (an HTTP error body) or the stream.
    process.stderr.write(`agentbus tail: ${printable(message)}\n`);
    return 1;
  }
  if (interrupted) return 130;
  if (!printer.sawCompletion) process.stdout.write(`${dim('stream ended')}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
