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

  it('yields stream.dropped when history can no longer refill the gap', async () => {
    const bus = new EventBus({ highWaterMark: 16, historySize: 100 });
    const served = await serve({ bus, public: true });
    bus.publish(event('run', 'demo.step', { i: 1 }));
    const payload = 'p'.repeat(2048);
    const seen: StreamEvent[] = [];
    for await (const e of subscribeSse(`${served.base}/runs/run/events`)) {
      seen.push(e);
      if (e.seq === 1) {
        for (let i = 2; i <= 20_000; i++) {
          bus.publish(event('run', 'demo.step', { i, payload }));
          if (i % 500 === 0) await tick();
        }
        bus.closeStream('run');
      }
    }
    const seqs = seen.filter((e) => e.seq > 0).map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.at(-1)).toBe(20_000);
    const reports = seen.filter((e) => e.eventType === 'stream.dropped');
    expect(reports.length).toBeGreaterThan(0);
    const lost = reports.reduce((n, r) => n + (r.data as { count: number }).count, 0);
    expect(seqs.length + lost).toBe(20_000);
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
});
