import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../src/bus.js';
import type { StreamEvent } from '../src/events.js';
import { createSseHandler, toNodeListener } from '../src/sse/index.js';
import { event, serve } from './sse-harness.js';

/** Reads a whole SSE response body (the stream must end) and parses it. */
async function readAll(response: Response): Promise<{ text: string; messages: EventSourceMessage[]; comments: string[] }> {
  const text = await response.text();
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  const parser = createParser({ onEvent: (m) => messages.push(m), onComment: (c) => comments.push(c) });
  parser.feed(text);
  return { text, messages, comments };
}

describe('SSE server (node:http)', () => {
  it('refuses to be built without authorize or an explicit public: true', () => {
    expect(() => createSseHandler({})).toThrow(/authorize\(request, runId\).*public: true/);
    expect(() => toNodeListener(createSseHandler({ bus: new EventBus() }))).toThrow(/authorize/);
    expect(() => createSseHandler({ public: true, heartbeatMs: 0 })).toThrow(/heartbeatMs must be a positive integer, got 0/);
    expect(() => createSseHandler({ public: true, format: 'xml' as 'locus' })).toThrow(/format must be 'agentbus' or 'locus'/);
  });

  it('writes id, event and data lines, a retry hint, and ends with event: end when the run closes', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true, retryMs: 1234 });
    bus.publish(event('run-1', 'run.started', { name: 'demo' }));
    bus.publish(event('run-1', 'demo.step', { n: 1 }));
    bus.closeStream('run-1');
    const response = await fetch(`${base}/runs/run-1/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toContain('no-cache');
    const { text, messages } = await readAll(response);
    // A comment opens the stream; retry: rides on the first event, never in a block of its own.
    expect(text.startsWith(': agentbus\n\nretry: 1234\nid: 1\nevent: run.started\n')).toBe(true);
    expect(text).toContain('id: 1\nevent: run.started\ndata: {');
    expect(messages.map((m) => [m.id, m.event])).toEqual([
      ['1', 'run.started'],
      ['2', 'demo.step'],
      [undefined, 'end'],
    ]);
    expect(JSON.parse((messages[1] as EventSourceMessage).data)).toMatchObject({ runId: 'run-1', seq: 2, eventId: 'run-1:2', data: { n: 1 } });
    expect(JSON.parse((messages[2] as EventSourceMessage).data)).toEqual({ runId: 'run-1', reason: 'closed' });
    expect(bus.stats().subscribers).toBe(0);
  });

  it('replays only what follows Last-Event-ID, from the header or else the lastEventId query parameter', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true });
    for (let i = 0; i < 10; i++) bus.publish(event('r', 'demo.step', { i }));
    bus.closeStream('r');
    const ids = async (url: string, headers: Record<string, string> = {}) =>
      (await readAll(await fetch(url, { headers }))).messages.filter((m) => m.event !== 'end').map((m) => Number(m.id));
    expect(await ids(`${base}/runs/r/events`, { 'last-event-id': '7' })).toEqual([8, 9, 10]);
    expect(await ids(`${base}/runs/r/events?lastEventId=8`)).toEqual([9, 10]);
    // A browser reconnecting keeps the first URL and sends the newer id as a header.
    expect(await ids(`${base}/runs/r/events?lastEventId=2`, { 'last-event-id': '9' })).toEqual([10]);
    const bad = await fetch(`${base}/runs/r/events`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Last-Event-ID must be a sequence number');
  });

  it('answers 400, 404 and 405 for malformed run ids, unknown runs, other paths and other methods', async () => {
    const bus = new EventBus();
    bus.publish(event('known', 'demo.step'));
    const { base } = await serve({ bus, public: true });
    const bad = await fetch(`${base}/runs/${encodeURIComponent('no spaces!')}/events`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/runId must be 1-128 characters/);
    expect((await fetch(`${base}/runs/${'x'.repeat(129)}/events`)).status).toBe(400);
    const unknown = await fetch(`${base}/runs/missing/events`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('unknown run "missing"');
    expect((await fetch(`${base}/somewhere/else`)).status).toBe(404);
    const post = await fetch(`${base}/runs/known/events`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, OPTIONS');
    expect(bus.stats().subscribers).toBe(0);
  });

  it('answers 401 without credentials and 403 with refused ones, with no event data, before saying whether the run exists', async () => {
    const bus = new EventBus();
    bus.publish(event('secret-run', 'demo.step', { secret: 'do-not-leak' }));
    const seen: Array<string | undefined> = [];
    const { base } = await serve({
      bus,
      authorize: (request, runId) => {
        seen.push(runId);
        const auth = request.headers.get('authorization');
        if (auth === 'Bearer boom') throw Object.assign(new Error('token expired'), { status: 401 });
        if (auth === 'Bearer teapot') return new Response('custom refusal', { status: 418 });
        return auth === 'Bearer good';
      },
    });
    const url = `${base}/runs/secret-run/events`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await fetch(url, { headers: { authorization: 'Bearer wrong' } });
    expect(wrong.status).toBe(403);
    const thrown = await fetch(url, { headers: { authorization: 'Bearer boom' } });
    expect(thrown.status).toBe(401);
    const custom = await fetch(url, { headers: { authorization: 'Bearer teapot' } });
    expect(custom.status).toBe(418);
    expect(await custom.text()).toBe('custom refusal');
    for (const body of [await none.text(), await wrong.text(), await thrown.text()]) {
      expect(body).not.toContain('data:');
      expect(body).not.toContain('do-not-leak');
    }
    // An unauthorized caller cannot tell a missing run from an existing one.
    expect((await fetch(`${base}/runs/missing/events`)).status).toBe(401);
    expect((await fetch(`${base}/runs/missing/events`, { headers: { authorization: 'Bearer good' } })).status).toBe(404);
    expect(seen).toContain('secret-run');
    expect(bus.stats().subscribers).toBe(0);
  });

  it('streams every run live on /events behind the same authorization, when built with allRuns: true', async () => {
    const bus = new EventBus();
    const asked: Array<string | undefined> = [];
    const { base } = await serve({
      bus,
      allRuns: true,
      authorize: (request, runId) => {
        asked.push(runId);
        return request.headers.get('authorization') === 'Bearer good';
      },
    });
    expect((await fetch(`${base}/events`)).status).toBe(401);
    const controller = new AbortController();
    const response = await fetch(`${base}/events`, { headers: { authorization: 'Bearer good' }, signal: controller.signal });
    expect(response.status).toBe(200);
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(1));
    bus.publish(event('a', 'demo.step', { from: 'a' }));
    bus.publish(event('b', 'demo.step', { from: 'b' }));
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const messages: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (m) => messages.push(m) });
    while (messages.length < 2) parser.feed((await reader.read()).value ?? '');
    // Sequence numbers are per run, so the all-runs stream has no id: lines to resume from.
    expect(messages.map((m) => [m.id, JSON.parse(m.data).runId])).toEqual([
      [undefined, 'a'],
      [undefined, 'b'],
    ]);
    expect(asked).toEqual([undefined, undefined]);
    controller.abort();
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
  });

  it('unsubscribes at once when the client disconnects', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'demo.step'));
    const { base } = await serve({ bus, public: true });
    const request = http.get(`${base}/runs/r/events`);
    const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
    await new Promise((resolve) => response.once('data', resolve));
    expect(bus.stats().subscribers).toBe(1);
    request.destroy();
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(0));
  });

  it('replays the whole retained history even when it is longer than the connection queue bound', async () => {
    const bus = new EventBus({ historySize: 300 });
    for (let i = 0; i < 300; i++) bus.publish(event('long', 'demo.step', { i }));
    bus.closeStream('long');
    const { base } = await serve({ bus, public: true, highWaterMark: 8 });
    const { messages } = await readAll(await fetch(`${base}/runs/long/events`));
    expect(messages.filter((m) => m.event === 'demo.step').map((m) => Number(m.id))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(bus.stats().dropped).toBe(0);
  });

  it('writes heartbeat comments while the run is idle', async () => {
    const bus = new EventBus();
    bus.publish(event('quiet', 'demo.step'));
    const { base } = await serve({ bus, public: true, heartbeatMs: 20 });
    const controller = new AbortController();
    const response = await fetch(`${base}/runs/quiet/events`, { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(': ping\n\n')) text += (await reader.read()).value ?? '';
    expect(text).toContain('id: 1\n');
    controller.abort();
  });

  it('ends the stream with reason "evicted" when the bus evicts the run', async () => {
    const bus = new EventBus({ maxRuns: 1 });
    bus.publish(event('old', 'demo.step'));
    const { base } = await serve({ bus, public: true });
    const response = await fetch(`${base}/runs/old/events`);
    await vi.waitFor(() => expect(bus.stats().subscribers).toBe(1));
    bus.publish(event('new', 'demo.step'));
    const { messages } = await readAll(response);
    expect(messages.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ runId: 'old', reason: 'evicted' }) });
  });

  it('writes cyclic, BigInt and oversized payloads as valid, bounded JSON with placeholders', async () => {
    const bus = new EventBus();
    const data: Record<string, unknown> = { big: 10n ** 20n, huge: 'x'.repeat(2_000_000), ok: 'kept' };
    data.self = data;
    bus.publish(event('weird', 'demo.payload', data));
    bus.closeStream('weird');
    const { base } = await serve({ bus, public: true, maxEventSize: 64 * 1024 });
    const { messages } = await readAll(await fetch(`${base}/runs/weird/events`));
    const first = messages[0] as EventSourceMessage;
    expect(first.data.length).toBeLessThan(64 * 1024);
    const written = JSON.parse(first.data).data as { huge: string };
    expect(written).toEqual({
      big: '100000000000000000000',
      huge: expect.stringMatching(/^x{1000,}…\[Truncated: \d+ chars\]$/),
      ok: 'kept',
      self: '[Circular]',
    });
    // Cut once by the bus (maxEventBytes) and again for this handler's smaller maxEventSize.
    expect(written.huge.length).toBeLessThan(64 * 1024);
  });

  it('keeps a client that stops reading from growing memory: its queue drops the oldest and it is told with an id-less stream.dropped', async () => {
    const bus = new EventBus({ highWaterMark: 32 });
    bus.publish(event('busy', 'demo.step', { i: 0 }));
    const served = await serve({ bus, public: true });
    const request = http.get(`${served.base}/runs/busy/events`);
    const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    await vi.waitFor(() => expect(Buffer.concat(chunks).toString()).toContain('id: 1\n'));
    response.pause(); // the client stops reading

    const payload = 'p'.repeat(2048);
    const total = 20_000;
    for (let i = 1; i < total; i++) {
      bus.publish(event('busy', 'demo.step', { i, payload }));
      // Let the server write whatever the socket still accepts.
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = bus.stats();
    expect(stats.published).toBe(total);
    // 40 MB published; what is not dropped fits in the bus queue (32) plus the socket buffers.
    expect(stats.dropped).toBeGreaterThan(total / 2);
    const res = served.responses[0] as http.ServerResponse;
    expect(res.writableLength).toBeLessThan(256 * 1024);

    bus.closeStream('busy');
    response.resume();
    await new Promise((resolve) => response.on('end', resolve));
    const text = Buffer.concat(chunks).toString();
    const dropped = /(^|\n\n)(event: stream\.dropped\ndata: [^\n]*)\n\n/.exec(text);
    expect(dropped, 'a stream.dropped frame with no id: line').not.toBeNull();
    const report = JSON.parse((dropped?.[2] as string).slice('event: stream.dropped\ndata: '.length)) as StreamEvent;
    expect(report.seq).toBe(0);
    expect(report.data).toMatchObject({ count: expect.any(Number), fromSeq: expect.any(Number), toSeq: expect.any(Number) });
    expect(text.endsWith('event: end\ndata: {"runId":"busy","reason":"closed"}\n\n')).toBe(true);
    expect(bus.stats().subscribers).toBe(0);
  });
});

describe('SSE server (Web-standard handler)', () => {
  it('serves a plain new Request() and leaves other paths to the caller', async () => {
    const bus = new EventBus();
    const handler = createSseHandler({ bus, public: true, basePath: '/api/' });
    bus.publish(event('web', 'demo.step', { n: 1 }));
    const response = await handler(new Request('http://example.test/api/runs/web/events'));
    expect(response.status).toBe(200);
    bus.publish(event('web', 'demo.step', { n: 2 }));
    bus.closeStream('web');
    const { messages } = await readAll(response);
    expect(messages.map((m) => m.event)).toEqual(['demo.step', 'demo.step', 'end']);
    expect(await handler.handle(new Request('http://example.test/runs/web/events'))).toBeUndefined();
    expect((await handler(new Request('http://example.test/api/other'))).status).toBe(404);
  });

  it('unsubscribes when the request signal aborts or the body is cancelled', async () => {
    const bus = new EventBus();
    bus.publish(event('web', 'demo.step'));
    const handler = createSseHandler({ bus, public: true });
    const controller = new AbortController();
    await handler(new Request('http://example.test/runs/web/events', { signal: controller.signal }));
    const second = await handler(new Request('http://example.test/runs/web/events'));
    expect(bus.stats().subscribers).toBe(2);
    controller.abort();
    expect(bus.stats().subscribers).toBe(1);
    await second.body!.cancel();
    expect(bus.stats().subscribers).toBe(0);
  });
});

describe('Locus framing', () => {
  const LOCUS_CONSUMER = String.raw`
import json, sys, urllib.request
from dataclasses import dataclass
from datetime import datetime

@dataclass
class StreamEvent:  # locus.observability.event_bus.StreamEvent
    run_id: str
    event_type: str
    data: dict
    timestamp: datetime
    event_id: str

events, done = [], False
with urllib.request.urlopen(sys.argv[1]) as response:
    frame = {}
    for raw in response:
        line = raw.decode('utf-8').rstrip('\n')
        if line == '':
            if frame.get('event') == 'done':
                done = True
                break
            if 'data' in frame:
                d = json.loads(frame['data'])
                ev = StreamEvent(run_id=d['run_id'], event_type=d['event_type'], data=d['data'],
                                 timestamp=datetime.fromisoformat(d['timestamp']), event_id=d['event_id'])
                assert ev.timestamp.tzinfo is not None
                assert set(d) == {'event_id', 'run_id', 'event_type', 'timestamp', 'data'}, sorted(d)
                assert frame['event'] == ev.event_type
                events.append([ev.run_id, ev.event_type, ev.data, ev.timestamp.timestamp()])
            frame = {}
        elif not line.startswith(':'):
            key, _, value = line.partition(':')
            frame[key] = value[1:] if value.startswith(' ') else value
print(json.dumps({'done': done, 'events': events}))
`;

  it('writes the snake_case envelope of Locus StreamEvent.to_dict() and event: done, read by a Python consumer', async () => {
    const bus = new EventBus();
    const { base } = await serve({ bus, public: true, format: 'locus' });
    bus.publish(event('locus-run', 'agent.tool.started', { toolName: 'search', toolCallId: 'c1', argKeys: ['q'] }));
    const started = bus.history('locus-run')[0] as StreamEvent;
    bus.publish(event('locus-run', 'agent.tool.completed', { toolName: 'search', toolCallId: 'c1', success: true, durationMs: 3 }));
    bus.closeStream('locus-run');
    // Asynchronous: the server runs in this process.
    const python = await promisify(execFile)('python3', ['-c', LOCUS_CONSUMER, `${base}/runs/locus-run/events`], { encoding: 'utf8', timeout: 20_000 });
    expect(python.stderr).toBe('');
    const out = JSON.parse(python.stdout) as { done: boolean; events: Array<[string, string, Record<string, unknown>, number]> };
    expect(out.done).toBe(true);
    expect(out.events.map((e) => [e[0], e[1]])).toEqual([
      ['locus-run', 'agent.tool.started'],
      ['locus-run', 'agent.tool.completed'],
    ]);
    expect(out.events[0]?.[2]).toEqual({ toolName: 'search', toolCallId: 'c1', argKeys: ['q'] });
    // Python's datetime keeps microseconds: the timestamp survives to the microsecond.
    expect(Math.abs((out.events[0]?.[3] as number) * 1000 - started.timestamp)).toBeLessThan(0.01);
  });
});
