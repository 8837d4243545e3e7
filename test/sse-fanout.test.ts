import http from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../src/bus.js';
import type { StreamEvent } from '../src/events.js';
import { FrameEncoder } from '../src/sse/frames.js';
import { createSseHandler, toNodeListener, type SseHandler } from '../src/sse/index.js';
import { event, serve } from './sse-harness.js';

/** A live SSE response read as text as it arrives. */
interface Reading {
  response: http.IncomingMessage;
  text(): string;
}

async function open(url: string): Promise<Reading> {
  const request = http.get(url);
  const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
  const chunks: Buffer[] = [];
  response.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { response, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Records what the SSE listener hands `res.write` from now on, as the very objects it passes. */
function recordWrites(res: http.ServerResponse): unknown[] {
  const written: unknown[] = [];
  const write = res.write.bind(res) as (chunk: unknown) => boolean;
  res.write = ((chunk: unknown) => {
    written.push(chunk);
    return write(chunk);
  }) as typeof res.write;
  return written;
}

const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SSE fan-out on node:http', () => {
  it('encodes an event once and writes the same bytes to every connection, a backlog as one chunk shared by connections in step', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'run.started'));
    const served = await serve({ bus, public: true });
    const a = await open(`${served.base}/runs/r/events`);
    const b = await open(`${served.base}/runs/r/events`);
    await vi.waitFor(() => expect([ids(a.text()), ids(b.text())]).toEqual([[1], [1]]));
    const [toA, toB] = served.responses.map(recordWrites) as [unknown[], unknown[]];

    bus.publish(event('r', 'demo.step', { n: 2 }));
    await vi.waitFor(() => expect([ids(a.text()), ids(b.text())]).toEqual([[1, 2], [1, 2]]));
    expect(toA).toHaveLength(1);
    expect(toA[0]).toBeInstanceOf(Uint8Array);
    expect(toB[0]).toBe(toA[0]);

    // Ten events in one turn: one write per connection, of one chunk both write.
    for (let n = 3; n <= 12; n++) bus.publish(event('r', 'demo.step', { n }));
    const all = Array.from({ length: 12 }, (_, i) => i + 1);
    await vi.waitFor(() => expect([ids(a.text()), ids(b.text())]).toEqual([all, all]));
    expect(toA).toHaveLength(2);
    expect(toB).toHaveLength(2);
    expect(toB[1]).toBe(toA[1]);
    expect(Buffer.from(toA[1] as Uint8Array).toString()).toMatch(/^id: 3\nevent: demo\.step\n[^]*id: 12\n[^]*\n\n$/);
  });

  it('writes a backlog queued between turns in order, in a few writes of up to 64 KiB', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'run.started'));
    const served = await serve({ bus, public: true, highWaterMark: 4096 });
    const reading = await open(`${served.base}/runs/r/events`);
    await vi.waitFor(() => expect(ids(reading.text())).toEqual([1]));
    const written = recordWrites(served.responses[0] as http.ServerResponse);

    const total = 2000;
    for (let n = 2; n <= total; n++) bus.publish(event('r', 'demo.step', { n, text: 'x'.repeat(100) }));
    bus.closeStream('r');
    await new Promise((resolve) => reading.response.on('end', resolve));
    expect(ids(reading.text())).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const bytes = written.reduce<number>((sum, chunk) => sum + (chunk as Uint8Array).length, 0);
    // One chunk per 64 KiB of frames (the last also carries the end frame); one write per event would be 2,000.
    expect(written.length).toBeLessThanOrEqual(Math.ceil(bytes / (64 * 1024)) + 1);
    expect(bus.stats().dropped).toBe(0);
  });

  it('leaves what a client that stops reading cannot take in the bounded queue: it gets one stream.dropped per gap, then the newest events', async () => {
    const bus = new EventBus({ highWaterMark: 64 });
    bus.publish(event('slow', 'run.started'));
    const served = await serve({ bus, public: true });
    const reading = await open(`${served.base}/runs/slow/events`);
    await vi.waitFor(() => expect(ids(reading.text())).toEqual([1]));
    reading.response.pause();

    // 20 MB: far more than the socket buffers hold.
    const total = 10_000;
    const payload = 'p'.repeat(2048);
    for (let n = 2; n <= total; n++) {
      bus.publish(event('slow', 'demo.step', { n, payload }));
      if (n % 200 === 0) await tick(); // the server writes what the socket still takes
    }
    const res = served.responses[0] as http.ServerResponse;
    // Backpressure reached the subscription: the response buffers little, the queue dropped the rest.
    expect(res.writableLength).toBeLessThan(256 * 1024);
    expect(bus.stats().dropped).toBeGreaterThan(total / 2);
    bus.closeStream('slow');
    reading.response.resume();
    await new Promise((resolve) => reading.response.on('end', resolve));

    const text = reading.text();
    const received = ids(text);
    const reports = [...text.matchAll(/(?:^|\n\n)event: stream\.dropped\ndata: ([^\n]*)\n\n/g)].map(
      (m) => (JSON.parse(m[1] as string) as StreamEvent).data as { count: number; fromSeq: number; toSeq: number },
    );
    expect(reports.length).toBeGreaterThan(0);
    // In order, ending with the newest, and every event either received or counted in a report.
    expect(received).toEqual([...received].sort((x, y) => x - y));
    expect(received.at(-1)).toBe(total);
    expect(received.length + reports.reduce((sum, r) => sum + r.count, 0)).toBe(total);
    for (const r of reports) expect(received.filter((seq) => seq >= r.fromSeq && seq <= r.toSeq)).toEqual([]);
    expect(text.endsWith('event: end\ndata: {"runId":"slow","reason":"closed"}\n\n')).toBe(true);
    expect(bus.stats().subscribers).toBe(0);
  });

  it('leaves a body that was already read from to the web stream, and writes the rest once', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'run.started'));
    const inner = createSseHandler({ bus, public: true, retryMs: 1000 });
    // Middleware that looks at the first chunk of the body, then passes the response on.
    const handle = async (request: Request): Promise<Response | undefined> => {
      const response = await inner.handle(request);
      if (response?.body == null) return response;
      const reader = response.body.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe(': agentbus\n\n');
      reader.releaseLock();
      return response;
    };
    const handler = Object.assign(async (request: Request) => (await handle(request)) ?? new Response(null, { status: 404 }), { handle }) as SseHandler;
    const server = http.createServer(toNodeListener(handler));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const reading = await open(`http://127.0.0.1:${port}/runs/r/events`);
      bus.publish(event('r', 'demo.step'));
      bus.closeStream('r');
      await new Promise((resolve) => reading.response.on('end', resolve));
      // Written by the node bridge itself, the stream would open with the comment again.
      expect(reading.text()).toMatch(/^retry: 1000\nid: 1\nevent: run\.started\n[^]*\n\nid: 2\nevent: demo\.step\n[^]*\n\nevent: end\n/);
      expect(bus.stats().subscribers).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('SSE frames as shared bytes', () => {
  it('serializes an event once for both framings of the id line, and writes it the same as text', () => {
    const frames = new FrameEncoder('agentbus');
    let reads = 0;
    const data = {
      get value() {
        reads++;
        return 'ü';
      },
    };
    const e: StreamEvent = { eventId: 'r:7', runId: 'r', seq: 7, eventType: 'demo.step', timestamp: 1, data };
    const withId = frames.bytes(e, true);
    const withoutId = frames.bytes(e, false);
    expect(frames.bytes(e, true)).toBe(withId);
    expect(frames.bytes(e, false)).toBe(withoutId);
    expect(withoutId.buffer).toBe(withId.buffer);
    const text = new TextDecoder().decode(withId);
    expect(text).toBe(`id: 7\n${new TextDecoder().decode(withoutId)}`);
    expect(text).toMatch(/^id: 7\nevent: demo\.step\ndata: \{.*"data":\{"value":"ü"\}\}\n\n$/);
    expect(frames.event(e, true)).toBe(text);
    const afterFirst = reads;
    frames.event(e, false);
    frames.bytes(e, true);
    expect(reads).toBe(afterFirst);
  });

  it('hands each reader of a fetch-style body chunks of its own, so that changing one changes no other stream', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step', { n: 1 }));
    const handler = createSseHandler({ bus, public: true, retryMs: 5 });
    const reader = (await handler(new Request('http://example.test/runs/r/events'))).body!.getReader();
    const chunks = [(await reader.read()).value, (await reader.read()).value]; // the opening; retry: and event 1
    bus.publish(event('r', 'demo.step', { n: 2 }));
    chunks.push((await reader.read()).value); // event 2 alone
    expect(new TextDecoder().decode(chunks[2])).toMatch(/^id: 2\nevent: demo\.step\n/);
    for (const chunk of chunks) chunk!.fill(0);
    bus.closeStream('r');
    const again = await (await handler(new Request('http://example.test/runs/r/events'))).text();
    expect(again).toMatch(/^: agentbus\n\nretry: 5\nid: 1\nevent: demo\.step\ndata: \{.*"data":\{"n":1\}\}\n\nid: 2\nevent: demo\.step\ndata: \{.*"data":\{"n":2\}\}\n\nevent: end\n/);
  });
});
