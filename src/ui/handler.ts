/**
 * The agentbus console as a Web-standard `Request -> Response` handler: the
 * page (`page/index.html`), its script, stylesheet and icon. Nothing else:
 * the page reads runs from the SSE routes of `createSseHandler` at
 * `sseBase`, on the same origin, so a browser needs no CORS and sends the
 * app's own cookies; `agentbus ui <url>` serves the same handler beside a
 * proxy to a remote SSE server (`src/cli/ui-server.ts`).
 *
 * The files ship in the package as they are (no build step, no CDN) and are
 * read from `src/ui/page/`: the same relative URL reaches that folder from
 * `src/ui/handler.ts` (tests, tsx) and from `dist/ui/handler.js` (the
 * installed package). Requests name a file from a fixed list, never a path
 * on disk, so no request can reach any other file.
 */
import { readFile } from 'node:fs/promises';

/** A model's token prices, in US dollars per million tokens. */
export interface TokenPrice {
  /** Per million input (prompt) tokens. */
  input: number;
  /** Per million output (completion) tokens. */
  output: number;
}

/** Options of {@link createUiHandler}. */
export interface UiHandlerOptions {
  /** Path the console is served under, e.g. `'/ui'` (the page is `/ui/`). Default `''`: the page is `/`. */
  basePath?: string;
  /**
   * Path of the SSE routes on the same origin: the `basePath` of a
   * `createSseHandler({ allRuns: true })`, which serves `/events`, `/runs`
   * and `/runs/:runId/events` under it. Default `''`.
   */
  sseBase?: string;
  /**
   * Token prices by model name (as in `agent.tokens.used`'s `model`), in
   * dollars per million tokens: the console prices with them the tokens whose
   * events carry no `cost` (a run given `RunOptions.prices` carries its own).
   */
  prices?: Record<string, TokenPrice>;
  /** Shown in the console's header: where its runs come from. Default: none. */
  label?: string;
}

/** A Web-standard handler serving the console; see {@link createUiHandler}. */
export interface UiHandler {
  /** Answers any request: a file of the console, or 404 (405 for a method other than GET and HEAD). */
  (request: Request): Promise<Response>;
  /** Like calling the handler, but `undefined` for paths that are not the console's (chain it with an SSE handler). */
  handle(request: Request): Promise<Response | undefined>;
}

const PAGE_DIR = new URL('../../src/ui/page/', import.meta.url);

/** The files of the console, by the name a request uses: nothing outside this list is ever read. */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

// The page runs its own script and style only, talks to its own origin only, and cannot be framed.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': CSP,
};

function pathOption(name: string, value: string | undefined): string {
  if (value === undefined || value === '' || value === '/') return '';
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//')) {
    throw new TypeError(`createUiHandler: ${name} must be a path starting with '/' (same origin), got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

function checkPrices(prices: Record<string, TokenPrice> | undefined): Record<string, TokenPrice> {
  if (prices === undefined) return {};
  if (prices === null || typeof prices !== 'object') throw new TypeError(`createUiHandler: prices must be an object of { input, output } by model, got ${typeof prices}`);
  const checked: Record<string, TokenPrice> = {};
  for (const [model, price] of Object.entries(prices)) {
    for (const side of ['input', 'output'] as const) {
      const value = (price as Partial<TokenPrice> | null)?.[side];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TypeError(`createUiHandler: prices[${JSON.stringify(model)}].${side} must be a non-negative number of dollars per million tokens, got ${JSON.stringify(value)}`);
      }
    }
    Object.defineProperty(checked, model, { value: { input: price.input, output: price.output }, enumerable: true });
  }
  return checked;
}

/** Text for an HTML attribute value in double quotes. */
function attribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
}

/**
 * Builds the console's handler. Mount it next to an SSE handler built with
 * `allRuns: true` (the console lists every run), on the same origin:
 *
 * ```ts
 * const sse = createSseHandler({ authorize, allRuns: true, basePath: '/api' });
 * const ui = createUiHandler({ basePath: '/ui', sseBase: '/api' });
 * const app = async (request: Request) => (await ui.handle(request)) ?? sse(request);
 * ```
 *
 * The console's files are public (they hold no data); the runs it shows
 * are read through the SSE handler, with its `authorize`.
 */
export function createUiHandler(options: UiHandlerOptions = {}): UiHandler {
  const basePath = pathOption('basePath', options.basePath);
  const sseBase = pathOption('sseBase', options.sseBase);
  const prices = checkPrices(options.prices);
  const label = options.label === undefined ? '' : String(options.label);
  const cache = new Map<string, Promise<Uint8Array>>();

  const load = (file: string): Promise<Uint8Array> => {
    let bytes = cache.get(file);
    if (bytes === undefined) {
      bytes = readFile(new URL(file, PAGE_DIR)).then((buffer) => {
        if (file !== 'index.html') return new Uint8Array(buffer);
        // The page learns where the SSE routes are from its own markup, escaped as attribute text.
        const html = buffer
          .toString('utf8')
          .replace('{{sseBase}}', attribute(sseBase))
          .replace('{{source}}', attribute(label))
          .replace('{{prices}}', attribute(JSON.stringify(prices)));
        return new TextEncoder().encode(html);
      });
      // A failed read is tried again on the next request rather than cached.
      bytes.catch(() => cache.delete(file));
      cache.set(file, bytes);
    }
    return bytes;
  };

  async function handle(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (basePath !== '' && url.pathname === basePath) {
      // Relative links in the page need the trailing slash.
      return new Response(null, { status: 308, headers: { location: `${basePath}/${url.search}`, 'cache-control': 'no-store' } });
    }
    if (basePath !== '' && !url.pathname.startsWith(`${basePath}/`)) return undefined;
    const name = url.pathname.slice(basePath.length);
    const entry = Object.hasOwn(FILES, name) ? FILES[name] : name === '/index.html' ? FILES['/'] : undefined;
    if (entry === undefined) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response(`method ${request.method} not allowed: the console is read with GET\n`, {
        status: 405,
        headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    let body: Uint8Array;
    try {
      body = await load(entry.file);
    } catch (error) {
      return new Response(`the console's file ${entry.file} could not be read: ${error instanceof Error ? error.message : String(error)}\n`, {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    const headers = { ...COMMON_HEADERS, 'content-type': entry.type, 'content-length': String(body.byteLength) };
    return new Response(request.method === 'HEAD' ? null : (body as Uint8Array<ArrayBuffer>), { status: 200, headers });
  }

  const handler = (async (request: Request) =>
    (await handle(request)) ??
    new Response(`not found: the console is served at ${basePath}/\n`, { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } })) as UiHandler;
  handler.handle = handle;
  return handler;
}
