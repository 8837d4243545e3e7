/**
 * The server of `agentbus ui`: the console's page (`createUiHandler`) and the
 * proxy to the SSE server (`upstream-proxy.ts`) on one `node:http` server,
 * bound to 127.0.0.1 only. The console holds no credentials of its own, but
 * the proxy adds the `--header` values to what it forwards: anyone who can
 * reach it reads the runs with them, so it never listens beyond this machine.
 * For the same reason it answers only requests addressed to it by name
 * (`Host: 127.0.0.1:<port>` or `localhost:<port>`): a page of another site
 * that rebinds its own host name to 127.0.0.1 (DNS rebinding) would otherwise
 * be same-origin with the proxy and read through it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeListener } from '../sse/node.js';
import type { SseHandler } from '../sse/handler.js';
import { createUiHandler, type TokenPrice } from '../ui/handler.js';
import { createUpstreamProxy } from './upstream-proxy.js';
import { maskedUrl } from '../masked-url.js';

/** @internal Where the page reads the proxied SSE routes. */
export const PROXY_BASE = '/sse';

/** @internal Options of {@link startUiServer}. */
export interface UiServerOptions {
  upstream: URL;
  headers: Record<string, string>;
  /** 0 for any free port. */
  port: number;
  prices?: Record<string, TokenPrice>;
}

/** @internal A running console server. */
export interface UiServer {
  /** The page's URL, e.g. `http://127.0.0.1:7600/`. */
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

/** @internal Starts the console server; rejects when the port cannot be taken. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const ui = createUiHandler({ sseBase: PROXY_BASE, label: maskedUrl(options.upstream).replace(/\/+$/, ''), ...(options.prices === undefined ? {} : { prices: options.prices }) });
  const proxy = createUpstreamProxy({ upstream: options.upstream, headers: options.headers, basePath: PROXY_BASE });
  // toNodeListener bridges any Web handler: it refuses dot segments and encoded slashes
  // before URL parsing could resolve them, and streams bodies with backpressure.
  let hosts = new Set<string>();
  const route = async (request: Request): Promise<Response> => {
    const host = new URL(request.url).host;
    if (!hosts.has(host)) {
      return new Response(`misdirected request: agentbus ui answers only to ${[...hosts].join(' and ')}, not ${JSON.stringify(host.slice(0, 100))}\n`, {
        status: 421,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    return (await ui.handle(request)) ?? (await proxy(request)) ?? ui(request);
  };
  const app = route as SseHandler;
  app.handle = route;
  const server = http.createServer(toNodeListener(app));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
