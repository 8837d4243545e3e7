/**
 * The command line of `agentbus tail`, read with `node:util`'s `parseArgs`.
 *
 * `parseArgs` does the tokenizing (`-H value`, `-Hvalue`, `--header=value`,
 * `--`); the checks are ours, on its tokens, so that every mistake gets one
 * short message naming the option and what it expects, the same on every
 * Node release (its own strict-mode errors are long and advise `--` for
 * what is usually a typo).
 */
import { parseArgs } from 'node:util';

/** The first line of {@link USAGE}, printed after a usage error. */
export const SYNOPSIS = 'usage: agentbus tail <url> [--header "Name: value"]... [--last-event-id N]';

/** The help text of `--help`. */
export const USAGE = `${SYNOPSIS}

Follows an agentbus SSE stream and prints each run as a tree (agent > model
and tool calls, with durations and token totals):

  <base>/runs/<runId>/events   one run, from its retained history; ends with the run
  <base>/events                every run, live (the server needs allRuns: true);
                               each line is labelled with its run, and a child
                               run is drawn in its parent's tree, under its step

  -H, --header "Name: value"   extra request header (repeatable), e.g. authorization
      --last-event-id N        start after event N of the run instead of at its beginning
  -h, --help                   this help

Colour on a terminal; NO_COLOR=1 turns it off, FORCE_COLOR=1 forces it (FORCE_COLOR=0 never).
Exit status: 0 when the stream ended, 1 on an error, 2 on bad usage, 130 on Ctrl-C.`;

/** A mistake on the command line: exit status 2, with {@link SYNOPSIS}. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What the command line asks for. */
export interface TailArgs {
  /** The stream's URL, checked to be http(s). */
  readonly url: URL;
  /** Extra request headers, names lower-cased; a repeated name keeps its last value. */
  readonly headers: Record<string, string>;
  /** `--last-event-id`: resume after this sequence number. */
  readonly lastEventId: number | undefined;
}

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  'last-event-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

// What the server accepts as Last-Event-ID: at most 15 digits, so it is an exact integer.
const SEQ = /^\d{1,15}$/;

/**
 * Reads `argv` (what follows the program, an optional leading `tail`
 * included). Returns `'help'` when `-h`/`--help` is anywhere in it, even
 * beside a mistake: asking for help is the answer to the mistake.
 *
 * @throws {UsageError} naming the first problem.
 */
export function parseTailArgs(argv: readonly string[]): TailArgs | 'help' {
  // Not strict: an unknown option or a missing value becomes a token we judge ourselves.
  const { tokens } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  let help = false;
  let problem: string | undefined;
  const fail = (message: string) => {
    problem ??= message;
  };
  const headers: Record<string, string> = {};
  let lastEventId: number | undefined;
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
    } else if (token.kind === 'option') {
      const { name, rawName, value } = token;
      if (name === 'help') {
        if (value === undefined) help = true;
        else fail(`${rawName} takes no value`);
      } else if (name === 'header') {
        const problem = addHeader(headers, rawName, value);
        if (problem !== undefined) fail(problem);
      } else if (name === 'last-event-id') {
        if (value === undefined || !SEQ.test(value)) fail(`${rawName} expects a sequence number (a non-negative integer), got ${JSON.stringify(value ?? '')}`);
        else lastEventId = Number(value);
      } else {
        fail(`unknown option ${rawName}`);
      }
    }
  }
  if (help) return 'help';
  if (problem !== undefined) throw new UsageError(problem);
  if (positionals[0] === 'tail') positionals.shift();
  if (positionals.length === 0) throw new UsageError('missing <url>');
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])} (one <url> only)`);
  const text = positionals[0] as string;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`<url> must be an http(s) URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`<url> must be an http(s) URL, got ${JSON.stringify(text)}`);
  return { url, headers, lastEventId };
}

/**
 * Adds one `--header` value to `headers`; returns what is wrong with it
 * instead, for the caller's usage error. Shared by `agentbus ui`.
 */
export function addHeader(headers: Record<string, string>, rawName: string, value: string | undefined): string | undefined {
  if (value === undefined) return `${rawName} expects a value: "Name: value"`;
  const header = parseHeader(rawName, value);
  if (typeof header === 'string') return header;
  headers[header[0]] = header[1];
  return undefined;
}

/** `[name, value]` of `Name: value` (name lower-cased), or what is wrong with it. */
function parseHeader(rawName: string, text: string): [string, string] | string {
  const colon = text.indexOf(':');
  if (colon < 1) return `${rawName} expects "Name: value", got ${JSON.stringify(text)}`;
  const name = text.slice(0, colon).trim().toLowerCase();
  const value = text.slice(colon + 1).trim();
  try {
    // What fetch would refuse later, refused here as a usage error.
    new Headers([[name, value]]);
  } catch {
    return `${rawName} ${JSON.stringify(text)}: not a valid header (a name of letters, digits and !#$%&'*+-.^_\`|~, a value without line breaks)`;
  }
  return [name, value];
}
