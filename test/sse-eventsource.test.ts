// The server read by an independent client: the `eventsource` npm package
// (a WHATWG EventSource for Node), as a browser would read it.
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../src/bus.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';
import { event, serve } from './sse-harness.js';

const sources: EventSource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
});

/** Opens an EventSource that records every event of the given types and resolves on `end`. */
function collect(url: string, types: string[], onEvent: (e: StreamEvent, id: string) => void = () => {}) {
  const source = new EventSource(url);
  sources.push(source);
  const events: Array<{ id: string; event: StreamEvent }> = [];
  const ended = new Promise<string>((resolve, reject) => {
    for (const type of types) {
      source.addEventListener(type, (message) => {
        const parsed = parseStreamEvent(JSON.parse(message.data));
        events.push({ id: message.lastEventId, event: parsed });
        onEvent(parsed, message.lastEventId);
      });
    }
    source.addEventListener('end', (message) => {
      source.close();
      resolve(message.data);
    });
    source.addEventListener('error', (error) => {
      if (source.readyState === EventSource.CLOSED) reject(Object.assign(new Error(`EventSource failed: ${error.message}`), { code: error.code }));
    });
  });
  return { source, events, ended };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('SSE server read by the eventsource package', () => {
  it('delivers history then live events with no gap or duplicate, and ends with event: end', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true });
    bus.publish(event('run', 'run.started', { name: 'demo' }));
    for (let i = 2; i <= 40; i++) bus.publish(event('run', 'demo.step', { i }));
    let live = false;
    const { events, ended } = collect(`${base}/runs/run/events`, ['run.started', 'demo.step'], (e) => {
      if (e.seq === 1 && !live) {
        live = true;
        void (async () => {
          for (let i = 41; i <= 200; i++) {
            bus.publish(event('run', 'demo.step', { i }));
            if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          bus.closeStream('run');
        })();
      }
    });
    expect(JSON.parse(await ended)).toEqual({ runId: 'run', reason: 'closed' });
    expect(events.map((e) => e.event.seq)).toEqual(range(1, 200));
    expect(events.map((e) => e.id)).toEqual(range(1, 200).map(String));
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
  });

  it('reconnects on its own with Last-Event-ID and resumes exactly after the last seen seq', async () => {
    const bus = new EventBus();
    const served = await serve({ bus, public: true, retryMs: 20 });
    for (let i = 1; i <= 15; i++) bus.publish(event('run', 'demo.step', { i }));
    const { events, ended } = collect(`${served.base}/runs/run/events`, ['demo.step'], (e) => {
      if (e.seq === 15 && served.requests.length === 1) {
        served.cut();
        for (let i = 16; i <= 30; i++) bus.publish(event('run', 'demo.step', { i }));
        bus.closeStream('run');
      }
    });
    await ended;
    expect(events.map((e) => e.event.seq)).toEqual(range(1, 30));
    expect(served.requests).toHaveLength(2);
    expect(served.requests[1]?.['last-event-id']).toBe('15');
  });

  it('stops a page that forgot close(): the reconnect to a finished run it has read is answered 204', async () => {
    const bus = new EventBus();
    const { base, requests } = await serve({ bus, public: true, retryMs: 50 });
    bus.publish(event('done', 'run.started', {}));
    bus.publish(event('done', 'demo.step', {}));
    bus.closeStream('done');
    const source = new EventSource(`${base}/runs/done/events`);
    sources.push(source);
    const ids: string[] = [];
    source.addEventListener('demo.step', (message) => ids.push(message.lastEventId));
    // No close() on `end`: EventSource reconnects with Last-Event-ID 2, gets 204, and closes for good.
    await vi.waitFor(() => expect(source.readyState).toBe(EventSource.CLOSED), { timeout: 5_000 });
    expect(ids).toEqual(['2']);
    expect(requests.map((r) => r['last-event-id'])).toEqual([undefined, '2']);
    // And stays closed: no third request after several retry periods.
    await new Promise((r) => setTimeout(r, 300));
    expect(requests).toHaveLength(2);
  });

  it('gets 401, 403 and 404 as errors that close the source without data', async () => {
    const bus = new EventBus();
    bus.publish(event('run', 'demo.step'));
    const { base } = await serve({ bus, authorize: (_req, runId) => runId !== 'run' || _req.headers.get('authorization') === 'Bearer good' });
    const failure = async (url: string) => {
      const { events, ended } = collect(url, ['demo.step']);
      const error = (await ended.catch((e: unknown) => e)) as { code?: number };
      expect(events).toEqual([]);
      return error.code;
    };
    expect(await failure(`${base}/runs/run/events`)).toBe(401);
    expect(await failure(`${base}/runs/missing/events`)).toBe(404);
    const refused = new EventSource(`${base}/runs/run/events`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, authorization: 'Bearer wrong' } }),
    });
    sources.push(refused);
    const code = await new Promise<number | undefined>((resolve) => refused.addEventListener('error', (e) => resolve(e.code)));
    expect(code).toBe(403);
  });
});
