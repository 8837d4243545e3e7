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
