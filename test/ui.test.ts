// The console's server side: createUiHandler (the page's files), the proxy of
// `agentbus ui` (src/cli/ui-server.ts) against a real SSE server, both on real
// HTTP on 127.0.0.1, and the built command (dist/cli/agentbus.js, so `npm run
// build` first, as `npm test` does).
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus.js';
import { startUiServer, type UiServer } from '../src/cli/ui-server.js';
import { toNodeListener } from '../src/sse/index.js';
import { createUiHandler } from '../src/ui/index.js';
import { event, serve } from './sse-harness.js';

const BIN = fileURLToPath(new URL('../dist/cli/agentbus.js', import.meta.url));
const PAGE = new URL('../src/ui/page/', import.meta.url);
const TOKEN = 'Bearer ui-test-token';

const started: UiServer[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(listener: http.RequestListener): Promise<string> {
  const server = http.createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw request, so that the path reaches the server exactly as written (fetch would resolve dot segments). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    http
      .get({ hostname, port, path }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('createUiHandler', () => {
  it('serves the page with the SSE base, label and prices written into it as escaped attribute text', async () => {
    const ui = createUiHandler({ basePath: '/ui', sseBase: '/api', label: '"><script>alert(1)</script>', prices: { 'gpt-4o': { input: 2.5, output: 10 } } });
    const response = await ui(new Request('http://x/ui/'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await response.text();
    expect(html).toContain('<meta name="agentbus-sse-base" content="/api">');
    expect(html).toContain('<meta name="agentbus-source" content="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">');
    expect(html).toContain('<meta name="agentbus-prices" content="{&quot;gpt-4o&quot;:{&quot;input&quot;:2.5,&quot;output&quot;:10}}">');
    expect(html).not.toContain('{{');
  });

  it('serves the script, stylesheet and icon as shipped, redirects the bare base path, and leaves every other path to the next handler', async () => {
    const ui = createUiHandler({ basePath: '/ui' });
    for (const [name, type] of [['console.js', 'text/javascript; charset=utf-8'], ['console.css', 'text/css; charset=utf-8'], ['favicon.svg', 'image/svg+xml']] as const) {
      const response = await ui(new Request(`http://x/ui/${name}`));
      expect(response.headers.get('content-type')).toBe(type);
      expect(await response.text()).toBe(readFileSync(new URL(name, PAGE), 'utf8'));
    }
    const bare = await ui(new Request('http://x/ui?x=1'));
    expect([bare.status, bare.headers.get('location')]).toEqual([308, '/ui/?x=1']);
    expect(await ui.handle(new Request('http://x/api/events'))).toBeUndefined();
    expect(await ui.handle(new Request('http://x/ui/package.json'))).toBeUndefined();
    expect((await ui(new Request('http://x/ui/nope'))).status).toBe(404);
    expect((await ui(new Request('http://x/ui/', { method: 'POST' }))).status).toBe(405);
    const head = await ui(new Request('http://x/ui/console.css', { method: 'HEAD' }));
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('refuses bad options with the fix', () => {
    expect(() => createUiHandler({ basePath: 'ui' })).toThrow(`createUiHandler: basePath must be a path starting with '/' (same origin), got "ui"`);
    expect(() => createUiHandler({ sseBase: '//evil.example' })).toThrow(/sseBase must be a path starting with '\/'/);
    expect(() => createUiHandler({ prices: { m: { input: -1, output: 1 } } })).toThrow('createUiHandler: prices["m"].input must be a non-negative number of dollars per million tokens, got -1');
  });

  it('never serves a file outside its list, whatever the path says', async () => {
    const base = await listen(toNodeListener(createUiHandler({ basePath: '/ui' })));
    for (const path of ['/ui/../package.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/..%2f..%2fpackage.json', '/ui/console.js/../../../package.json', '/ui/page/index.html', '/ui/%2e%2e%5chandler.ts']) {
      const { status, body } = await rawGet(base, path);
      expect([400, 404], path).toContain(status);
      expect(body, path).not.toContain('"name": "agentbus"');
      expect(body, path).not.toContain('createUiHandler');
    }
  });
});

describe('the agentbus ui server', () => {
  async function upstream() {
    const bus = new EventBus();
    const served = await serve({ bus, allRuns: true, authorize: (request) => request.headers.get('authorization') === TOKEN });
    return { bus, ...served };
  }

  it('listens on 127.0.0.1 only, serves the page, and forwards the SSE routes with its headers and nothing of the browser\'s but Last-Event-ID', async () => {
    const { bus, base, requests } = await upstream();
    bus.publish(event('r1', 'run.started', { name: 'first' }));
    bus.publish(event('r1', 'demo.step', { n: 1 }));
    bus.publish(event('r1', 'demo.step', { n: 2 }));
    bus.closeStream('r1');
    const ui = await startUiServer({ upstream: new URL(base), headers: { authorization: TOKEN }, port: 0 });
    started.push(ui);
    expect((ui.server.address() as AddressInfo).address).toBe('127.0.0.1');
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const page = await (await fetch(ui.url)).text();
    expect(page).toContain('<meta name="agentbus-sse-base" content="/sse">');
    expect(page).toContain(`<meta name="agentbus-source" content="${base}">`);
    expect(page).not.toContain('ui-test-token');

    const list = await fetch(`${ui.url}sse/runs`, { headers: { cookie: 'session=page', authorization: 'Bearer from-the-page' } });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { runs: { name: string }[] }).runs.map((run) => run.name)).toEqual(['first']);

    const resumed = await fetch(`${ui.url}sse/runs/r1/events`, { headers: { 'last-event-id': '2' } });
    expect(resumed.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const frames = await resumed.text();
    expect(frames).toContain('id: 3\nevent: demo.step\n');
    expect(frames).not.toContain('id: 2\n');
    expect(frames).toContain('event: end\n');

    expect(requests.map((headers) => [headers.authorization, headers.cookie, headers['last-event-id']])).toEqual([
      [TOKEN, undefined, undefined],
      [TOKEN, undefined, '2'],
    ]);
  });

  it('shows the upstream on its page without the password its URL carries', async () => {
    const { base } = await upstream();
    const withPassword = new URL(base);
    withPassword.username = 'reader';
    withPassword.password = 's3cret-pw';
    const ui = await startUiServer({ upstream: withPassword, headers: { authorization: TOKEN }, port: 0 });
    started.push(ui);
    const page = await (await fetch(ui.url)).text();
    expect(page).not.toContain('s3cret-pw');
    expect(page).toContain(`<meta name="agentbus-source" content="${base.replace('//', '//reader:***@')}">`);
  });

  it('lets go of the SSE server\'s stream as soon as the page goes away', async () => {
    const { bus, base } = await upstream();
    bus.publish(event('live-run', 'run.started', { name: 'still going' }));
    const ui = await startUiServer({ upstream: new URL(base), headers: { authorization: TOKEN }, port: 0 });
    started.push(ui);
    const leave = new AbortController();
    const response = await fetch(`${ui.url}sse/runs/live-run/events`, { signal: leave.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await expect.poll(() => bus.stats().subscribers).toBe(1);
    leave.abort();
    await expect.poll(() => bus.stats().subscribers, { timeout: 5_000 }).toBe(0);
  });

  it('says why when the SSE server cannot be reached or refuses, and proxies nothing but the SSE routes', async () => {
    const { base } = await upstream();
    const withoutHeader = await startUiServer({ upstream: new URL(base), headers: {}, port: 0 });
    started.push(withoutHeader);
    const refused = await fetch(`${withoutHeader.url}sse/events`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toBe('unauthorized: credentials required to read this stream; start agentbus ui with --header "authorization: Bearer <token>"\n');

    const closed = await listen(() => {});
    const port = new URL(closed).port;
    await new Promise((resolve) => (servers.pop() as http.Server).close(resolve));
    const nowhere = await startUiServer({ upstream: new URL(closed), headers: { authorization: TOKEN }, port: 0 });
    started.push(nowhere);
    const bad = await fetch(`${nowhere.url}sse/runs`);
    expect(bad.status).toBe(502);
    expect(await bad.text()).toBe(`agentbus ui: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED); is the server running, on that port?\n`);

    // DNS rebinding: a page of another site whose name now points at 127.0.0.1 is not answered.
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ hostname: '127.0.0.1', port: new URL(nowhere.url).port, path: '/sse/runs', headers: { host: `evil.example:${new URL(nowhere.url).port}` } }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += String(chunk)));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    expect(rebound.status).toBe(421);
    expect(rebound.body).toMatch(/^misdirected request: agentbus ui answers only to 127\.0\.0\.1:\d+ and localhost:\d+, not "evil\.example:\d+"\n$/);
    expect((await fetch(nowhere.url.replace('127.0.0.1', 'localhost'))).status).toBe(200);

    for (const path of ['/sse/', '/sse/admin', '/sse/runs/a/b/events', '/sse/runs/%2e%2e/events', '/sse/runs/..%2f/events', '/other']) {
      const { status } = await rawGet(nowhere.url, path);
      expect([400, 404], path).toContain(status);
    }
    expect((await fetch(`${nowhere.url}sse/runs`, { method: 'POST' })).status).toBe(405);
  });
});

/** Runs the built command; resolves with its exit code and output. */
function agentbus(args: string[], timeout = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('the agentbus command', () => {
  it('starts with a shebang, dispatches ui and tail, and prints its commands', async () => {
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const help = await agentbus(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/agentbus tail <url>[\s\S]*agentbus ui <sse-base-url>/);
    expect((await agentbus([])).code).toBe(2);
    const tailHelp = await agentbus(['tail', '--help']);
    expect(tailHelp.stdout.startsWith('usage: agentbus tail <url>')).toBe(true);
    const uiHelp = await agentbus(['ui', '--help']);
    expect(uiHelp.code).toBe(0);
    expect(uiHelp.stdout.startsWith('usage: agentbus ui <sse-base-url>')).toBe(true);
    expect(uiHelp.stdout).toContain('default 7600');
  });

  it.each([
    [['ui'], 'missing <sse-base-url>, e.g. http://127.0.0.1:3000'],
    [['ui', 'localhost:3000'], '<sse-base-url> must be an http(s) URL, got "localhost:3000"'],
    [['ui', 'http://a', 'http://b'], 'unexpected argument "http://b" (one <sse-base-url> only)'],
    [['ui', 'http://a', '--port', '70000'], '--port expects a port number from 0 to 65535, got "70000"'],
    [['ui', 'http://a', '--price', 'gpt-4o=2.5'], '--price expects "model=input,output" in dollars per million tokens, e.g. "gpt-4o=2.5,10", got "gpt-4o=2.5"'],
    [['ui', 'http://a', '-H', 'nocolon'], '-H expects "Name: value", got "nocolon"'],
    [['ui', 'http://a', '--host', '0.0.0.0'], 'unknown option --host'],
  ])('agentbus %j is a usage error (exit 2)', async (args, message) => {
    const { code, stdout, stderr } = await agentbus(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`agentbus ui: ${message}\nusage: agentbus ui <sse-base-url> [--header "Name: value"]... [--port N] [--price "model=in,out"]...\nHelp: agentbus ui --help\n`);
  });

  it('prints the URL to open, warns at once about a server it cannot read, and exits 0 on Ctrl-C', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, allRuns: true, authorize: () => false });
    const child = spawn(process.execPath, [BIN, 'ui', `${base}/events`, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += String(chunk)));
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    await expect.poll(() => stderr, { timeout: 10_000 }).toContain('warning');
    expect(stdout).toMatch(new RegExp(`^agentbus ui: the console for ${base} is at http://127\\.0\\.0\\.1:\\d+/\\n$`));
    expect(stderr).toBe(`agentbus ui: warning: ${base}/runs answered 401 (unauthorized: credentials required to read this stream); pass --header "authorization: Bearer <token>"\n`);
    const url = /is at (\S+)/.exec(stdout)?.[1] as string;
    expect((await fetch(url)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  /** The built command serving the console for `upstream`; `stop` sends Ctrl-C and resolves with the exit code. */
  function startUi(upstream: string) {
    const child = spawn(process.execPath, [BIN, 'ui', upstream, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += String(chunk)));
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return {
      stdout: () => stdout,
      stderr: () => stderr,
      stop: () => {
        child.kill('SIGINT');
        return exited;
      },
    };
  }

  it('says nothing at start for an agentbus server with allRuns: true that accepts the header', async () => {
    const { base, requests } = await serve({ bus: new EventBus(), allRuns: true, authorize: (request) => request.headers.get('authorization') === TOKEN });
    const child = spawn(process.execPath, [BIN, 'ui', base, '--port', '0', '--header', `authorization: ${TOKEN}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await expect.poll(() => requests.length, { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });

  it('warns at start about a URL that answers 200 with something other than a run list, as an app with a catch-all route does', async () => {
    const base = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><div id=app></div>');
    });
    const ui = startUi(base);
    await expect.poll(() => ui.stderr(), { timeout: 10_000 }).toContain('warning');
    expect(ui.stderr()).toBe(
      `agentbus ui: warning: ${base}/runs answered 200 text/html, not an agentbus run list: is ${base} the base URL (basePath included) of a createSseHandler({ allRuns: true }) server?\n`,
    );
    expect(await ui.stop()).toBe(0);
  });

  it('says a server that took the connection but did not answer did not answer within 3 s, not that it cannot connect', async () => {
    const base = await listen(() => {
      // accepted, never answered
    });
    const ui = startUi(base);
    await expect.poll(() => ui.stderr(), { timeout: 10_000 }).toContain('warning');
    expect(ui.stderr()).toBe(`agentbus ui: warning: ${base}/runs did not answer within 3 s\n`);
    expect(await ui.stop()).toBe(0);
    (servers.at(-1) as http.Server).closeAllConnections();
  });

  it('never prints the password of a URL that carries one', async () => {
    const base = await listen(() => {});
    const withPassword = base.replace('http://', 'http://reader:s3cret@');
    const ui = startUi(withPassword);
    await expect.poll(() => ui.stderr(), { timeout: 10_000 }).toContain('warning');
    expect(await ui.stop()).toBe(0);
    expect(ui.stdout()).toContain(`the console for ${base.replace('http://', 'http://reader:***@')} is at`);
    expect(ui.stdout() + ui.stderr()).not.toContain('s3cret');
  });

  it('exits 1 when its port is taken', async () => {
    const taken = await listen(() => {});
    const { code, stderr } = await agentbus(['ui', 'http://127.0.0.1:9', '--port', new URL(taken).port]);
    expect(code).toBe(1);
    expect(stderr).toBe(`agentbus ui: cannot serve on 127.0.0.1:${new URL(taken).port}: port ${new URL(taken).port} is taken; choose another with --port\n`);
  });
});
