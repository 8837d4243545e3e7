import { createHook } from 'node:async_hooks';
import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../src/bus.js';
import { FrameEncoder } from '../src/sse/frames.js';
import { createSseHandler, type SseAuthorize } from '../src/sse/index.js';
import type { RunSource } from '../src/source.js';
import { event, serve } from './sse-harness.js';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request sent as written: http.request keeps the path byte for byte
 * (fetch would normalize `..` away before it leaves the client). A 200 is
 * a live stream, so it is answered as soon as the headers arrive.
 */
function raw(base: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status === 200) {
        res.on('error', () => {}); // the reset that destroy() causes
        resolve({ status, headers: res.headers, body: '' });
        req.destroy();
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The blocks of an SSE body (split on blank lines), each as its lines. */
function blocks(body: string): string[][] {
  return body
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => block.split('\n'));
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const restore: Array<() => void> = [];
afterEach(() => {
  for (const undo of restore.splice(0)) undo();
  vi.restoreAllMocks();
});

/**
 * Counts promises that were created and have not settled: a promise
 * reaction left on a long-lived promise shows up here as one that stays
 * pending until that promise settles.
 */
function trackPendingPromises(): { readonly size: number } {
  const pending = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === 'PROMISE') pending.add(id);
    },
    promiseResolve(id) {
      pending.delete(id);
    },
    destroy(id) {
      pending.delete(id);
    },
  }).enable();
  restore.push(() => hook.disable());
  return pending;
}

/** Records the heartbeat intervals a handler starts (told apart by their unusual period) and which of them were cleared. */
function trackIntervals(periodMs: number): { started: unknown[]; cleared: Set<unknown> } {
  const started: unknown[] = [];
  const cleared = new Set<unknown>();
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms?: number, ...args: unknown[]) => {
    const handle = realSet(fn, ms, ...args);
    if (ms === periodMs) started.push(handle);
    return handle;
  }) as typeof setInterval);
  vi.spyOn(globalThis, 'clearInterval').mockImplementation(((handle: Parameters<typeof clearInterval>[0]) => {
    cleared.add(handle);
    realClear(handle);
  }) as typeof clearInterval);
  return { started, cleared };
}

describe('backpressure in the node:http bridge', () => {
  it('waits for drain with listeners it removes, so a slow reader costs no memory per wait and still gets everything', async () => {
    const bus = new EventBus();
    bus.publish(event('slow', 'demo.step', { i: 1 }));
    // A queue large enough that nothing is dropped while the reader is paused.
    const served = await serve({ bus, public: true, highWaterMark: 10_000 });
    const request = http.get(`${served.base}/runs/slow/events`);
    const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    await vi.waitFor(() => expect(text).toContain('id: 1\n'));

    const res = served.responses[0] as http.ServerResponse;
    let drains = 0;
    res.on('drain', () => drains++);
    const counts = () => [res.listenerCount('drain'), res.listenerCount('close')] as const;
    const [drainIdle, closeIdle] = counts();
    let drainMax = drainIdle;
    let closeMax = closeIdle;
    const sample = () => {
      const [d, c] = counts();
      drainMax = Math.max(drainMax, d);
      closeMax = Math.max(closeMax, c);
    };
    const pending = trackPendingPromises();
    const pendingBefore = pending.size;

    // Frames over the socket's 16 KiB high-water mark: every write waits for 'drain'.
    const payload = 'p'.repeat(24 * 1024);
    const total = 400;
    response.pause(); // the reader stops: the server sits in one drain wait
    for (let i = 2; i <= total / 2; i++) {
      bus.publish(event('slow', 'demo.step', { i, payload }));
      if (i % 20 === 0) await tick();
      sample();
    }
    response.resume();
    for (let i = total / 2 + 1; i <= total; i++) {
      bus.publish(event('slow', 'demo.step', { i, payload }));
      await tick();
      sample();
    }
    await vi.waitFor(() => expect(text).toContain(`id: ${total}\n`), { timeout: 10_000 });
    sample();

    // Enough waits to tell a per-wait leak (one reaction each) from none; the count depends on how writes batch.
    expect(drains).toBeGreaterThan(30);
    // One wait at a time, its listeners gone once it is over.
    expect(drainMax).toBeLessThanOrEqual(drainIdle + 1);
    expect(closeMax).toBeLessThanOrEqual(closeIdle + 1);
    expect(counts()).toEqual([drainIdle, closeIdle]);
    // Racing each wait against a promise that settles only at disconnect left one pending reaction per wait.
    // (a few pending promises belong to node:http itself, whatever the number of waits).
    expect(pending.size - pendingBefore).toBeLessThan(drains / 2);

    bus.closeStream('slow');
    await new Promise((resolve) => response.on('end', resolve));
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(text.endsWith('event: end\ndata: {"runId":"slow","reason":"closed"}\n\n')).toBe(true);
    expect(bus.stats().dropped).toBe(0);
  });
});

describe('release on errors', () => {
  const HEARTBEAT = 43_217;

  it('closes the subscription and clears the heartbeat when writing a frame throws (node:http)', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    const intervals = trackIntervals(HEARTBEAT);
    vi.spyOn(FrameEncoder.prototype, 'bytes').mockImplementationOnce(() => {
      throw new Error('frame failed');
    });
    const { base } = await serve({ bus, public: true, heartbeatMs: HEARTBEAT });
    // The headers are out before the failure, so the connection is cut.
    await new Promise<void>((resolve) => {
      const req = http.get(`${base}/runs/r/events`, (res) => {
        res.on('data', () => {});
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', () => resolve());
    });
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
    expect(intervals.started).toHaveLength(1);
    await vi.waitFor(() => expect(intervals.cleared.has(intervals.started[0])).toBe(true));
  });

  it('closes the subscription and clears the heartbeat when writing a frame throws (fetch-style)', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    const intervals = trackIntervals(HEARTBEAT);
    vi.spyOn(FrameEncoder.prototype, 'bytes').mockImplementationOnce(() => {
      throw new Error('frame failed');
    });
    const handler = createSseHandler({ bus, public: true, heartbeatMs: HEARTBEAT });
    const response = await handler(new Request('http://example.test/runs/r/events'));
    expect(response.status).toBe(200);
    // Nothing cancels the body here: the stream itself must let go.
    await expect(response.text()).rejects.toThrow('frame failed');
    expect(bus.stats().subscribers).toBe(0);
    expect(intervals.started).toHaveLength(1);
    expect(intervals.cleared.has(intervals.started[0])).toBe(true);
  });
});

describe('dot segments and the all-runs stream', () => {
  const DOT_PATHS = ['/runs/%2e%2e/events', '/runs/x/%2e%2e/%2e%2e/events', '/runs/%2E%2E/events', '/runs/../events', '/runs/./events', '/runs/.%2E/events'];

  /** The README's authorize: a token check that never looks at runId. */
  function tokenOnly(asked: Array<string | undefined>): SseAuthorize {
    return (request, runId) => {
      asked.push(runId);
      return request.headers.get('authorization') === 'Bearer s3cret';
    };
  }

  it.each([false, true])('answers 400 to dot segments before URL normalization can turn them into /events (allRuns: %s)', async (allRuns) => {
    const bus = new EventBus();
    bus.publish(event('other-tenant', 'demo.step', { secret: 'do-not-leak' }));
    const asked: Array<string | undefined> = [];
    const { base } = await serve({ bus, authorize: tokenOnly(asked), allRuns });
    for (const path of DOT_PATHS) {
      const answer = await raw(base, path, { headers: { authorization: 'Bearer s3cret' } });
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.body).toMatch(/dot segment/);
    }
    expect(asked).not.toContain(undefined);
    expect(bus.stats().subscribers).toBe(0);
  });

  it('answers 400 to encoded slashes in the run id segment', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true, allRuns: true });
    for (const path of ['/runs/a%2Fb/events', '/runs/a%5cb/events', '/runs/%2e%2e%2F/events']) {
      const answer = await raw(base, path);
      expect([path, answer.status]).toEqual([path, 400]);
    }
  });

  it('serves /events only when built with allRuns: true, also to fetch-style runtimes whose URL is already normalized', async () => {
    const bus = new EventBus();
    const asked: Array<string | undefined> = [];
    const headers = { authorization: 'Bearer s3cret' };
    const handler = createSseHandler({ bus, authorize: tokenOnly(asked) });
    for (const url of ['http://example.test/events', 'http://example.test/runs/%2e%2e/events', 'http://example.test/runs/x/%2e%2e/%2e%2e/events']) {
      const response = await handler(new Request(url, { headers }));
      expect([url, response.status]).toEqual([url, 404]);
      expect(await response.text()).toContain('the all-runs stream is not enabled (createSseHandler({ allRuns: true }))');
    }
    const { base } = await serve({ bus, authorize: tokenOnly(asked) });
    const node = await raw(base, '/events', { headers });
    expect(node.status).toBe(404);
    expect(node.body).toContain('allRuns: true');
    expect(asked).not.toContain(undefined);

    const enabled = createSseHandler({ bus, authorize: tokenOnly(asked), allRuns: true });
    const response = await enabled(new Request('http://example.test/events', { headers }));
    expect(response.status).toBe(200);
    expect(asked).toEqual([undefined]);
    await response.body?.cancel();
    expect(bus.stats().subscribers).toBe(0);
  });
});

describe('status codes and headers', () => {
  const CORS = { 'access-control-allow-origin': 'https://app.example' };

  it('answers 400 "bad Host header" to a Host that is not a host', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    const { base } = await serve({ bus, public: true, headers: CORS });
    for (const host of ['a b', '[::']) {
      const answer = await raw(base, '/runs/r/events', { headers: { host } });
      expect([host, answer.status]).toEqual([host, 400]);
      expect(answer.body).toContain('bad Host header');
      expect(answer.headers['access-control-allow-origin']).toBe(CORS['access-control-allow-origin']);
    }
  });

  it('sends the headers option on every answer of the node bridge, but leaves a Response from authorize as it is', async () => {
    const bus = new EventBus();
    bus.publish(event('known', 'demo.step'));
    const { base } = await serve({
      bus,
      headers: CORS,
      authorize: (request) => {
        const auth = request.headers.get('authorization');
        if (auth === 'Bearer teapot') return new Response('custom refusal', { status: 418 });
        return auth === 'Bearer good';
      },
    });
    const good = { authorization: 'Bearer good' };
    const cases: Array<[string, number, () => Promise<RawAnswer>]> = [
      ['stream', 200, () => raw(base, '/runs/known/events', { headers: good })],
      ['bad run id', 400, () => raw(base, '/runs/no%20spaces!/events', { headers: good })],
      ['bad Last-Event-ID', 400, () => raw(base, '/runs/known/events', { headers: { ...good, 'last-event-id': 'abc' } })],
      ['dot segment (bridge)', 400, () => raw(base, '/runs/%2e%2e/events', { headers: good })],
      ['bad Host (bridge)', 400, () => raw(base, '/runs/known/events', { headers: { ...good, host: 'a b' } })],
      ['no credentials', 401, () => raw(base, '/runs/known/events')],
      ['refused credentials', 403, () => raw(base, '/runs/known/events', { headers: { authorization: 'Bearer wrong' } })],
      ['unknown run', 404, () => raw(base, '/runs/missing/events', { headers: good })],
      ['all-runs not enabled', 404, () => raw(base, '/events', { headers: good })],
      ['not a route (bridge)', 404, () => raw(base, '/somewhere/else')],
      ['POST', 405, () => raw(base, '/runs/known/events', { method: 'POST', headers: good })],
      ['TRACE (bridge)', 405, () => raw(base, '/runs/known/events', { method: 'TRACE' })],
    ];
    for (const [name, status, send] of cases) {
      const answer = await send();
      expect([name, answer.status, answer.headers['access-control-allow-origin']]).toEqual([name, status, CORS['access-control-allow-origin']]);
      if (status === 405) expect([name, answer.headers.allow]).toEqual([name, 'GET, OPTIONS']);
    }
    const custom = await raw(base, '/runs/known/events', { headers: { authorization: 'Bearer teapot' } });
    expect(custom.status).toBe(418);
    expect(custom.body).toBe('custom refusal');
    expect(custom.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers 503 with Retry-After and the headers option when the run source cannot be asked', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    vi.spyOn(bus, 'lookup').mockImplementation(() => {
      throw new Error('store down');
    });
    const { base } = await serve({ bus, public: true, headers: CORS, retryMs: 2500 });
    const answer = await raw(base, '/runs/r/events');
    expect(answer.status).toBe(503);
    expect(answer.body).toBe('run source unavailable: store down\n');
    expect(answer.headers['retry-after']).toBe('3');
    expect(answer.headers['access-control-allow-origin']).toBe(CORS['access-control-allow-origin']);
  });

  it("sends the headers option on the node bridge's 500", async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    vi.spyOn(bus, 'subscribe').mockImplementation(() => {
      throw new Error('store down');
    });
    const { base } = await serve({ bus, public: true, headers: CORS });
    const answer = await raw(base, '/runs/r/events');
    expect(answer.status).toBe(500);
    expect(answer.headers['access-control-allow-origin']).toBe(CORS['access-control-allow-origin']);
  });

  it('sends the headers option on every answer of the fetch-style handler', async () => {
    const bus = new EventBus();
    bus.publish(event('known', 'demo.step'));
    const handler = createSseHandler({ bus, headers: CORS, authorize: (request) => request.headers.get('authorization') === 'Bearer good' });
    const good = { authorization: 'Bearer good' };
    const cases: Array<[string, number, Request]> = [
      ['bad run id', 400, new Request('http://example.test/runs/no%20spaces!/events', { headers: good })],
      ['no credentials', 401, new Request('http://example.test/runs/known/events')],
      ['refused credentials', 403, new Request('http://example.test/runs/known/events', { headers: { authorization: 'Bearer no' } })],
      ['unknown run', 404, new Request('http://example.test/runs/missing/events', { headers: good })],
      ['not a route', 404, new Request('http://example.test/elsewhere')],
      ['DELETE', 405, new Request('http://example.test/runs/known/events', { method: 'DELETE' })],
    ];
    for (const [name, status, request] of cases) {
      const response = await handler(request);
      expect([name, response.status, response.headers.get('access-control-allow-origin')]).toEqual([name, status, CORS['access-control-allow-origin']]);
      if (status === 405) expect(response.headers.get('allow')).toBe('GET, OPTIONS');
    }
  });

  it('answers a CORS preflight with 204, the allowed methods and the requested headers, without asking authorize', async () => {
    const bus = new EventBus();
    bus.publish(event('known', 'demo.step'));
    const asked: Array<string | undefined> = [];
    const authorize: SseAuthorize = (_request, runId) => {
      asked.push(runId);
      return false;
    };
    const { base } = await serve({ bus, headers: CORS, authorize });
    const preflight = await raw(base, '/runs/known/events', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, x-trace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      allow: 'GET, OPTIONS',
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-methods': 'GET, OPTIONS',
      'access-control-allow-headers': 'authorization, x-trace',
    });
    const plain = await raw(base, '/runs/known/events', { method: 'OPTIONS' });
    expect(plain.status).toBe(204);
    expect(plain.headers['access-control-allow-headers']).toBe('authorization, last-event-id');
    expect(asked).toEqual([]);

    // The user's own CORS headers win; without CORS headers a preflight gets only Allow.
    const own = createSseHandler({ bus, public: true, headers: { ...CORS, 'Access-Control-Allow-Headers': 'authorization' } });
    const ownAnswer = await own(new Request('http://example.test/runs/known/events', { method: 'OPTIONS', headers: { 'access-control-request-headers': 'x-other' } }));
    expect(ownAnswer.status).toBe(204);
    expect(ownAnswer.headers.get('access-control-allow-headers')).toBe('authorization');
    const bare = await createSseHandler({ bus, public: true })(new Request('http://example.test/runs/known/events', { method: 'OPTIONS' }));
    expect(bare.status).toBe(204);
    expect(bare.headers.get('allow')).toBe('GET, OPTIONS');
    expect(bare.headers.has('access-control-allow-methods')).toBe(false);
  });
});

describe('the first bytes of a stream', () => {
  /** Every block carries data or is only comments; the first data block opens with the retry hint. */
  function expectNoDataLessEvents(body: string, retryMs: number): void {
    const all = blocks(body);
    expect(all[0]).toEqual([': agentbus']);
    for (const block of all) {
      const commentOnly = block.every((line) => line.startsWith(':'));
      if (!commentOnly) expect(block.some((line) => line.startsWith('data:')), JSON.stringify(block)).toBe(true);
    }
    const firstData = all.find((block) => block.some((line) => line.startsWith('data:')));
    expect(firstData?.[0]).toBe(`retry: ${retryMs}`);
    expect(all.filter((block) => block.some((line) => line.startsWith('retry:')))).toHaveLength(1);
  }

  it('opens with a comment and writes retry: as the first line of the first event frame', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'run.started'));
    bus.publish(event('r', 'demo.step'));
    bus.closeStream('r');
    const { base } = await serve({ bus, public: true, retryMs: 1234 });
    const body = await (await fetch(`${base}/runs/r/events`)).text();
    expectNoDataLessEvents(body, 1234);
    expect(body.startsWith(': agentbus\n\nretry: 1234\nid: 1\nevent: run.started\ndata: {')).toBe(true);
    const locus = await createSseHandler({ bus, public: true, retryMs: 77, format: 'locus' })(new Request('http://example.test/runs/r/events'));
    expectNoDataLessEvents(await locus.text(), 77);
  });

  it('writes retry: on the end frame when it is the first frame', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    bus.publish(event('r', 'demo.step'));
    const { base } = await serve({ bus, public: true, retryMs: 500 });
    // Caught up on a run still open; it then closes with nothing new.
    const response = await fetch(`${base}/runs/r/events`, { headers: { 'last-event-id': '2' } });
    bus.closeStream('r');
    const body = await response.text();
    expectNoDataLessEvents(body, 500);
    expect(body).toBe(': agentbus\n\nretry: 500\nevent: end\ndata: {"runId":"r","reason":"closed"}\n\n');
  });

  it('answers a path it does not serve with the routes it does, and the basePath hint when mounted under a prefix', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    // As a router mount that strips nothing would pass it: /sse/... to a handler built without basePath.
    const { base } = await serve({ bus, public: true });
    const response = await fetch(`${base}/sse/runs/r/events`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe(
      'not found: "/sse/runs/r/events"; this handler serves GET /runs/:runId/events. Mounted under a path prefix? Pass it as createSseHandler({ basePath })\n',
    );
    const withBase = await serve({ bus, public: true, basePath: '/sse', allRuns: true });
    expect(await (await fetch(`${withBase.base}/other`)).text()).toBe(
      'not found: "/other"; this handler serves GET /sse/runs/:runId/events, GET /sse/events and GET /sse/runs\n',
    );
  });

  it('answers 204 to a resume of a finished run with nothing after the last id, and streams it otherwise', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    bus.publish(event('r', 'demo.step'));
    bus.closeStream('r');
    const { base } = await serve({ bus, public: true, headers: { 'access-control-allow-origin': 'https://app.example' } });
    const done = await fetch(`${base}/runs/r/events`, { headers: { 'last-event-id': '2' } });
    expect(done.status).toBe(204);
    expect(await done.text()).toBe('');
    expect(done.headers.get('access-control-allow-origin')).toBe('https://app.example');
    // Past the end too (a client that counted wrong): still nothing to send.
    expect((await fetch(`${base}/runs/r/events?lastEventId=99`)).status).toBe(204);
    // One event still unread: the stream, then end.
    const behind = await fetch(`${base}/runs/r/events`, { headers: { 'last-event-id': '1' } });
    expect(behind.status).toBe(200);
    expect(await behind.text()).toContain('id: 2\n');
  });

  it('names a target that starts with // in its 404 as the path sent, not as a host and a path', async () => {
    const bus = new EventBus();
    bus.publish(event('r1', 'demo.step'));
    const { base } = await serve({ bus, public: true });
    // URL resolution reads `//runs/r1/events` as host `runs`, path `/r1/events`.
    const answer = await raw(base, '//runs/r1/events');
    expect(answer.status).toBe(404);
    expect(answer.body).toMatch(/^not found: "\/\/runs\/r1\/events"; /);
    // Resolved, this one was the route /runs/r1/events on host other.example: as sent, it is no route.
    expect((await raw(base, '//other.example/runs/r1/events')).status).toBe(404);
  });
});

describe('options checked at construction', () => {
  const MAX = 2 ** 31 - 1;

  it.each(['heartbeatMs', 'retryMs'] as const)(
    'refuses %s above 2^31-1 ms, the longest delay a timer accepts, with a RangeError naming the option',
    (name) => {
      // Node would not refuse 2^32 in setInterval: it warns and fires every 1 ms.
      for (const value of [MAX + 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
        expect(() => createSseHandler({ public: true, [name]: value })).toThrow(RangeError);
        expect(() => createSseHandler({ public: true, [name]: value })).toThrow(
          `createSseHandler: ${name} must be at most 2147483647 ms (2^31-1, the longest delay timers accept; Node fires a longer one after 1 ms), got ${value}`,
        );
      }
      expect(() => createSseHandler({ public: true, [name]: 1.5 })).toThrow(`createSseHandler: ${name} must be a positive integer, got 1.5`);
      expect(() => createSseHandler({ public: true, [name]: Number.NaN })).toThrow(`createSseHandler: ${name} must be a positive integer, got NaN`);
      expect(() => createSseHandler({ public: true, [name]: '5000' as unknown as number })).toThrow(
        `createSseHandler: ${name} must be a positive integer, got "5000"`,
      );
      expect(() => createSseHandler({ public: true, [name]: MAX })).not.toThrow();
    },
  );

  it('refuses a basePath that is not a string with a TypeError naming basePath and the rule', () => {
    expect(() => createSseHandler({ public: true, basePath: 5 as unknown as string })).toThrow(TypeError);
    expect(() => createSseHandler({ public: true, basePath: 5 as unknown as string })).toThrow(
      "createSseHandler: basePath must be a string starting with '/', got 5",
    );
    expect(() => createSseHandler({ public: true, basePath: null as unknown as string })).toThrow("basePath must be a string starting with '/', got null");
    expect(() => createSseHandler({ public: true, basePath: 'api' })).toThrow(`createSseHandler: basePath must start with '/', got "api"`);
  });

  it('refuses a bus or source without the methods the handler calls, naming the option and the missing methods, rather than answering 503 to every request', () => {
    expect(() => createSseHandler({ public: true, bus: {} as EventBus })).toThrow(TypeError);
    expect(() => createSseHandler({ public: true, bus: {} as EventBus })).toThrow(
      'createSseHandler: bus must be an EventBus (with methods lookup, subscribe, subscribeAll), got an object without lookup, subscribe, subscribeAll',
    );
    const bus = new EventBus();
    const noLookup = { subscribe: bus.subscribe.bind(bus), subscribeAll: bus.subscribeAll.bind(bus) };
    expect(() => createSseHandler({ public: true, source: noLookup as unknown as RunSource })).toThrow(
      'createSseHandler: source must be a RunSource such as RedisRunSource (with methods lookup, subscribe, subscribeAll), got an object without lookup',
    );
    expect(() => createSseHandler({ public: true, source: 'redis://localhost' as unknown as RunSource })).toThrow(
      'createSseHandler: source must be a RunSource such as RedisRunSource (with methods lookup, subscribe, subscribeAll), got "redis://localhost"',
    );
    // The methods may come from a prototype, and retainedRuns is optional.
    expect(() => createSseHandler({ public: true, bus })).not.toThrow();
    expect(() => createSseHandler({ public: true, source: { ...noLookup, lookup: () => 'unknown' } })).not.toThrow();
  });
});
