/**
 * The proxy of `agentbus ui`: the console's page reads `/sse/...` on its own
 * origin, and this forwards those reads to the SSE server, adding the
 * `--header` values on the way.
 *
 * Why a proxy rather than the page reading the server directly: a browser
 * cannot set headers on `EventSource` (and the page must not hold the
 * credentials anyway: anything it holds, any script on it can read), and a
 * page on another origin than the SSE server runs into CORS, which most SSE
 * servers do not answer. Same origin, headers added server-side, nothing
 * secret ever sent to the browser.
 *
 * Only the SSE routes go through (`/events`, `/runs`, `/runs/:runId/events`),
 * with GET, and only `accept` and `last-event-id` of the browser's headers:
 * not its cookies, nor anything else the console's origin could carry.
 */
import { failureMessage } from './failure.js';

/** @internal Options of {@link createUpstreamProxy}. */
export interface UpstreamProxyOptions {
  /** The SSE server's base URL (no trailing `/`). */
  upstream: URL;
  /** Headers added to every forwarded request. */
  headers: Record<string, string>;
  /** Path the page reads the routes under, e.g. `'/sse'`. */
  basePath: string;
}

// One path segment of a run id: no separators, no dot segments (refused before here too).
const ROUTE = /^\/(?:events|runs|runs\/[^/\\]+\/events)$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;
const FORWARDED_REQUEST_HEADERS = ['accept', 'last-event-id'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'retry-after'];

function text(status: number, body: string): Response {
  return new Response(`${body}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
}

/**
 * @internal A Web-standard handler forwarding the SSE routes under
 * `basePath` to `upstream`; `undefined` for any other path. A server that
 * cannot be reached is a 502 whose text says where and why; its own error
 * answers pass through, a 401 with the flag that fixes it.
 */
export function createUpstreamProxy(options: UpstreamProxyOptions): (request: Request) => Promise<Response | undefined> {
  const { upstream, headers, basePath } = options;
  const base = upstream.href.replace(/\/+$/, '');
  const headerNames = Object.keys(headers);
  return async (request) => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(`${basePath}/`)) return undefined;
    const route = url.pathname.slice(basePath.length);
    if (!ROUTE.test(route) || DOT_SEGMENT.test(route)) return text(404, `not found: the console proxies ${basePath}/events, ${basePath}/runs and ${basePath}/runs/<runId>/events`);
    if (request.method !== 'GET') return text(405, `method ${request.method} not allowed: the SSE routes are read with GET`);
    const target = new URL(`${base}${route}`);
    const sent = new Headers(headers);
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) sent.set(name, value);
    }
    let response: Response;
    try {
      // The browser going away aborts the upstream read with it.
      response = await fetch(target, { headers: sent, signal: request.signal, redirect: 'manual' });
    } catch (error) {
      if (request.signal.aborted) return text(499, 'client closed the request');
      return text(502, `agentbus ui: ${failureMessage(error, { url: target, headerNames, connected: false, fetchError: error })}`);
    }
    const out = new Headers();
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) out.set(name, value);
    }
    if (response.status === 401) {
      const said = (await response.text().catch(() => '')).trim().slice(0, 300);
      const fix = headerNames.length === 0 ? 'start agentbus ui with --header "authorization: Bearer <token>"' : `the server did not accept what --header sent (${headerNames.join(', ')})`;
      return text(401, `${said === '' ? 'unauthorized' : said}; ${fix}`);
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {});
      return text(502, `agentbus ui: the SSE server answered ${target.pathname} with a redirect (${response.status}) to ${response.headers.get('location') ?? '?'}; give agentbus ui that URL`);
    }
    return new Response(response.body, { status: response.status, headers: out });
  };
}
