import type http from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../src/bus.js';
import type { StreamEvent } from '../src/events.js';
import { SseHttpError, SseProtocolError, subscribeSse } from '../src/sse/index.js';
import { event, serve } from './sse-harness.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('subscribeSse', () => {
  it('yields validated history, then live events, with no gap or duplicate, and ends on event: end', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true });
    bus.publish(event('run', 'run.started', { name: 'demo' }));
    for (let i = 2; i <= 50; i++) bus.publish(event('run', 'demo.step', { i }));
    const seqs: number[] = [];
    const types = new Set<string>();
    for await (const e of subscribeSse(`${base}/runs/run/events`)) {
      seqs.push(e.seq);
      types.add(e.eventType);
      if (e.seq === 1) {
        // Live events published while the history is still being read.
        void (async () => {
          for (let i = 51; i <= 300; i++) {
            bus.publish(event('run', 'demo.step', { i }));
            if (i % 25 === 0) await tick();
          }
          bus.closeStream('run');
        })();
      }
    }
    expect(seqs).toEqual(range(1, 300));
    expect([...types]).toEqual(['run.started', 'demo.step']);
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
  });

  it('reconnects after the connection is cut and resumes exactly after the last seen seq', async () => {
    const bus = new EventBus();
    const served = await serve({ bus, public: true, retryMs: 20 });
    for (let i = 1; i <= 20; i++) bus.publish(event('run', 'demo.step', { i }));
    const seqs: number[] = [];
    for await (const e of subscribeSse(`${served.base}/runs/run/events`)) {
      seqs.push(e.seq);
      if (e.seq === 20 && served.requests.length === 1) {
        served.cut();
        // Published while the client is away: it must get them from history.
        for (let i = 21; i <= 40; i++) bus.publish(event('run', 'demo.step', { i }));
        bus.closeStream('run');
      }
    }
    expect(seqs).toEqual(range(1, 40));
    expect(served.requests).toHaveLength(2);
    expect(served.requests[0]?.['last-event-id']).toBeUndefined();
    expect(served.requests[1]?.['last-event-id']).toBe('20');
  });

  it('starts after lastEventId when given one', async () => {
    const bus = new EventBus();
    const served = await serve({ bus, public: true });
    for (let i = 1; i <= 10; i++) bus.publish(event('run', 'demo.step', { i }));
    bus.closeStream('run');
    const seqs: number[] = [];
    for await (const e of subscribeSse(`${served.base}/runs/run/events`, { lastEventId: 6 })) seqs.push(e.seq);
    expect(seqs).toEqual([7, 8, 9, 10]);
    expect(served.requests[0]?.['last-event-id']).toBe('6');
  });

  it('ends quietly when resuming a finished run it has read to the end (204)', async () => {
    const bus = new EventBus();
    bus.publish(event('fin', 'demo.step'));
    bus.publish(event('fin', 'demo.step'));
    bus.closeStream('fin');
    const { base, requests } = await serve({ bus, public: true });
    const seen: StreamEvent[] = [];
    for await (const e of subscribeSse(`${base}/runs/fin/events`, { lastEventId: 2 })) seen.push(e);
    expect(seen).toEqual([]);
    expect(requests).toHaveLength(1);
  });

  it('refills from history when it fell behind and the server dropped events, yielding nothing twice', async () => {
    // History large enough, in count and bytes, to refill the whole gap.
    const bus = new EventBus({ highWaterMark: 16, historySize: 50_000, maxRunBytes: 128 << 20, maxBytes: 128 << 20 });
    const served = await serve({ bus, public: true });
    bus.publish(event('run', 'demo.step', { i: 1 }));
    const payload = 'p'.repeat(2048);
    const total = 20_000;
    const seen: StreamEvent[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    for await (const e of subscribeSse(`${served.base}/runs/run/events`)) {
      seen.push(e);
      if (e.seq === 1) {
        // The consumer stalls while 40 MB are published: the server must drop.
        for (let i = 2; i <= total; i++) {
          bus.publish(event('run', 'demo.step', { i, payload }));
          if (i % 500 === 0) await tick();
        }
        bus.closeStream('run');
        release();
        await gate;
      }
    }
    expect(bus.stats().dropped).toBeGreaterThan(0);
    expect(seen.map((e) => e.seq)).toEqual(range(1, total));
    expect(seen.some((e) => e.eventType === 'stream.dropped')).toBe(false);
    expect(served.requests.length).toBeGreaterThan(1);
  });

  /** Reads a run of `total` events through a client that falls behind at once (queues of 16, 2 KiB events). */
  async function overflowed(total: number, refill: boolean) {
    const bus = new EventBus({ highWaterMark: 16, historySize: 100 });
    const served = await serve({ bus, public: true });
    bus.publish(event('run', 'demo.step', { i: 1 }));
    const payload = 'p'.repeat(2048);
    const seen: StreamEvent[] = [];
    for await (const e of subscribeSse(`${served.base}/runs/run/events`, { refill })) {
      seen.push(e);
      if (e.seq === 1) {
        for (let i = 2; i <= total; i++) {
          bus.publish(event('run', 'demo.step', { i, payload }));
          if (i % 500 === 0) await tick();
        }
        bus.closeStream('run');
      }
    }
    const seqs = seen.filter((e) => e.seq > 0).map((e) => e.seq);
    const reports = seen.filter((e) => e.eventType === 'stream.dropped');
    const lost = reports.reduce((n, r) => n + (r.data as { count: number }).count, 0);
    return { seqs, reports, lost, requests: served.requests.length };
  }

  it('yields stream.dropped when history can no longer refill the gap', async () => {
    const { seqs, reports, lost } = await overflowed(20_000, true);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.at(-1)).toBe(20_000);
    expect(reports.length).toBeGreaterThan(0);
    expect(seqs.length + lost).toBe(20_000);
  });

  it('with refill off, counts each lost event once: the server report, not again as a gap in the seqs after it', async () => {
    const { seqs, lost, requests } = await overflowed(5_000, false);
    expect(lost).toBeGreaterThan(0);
    expect(seqs.length + lost).toBe(5_000);
    expect(requests).toBe(1);
  });

  it.each([
    [401, undefined, /answered 401: credentials required/],
    [403, 'Bearer wrong', /answered 403: credentials refused/],
  ])('fails with SseHttpError %i without retrying', async (status, authorization, message) => {
    const bus = new EventBus();
    bus.publish(event('run', 'demo.step'));
    const served = await serve({ bus, authorize: (req) => req.headers.get('authorization') === 'Bearer good' });
    const iterate = async () => {
      for await (const _ of subscribeSse(`${served.base}/runs/run/events`, { headers: authorization ? { authorization } : {} })) {
        // nothing is yielded
      }
    };
    const error = await iterate().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SseHttpError);
    expect((error as SseHttpError).status).toBe(status);
    expect((error as Error).message).toMatch(message);
    expect(served.requests).toHaveLength(1);
  });

  it('fails with SseHttpError 404 naming the run, and passes credentials through headers', async () => {
    const bus = new EventBus();
    const served = await serve({ bus, authorize: (req) => req.headers.get('authorization') === 'Bearer good' });
    const error = await (async () => {
      for await (const _ of subscribeSse(`${served.base}/runs/nope/events`, { headers: { authorization: 'Bearer good' } })) {
        // nothing
      }
    })().catch((e: unknown) => e);
    expect((error as SseHttpError).status).toBe(404);
    expect((error as Error).message).toContain('unknown run "nope"');
  });

  it('rejects a stream whose events are not agentbus envelopes, naming the field', async () => {
    const served = await serve({ public: true }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('id: 1\nevent: agent.tool.completed\ndata: {"eventId":"r:1","runId":"r","eventType":"agent.tool.completed","timestamp":1,"data":{}}\n\n');
    });
    const error = await (async () => {
      for await (const _ of subscribeSse(`${served.base}/runs/r/events`)) {
        // nothing
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SseProtocolError);
    expect((error as Error).message).toMatch(/seq/);
  });

  it('turns an event whose canonical payload is invalid into a stream.placeholder naming the field, and goes on', async () => {
    const served = await serve({ public: true }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        'id: 1\nevent: agent.tool.completed\ndata: {"eventId":"r:1","runId":"r","seq":1,"eventType":"agent.tool.completed","timestamp":1,"data":{"toolName":"t"}}\n\n' +
          'id: 2\nevent: demo.step\ndata: {"eventId":"r:2","runId":"r","seq":2,"eventType":"demo.step","timestamp":2,"data":{}}\n\n' +
          'event: end\ndata: {"runId":"r","reason":"closed"}\n\n',
      );
    });
    const seen: StreamEvent[] = [];
    for await (const e of subscribeSse(`${served.base}/runs/r/events`)) seen.push(e);
    expect(seen.map((e) => [e.seq, e.eventType])).toEqual([[1, 'stream.placeholder'], [2, 'demo.step']]);
    expect(seen[0]!.eventId).toBe('r:1');
    expect(seen[0]!.data).toMatchObject({ eventType: 'agent.tool.completed', reason: expect.stringMatching(/data\.toolCallId/) });
  });

  it('ends quietly when its signal aborts, and the server drops the subscriber', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true });
    bus.publish(event('run', 'demo.step'));
    const controller = new AbortController();
    const seqs: number[] = [];
    for await (const e of subscribeSse(`${base}/runs/run/events`, { signal: controller.signal })) {
      seqs.push(e.seq);
      controller.abort();
    }
    expect(seqs).toEqual([1]);
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
  });

  it('gives up after maxRetries failed connections with the network error', async () => {
    const served = await serve({ public: true });
    const url = `${served.base}/runs/r/events`;
    await served.close();
    const error = await (async () => {
      for await (const _ of subscribeSse(url, { maxRetries: 2, retryMs: 5 })) {
        // nothing
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(SseHttpError);
  });

  /** What iterating `subscribeSse` with `options` threw, and how many requests it made first. */
  async function firstFailure(options: Record<string, unknown>): Promise<{ error: unknown; fetches: number }> {
    let fetches = 0;
    const fetchSpy = (() => {
      fetches++;
      return Promise.reject(new TypeError('fetch failed'));
    }) as typeof fetch;
    const error = await (async () => {
      for await (const _ of subscribeSse('http://127.0.0.1:9/runs/r/events', { ...options, fetch: fetchSpy })) {
        // nothing
      }
    })().catch((e: unknown) => e);
    return { error, fetches };
  }

  it.each([
    [Number.NaN, 'NaN'],
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['3', '"3"'],
  ])('refuses maxRetries %s at the first iteration, before connecting, naming the option and the rule', async (value, shown) => {
    const { error, fetches } = await firstFailure({ maxRetries: value });
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(`subscribeSse: maxRetries must be a non-negative integer, got ${shown}`);
    expect(fetches).toBe(0);
  });

  it.each([
    [Number.NaN, 'must be a non-negative integer, got NaN'],
    [-5, 'must be a non-negative integer, got -5'],
    [2.5, 'must be a non-negative integer, got 2.5'],
    ['abc', 'must be a non-negative integer, got "abc"'],
    [2 ** 31, 'must be at most 2147483647 ms (2^31-1, the longest delay timers accept; Node fires a longer one after 1 ms), got 2147483648'],
  ])('refuses retryMs %s at the first iteration, before connecting, instead of retrying every millisecond', async (value, rule) => {
    const { error, fetches } = await firstFailure({ retryMs: value });
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(`subscribeSse: retryMs ${rule}`);
    expect(fetches).toBe(0);
  });

  it.each([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['1024', '"1024"'],
  ])('refuses maxEventBytes %s at the first iteration, before connecting, naming the option and the rule', async (value, shown) => {
    const { error, fetches } = await firstFailure({ maxEventBytes: value });
    expect(error).toEqual(new RangeError(`subscribeSse: maxEventBytes must be a positive integer, got ${shown}`));
    expect(fetches).toBe(0);
  });

  it('refuses a signal that is not an AbortSignal at the first iteration, before connecting', async () => {
    const { error, fetches } = await firstFailure({ signal: 'stop' as never });
    expect(error).toEqual(new TypeError('subscribeSse: signal must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got "stop"'));
    expect(fetches).toBe(0);
  });

  it('accepts maxRetries 0 and retryMs 0: one attempt, then the network error', async () => {
    const { error, fetches } = await firstFailure({ maxRetries: 0, retryMs: 0 });
    expect((error as Error).message).toBe('fetch failed');
    expect(fetches).toBe(1);
  });

  it('caps a retry: the server advertises at the longest delay a timer accepts, instead of reconnecting after 1 ms', async () => {
    let fetches = 0;
    const fetchSpy = (async () => {
      fetches++;
      // A stream that sets a retry delay past 2^31-1 ms and ends without `event: end`.
      return new Response('retry: 99999999999\n\n', { headers: { 'content-type': 'text/event-stream' } });
    }) as typeof fetch;
    const seen: StreamEvent[] = [];
    // Uncapped, the five retries are spent in a few ms and the loop throws "connection lost 6 times".
    for await (const e of subscribeSse('http://127.0.0.1:9/runs/r/events', { fetch: fetchSpy, signal: AbortSignal.timeout(100) })) seen.push(e);
    expect(seen).toEqual([]);
    expect(fetches).toBe(1);
  });
});

/**
 * Writes `text` to `res` again and again, at the pace the client reads
 * (waiting for `drain`), until `cap` bytes or until the client goes away.
 * `written` counts what the server got rid of; `closed` says the client let go.
 */
function flood(res: http.ServerResponse, text: string, cap: number) {
  const state = { written: 0, closed: false };
  const chunk = Buffer.from(text);
  res.on('close', () => (state.closed = true));
  const pump = () => {
    while (!res.destroyed && state.written < cap) {
      state.written += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
  return state;
}

/** A fetch that counts the bytes the client pulled from each body, in order of the requests. */
function countingFetch() {
  const read: number[] = [];
  const fetchCounting = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    const index = read.push(0) - 1;
    const counted = (response.body as ReadableStream<Uint8Array>).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          read[index] = (read[index] ?? 0) + chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  }) as typeof fetch;
  return { fetch: fetchCounting, read };
}

/** What iterating `subscribeSse(url, options)` threw (undefined if it ended), and the events it yielded first. */
async function outcome(url: string, options: Parameters<typeof subscribeSse>[1]) {
  const seen: StreamEvent[] = [];
  try {
    for await (const e of subscribeSse(url, options)) seen.push(e);
    return { error: undefined as unknown, seen };
  } catch (error) {
    return { error, seen };
  }
}

const MiB = 1024 * 1024;

describe('subscribeSse against a server that sends without end', () => {
  it('reads only the start of an error body: a 500 of 64 MiB is retried and then fails quoting its start, each body let go after a few KiB', async () => {
    const floods: ReturnType<typeof flood>[] = [];
    const served = await serve({ public: true }, (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      floods.push(flood(res, 'y'.repeat(64 * 1024), 64 * MiB));
    });
    const counting = countingFetch();
    const url = `${served.base}/runs/r/events`;
    const { error } = await outcome(url, { maxRetries: 2, retryMs: 5, fetch: counting.fetch });
    expect(error).toBeInstanceOf(SseHttpError);
    expect((error as Error).message).toBe(`SSE GET ${url} answered 500: Internal Server Error (${'y'.repeat(200)})`);
    expect(counting.read).toHaveLength(3);
    // Unbounded, each would be 64 MiB; what is pulled is a chunk or two past the few KiB wanted.
    for (const bytes of counting.read) expect(bytes).toBeLessThan(MiB);
    await vi.waitFor(() => expect(floods.map((f) => f.closed)).toEqual([true, true, true]));
    for (const f of floods) expect(f.written).toBeLessThan(64 * MiB);
  });

  it('ends with an SseProtocolError naming maxEventBytes and the URL when a line never ends, having read about the bound, and does not reconnect', async () => {
    const floods: ReturnType<typeof flood>[] = [];
    const served = await serve({ public: true }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: ');
      floods.push(flood(res, 'y'.repeat(64 * 1024), 64 * MiB));
    });
    const counting = countingFetch();
    const url = `${served.base}/runs/r/events`;
    const { error } = await outcome(url, { maxEventBytes: MiB, maxRetries: 1, retryMs: 5, fetch: counting.fetch });
    expect(error).toBeInstanceOf(SseProtocolError);
    expect((error as Error).message).toBe(
      `SSE GET ${url}: an event exceeded maxEventBytes (1048576 bytes), ended or not; stopped reading the stream (raise subscribeSse's maxEventBytes if the server's events are that large)`,
    );
    expect(counting.read).toHaveLength(1);
    expect(counting.read[0]).toBeGreaterThan(MiB);
    expect(counting.read[0]).toBeLessThan(2 * MiB);
    await vi.waitFor(() => expect(floods[0]?.closed).toBe(true));
  });

  it('bounds an event of many short lines whose blank line never comes, though comments and ids come between them', async () => {
    const served = await serve({ public: true }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      flood(res, 'data: y\n: ping\nid: 7\n'.repeat(1000), 64 * MiB);
    });
    const { error } = await outcome(`${served.base}/runs/r/events`, { maxEventBytes: 64 * 1024, maxRetries: 0 });
    expect(error).toBeInstanceOf(SseProtocolError);
    expect((error as Error).message).toContain('exceeded maxEventBytes (65536 bytes)');
  });

  it('reads a stream many times longer than maxEventBytes whole when each event is under it: the bound is per event', async () => {
    const bus = new EventBus({ historySize: 5_000 });
    const served = await serve({ bus, public: true });
    const payload = 'p'.repeat(1024);
    for (let i = 1; i <= 2_000; i++) bus.publish(event('run', 'demo.step', { i, payload }));
    bus.closeStream('run');
    const { error, seen } = await outcome(`${served.base}/runs/run/events`, { maxEventBytes: 2048 });
    expect(error).toBeUndefined();
    expect(seen.map((e) => e.seq)).toEqual(range(1, 2_000));
  });

  /** A fetch answering `body` as an event stream, cut into chunks of `size` bytes. */
  function chunkedFetch(body: Uint8Array, size: number): typeof fetch {
    return (async () => {
      let at = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= body.length) return controller.close();
          controller.enqueue(body.slice(at, (at += size)));
        },
      });
      return new Response(stream, { headers: { 'content-type': 'text/event-stream' } });
    }) as typeof fetch;
  }

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('counts an event (lines %s) to its blank line in bytes, however the bytes are split: exactly maxEventBytes passes, one less fails', async (_name, eol) => {
    const lines = ['id: 1', 'event: demo.step', `data: ${JSON.stringify({ ...event('r', 'demo.step', { text: 'héllo, 世界' }), seq: 1, eventId: 'r:1' })}`, ': a comment'];
    const frame = `${lines.map((line) => `${line}${eol}`).join('')}${eol}`;
    // The end in LFs: a stream's last CR is held by the parser as a possible CRLF, and the stream ends before it is known.
    const end = 'event: end\ndata: {}\n\n';
    const body = new TextEncoder().encode(frame + end);
    const size = Buffer.byteLength(frame) - Buffer.byteLength(eol);
    for (const chunk of [body.length, 1, 2, 7]) {
      const exact = await outcome('http://127.0.0.1:9/runs/r/events', { maxEventBytes: size, fetch: chunkedFetch(body, chunk) });
      expect(exact.error, `chunks of ${chunk}`).toBeUndefined();
      expect(exact.seen.map((e) => e.data), `chunks of ${chunk}`).toEqual([{ text: 'héllo, 世界' }]);
      const under = await outcome('http://127.0.0.1:9/runs/r/events', { maxEventBytes: size - 1, fetch: chunkedFetch(body, chunk) });
      expect(under.error, `chunks of ${chunk}`).toBeInstanceOf(SseProtocolError);
      expect(under.seen, `chunks of ${chunk}`).toEqual([]);
    }
  });

  it('yields the whole events ahead of an oversized one in the same chunk, then fails', async () => {
    const frame = (seq: number, text: string) => `id: ${seq}\nevent: demo.step\ndata: ${JSON.stringify({ ...event('r', 'demo.step', { text }), seq, eventId: `r:${seq}` })}\n\n`;
    const body = new TextEncoder().encode(frame(1, 'a') + frame(2, 'b') + frame(3, 'c'.repeat(5000)) + frame(4, 'd'));
    const { error, seen } = await outcome('http://127.0.0.1:9/runs/r/events', { maxEventBytes: 1000, fetch: chunkedFetch(body, body.length) });
    expect(error).toBeInstanceOf(SseProtocolError);
    expect(seen.map((e) => e.seq)).toEqual([1, 2]);
  });
});
