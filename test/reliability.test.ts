// The promise the package rests on, defect by defect: observing an agent
// never hurts it (no throw, no stall), and nothing is lost silently (ids
// never repeat, what is cut is counted, memory stays bounded).
import { AsyncResource } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus.js';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, traceTool } from '../src/emit.js';
import { traceModel } from '../src/trace.js';
import type { StreamEvent } from '../src/events.js';
import { argKeys, errorText, preview } from '../src/payload-text.js';
import { boundedJson, MAX_DEPTH } from '../src/bounded-json.js';
import { plainJsonSize } from '../src/plain-json.js';
import { FrameEncoder } from '../src/sse/frames.js';
import { event, serve } from './sse-harness.js';
import { subscribeSse } from '../src/sse/client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

afterEach(() => {
  resetEventBus();
});

describe('serialization', () => {
  it('reads only about a budget of a payload, and each field at most twice (size walk, then writer)', () => {
    let reads = 0;
    const data: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) {
      Object.defineProperty(data, `d${i}`, {
        enumerable: true,
        get: () => {
          reads++;
          return 'd'.repeat(2048);
        },
      });
    }
    const bus = new EventBus({ maxEventBytes: 64 * 1024 });
    bus.publish(event('wide', 'demo.wide', data));
    // 64 KiB of 2 KiB fields is 32 of them: the walk stops there, then the writer reads about as many.
    expect(reads).toBeLessThan(2 * 64);
    const stored = bus.history('wide')[0]!.data as Record<string, unknown>;
    expect(JSON.stringify(stored).length).toBeLessThanOrEqual(64 * 1024);
    expect(Object.values(stored).at(-1)).toMatch(/Truncated/);
    expect(bus.stats().cut).toBe(1);
  });

  it('writes the 1e4-deep, Proxy and cyclic payloads that used to kill a stream, as frames with the same ids', () => {
    const frames = new FrameEncoder('agentbus');
    let deep: unknown = {};
    for (let i = 0; i < 1e4; i++) deep = { c: deep };
    const keys = new Proxy({}, { ownKeys: () => { throw new Error('no keys'); } });
    const cyclic = Object.create(null) as Record<string, unknown>;
    cyclic.me = cyclic;
    for (const [seq, data] of [[1, deep], [2, keys], [3, cyclic]] as const) {
      const frame = frames.event({ eventId: `r:${seq}`, runId: 'r', seq, eventType: 'x.y', timestamp: 1, data: data as object }, true);
      expect(frame.startsWith(`id: ${seq}\nevent: x.y\ndata: `)).toBe(true);
      expect(() => JSON.parse(frame.split('data: ')[1]!)).not.toThrow();
    }
    // An event object whose every read throws still becomes a frame: a placeholder that says why.
    const hostile = new Proxy({} as StreamEvent, { get: (_t, key) => { if (key === 'seq') return 4; throw new Error(`no ${String(key)}`); } });
    const frame = frames.event(hostile, true);
    expect(frame).toMatch(/^id: 4\nevent: stream\.placeholder\ndata: .*could not be written/);
  });

  it('never throws from preview, argKeys or errorText, whatever the value', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const nullProto = Object.create(null) as Record<string, unknown>;
    nullProto.self = nullProto;
    for (const value of [revoked.proxy, nullProto, Symbol('s'), 10n, new Proxy({}, { getPrototypeOf: () => { throw new Error('x'); } })]) {
      expect(typeof preview(value)).toBe('string');
      expect(Array.isArray(argKeys(value))).toBe(true);
      expect(typeof errorText(value)).toBe('string');
    }
    expect(errorText(nullProto)).toBe('{"self":"[Circular]"}');
    expect(argKeys(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])))).toHaveLength(64);
  });

  it('tells plain data from everything else', () => {
    expect(plainJsonSize({ a: 'xy', b: [1, null, true] }, 1000)).toBeGreaterThan(0);
    for (const value of [{ d: new Date() }, { n: 1n }, { f: NaN }, new Map(), { toJSON: () => 1 }, new Proxy({}, {})]) {
      expect(plainJsonSize(value, 1000)).toBe(-1);
    }
    expect(plainJsonSize({ s: 'x'.repeat(2000) }, 1000)).toBe(-1);
    // Cycles, through objects and arrays, are not plain (whatever the budget); shared, acyclic references are.
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const inArray: unknown[] = [1];
    inArray.push({ back: inArray });
    const shared = { x: 1 };
    expect(plainJsonSize(cyclic, 1e9)).toBe(-1);
    expect(plainJsonSize({ list: inArray }, 1e9)).toBe(-1);
    expect(plainJsonSize({ a: shared, b: [shared, shared] }, 1000)).toBeGreaterThan(0);
    // A payload deeper than MAX_DEPTH is not plain either; one just within it is.
    const nest = (depth: number): unknown => (depth === 0 ? 1 : { d: nest(depth - 1) });
    expect(plainJsonSize(nest(MAX_DEPTH - 1), 1e6)).toBeGreaterThan(0);
    expect(plainJsonSize(nest(MAX_DEPTH + 1), 1e6)).toBe(-1);
    expect(JSON.parse(boundedJson({ s: 'x'.repeat(1e6), after: 1 }, 4096))).toMatchObject({ after: 1 });
  });
});

describe('telemetry never throws into the agent', () => {
  it('returns a null-prototype cyclic result and emits agent.tool.completed', async () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.me = o;
    const result = await runContext(() => traceTool({ name: 't', args: {} }, () => o), { runId: 'nullproto' });
    expect(result).toBe(o);
    const done = getEventBus().history('nullproto').find((e) => e.eventType === 'agent.tool.completed');
    expect(done?.data).toMatchObject({ success: true, outputPreview: '{"me":"[Circular]"}' });
  });

  it('runs the tool with revoked or throwing Proxy arguments, and rethrows a null-prototype object unchanged', async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const noKeys = new Proxy({}, { ownKeys: () => { throw new Error('no keys'); } });
    const thrown = Object.create(null) as object;
    await runContext(async () => {
      expect(traceTool({ name: 't', args: revoked.proxy }, () => 1)).toBe(1);
      expect(traceTool({ name: 't', args: noKeys }, () => 2)).toBe(2);
      let caught: unknown;
      try {
        traceTool({ name: 't', args: {} }, () => {
          throw thrown;
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBe(thrown);
      await expect(traceTool({ name: 't', args: {} }, async () => Promise.reject(thrown))).rejects.toBe(thrown);
      const model = { stopReason: 'stop', toolCallCount: 0, get content(): string { throw new Error('unreadable'); } };
      expect(await traceModel({ model: 'm', provider: 'p', messageCount: 0, toolCount: 0 }, async () => model)).toBe(model);
    }, { runId: 'proxies' });
    const completed = getEventBus().history('proxies').filter((e) => e.eventType === 'agent.tool.completed');
    expect(completed).toHaveLength(4);
  });

  it('refuses and counts emit(Symbol()) and emits a revoked Proxy payload as a placeholder, in sequence', async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    await runContext(() => {
      emit(Symbol('s') as unknown as string, {});
      emit('a.b', revoked.proxy);
      emit('a.c', { ok: 1 });
    }, { runId: 'symbols' });
    const bus = getEventBus();
    expect(bus.stats().rejected).toBe(1);
    expect(bus.history('symbols').map((e) => [e.seq, e.eventType])).toEqual([
      [1, 'run.started'],
      [2, 'stream.placeholder'],
      [3, 'a.c'],
      [4, 'run.completed'],
    ]);
    expect(bus.history('symbols')[1]!.data).toMatchObject({ eventType: 'a.b', reason: expect.stringMatching(/revoked/) });
    expect(bus.stats().placeholders).toBe(1);
  });
});

describe('event ids', () => {
  it('never repeat when an open run is evicted and emits again', () => {
    const bus = new EventBus({ maxRuns: 2 });
    const ids: string[] = [];
    bus.addListener({ onEvent: (e) => ids.push(e.eventId) });
    bus.subscribe('a');
    bus.publish(event('a', 'run.started'));
    bus.publish(event('a', 'a.step'));
    bus.publish(event('b', 'run.started'));
    bus.publish(event('c', 'run.started'));
    bus.publish(event('a', 'a.step'));
    bus.publish(event('a', 'run.completed'));
    expect(ids.filter((id) => id.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3', 'a:4']);
  });

  it('never repeat across 10,000 concurrent runs with retention 200, and finished runs go before live ones', async () => {
    resetEventBus({ maxRuns: 200 });
    const bus = getEventBus();
    const ids = new Set<string>();
    let duplicates = 0;
    bus.addListener({
      onEvent: (e) => {
        if (ids.has(e.eventId)) duplicates++;
        ids.add(e.eventId);
      },
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runs = Array.from({ length: 10_000 }, (_, i) =>
      runContext(async () => {
        emit('work.begin', {});
        await gate;
        emit('work.end', {});
      }, { runId: `live-${i}` }),
    );
    // A finished run that nobody closed: it must be evicted before any live one.
    await runContext(() => emit('work.done', {}), { runId: 'finished', keepOpen: true });
    await runContext(() => emit('work.live', {}), { runId: 'newcomer' });
    expect(bus.hasRun('finished')).toBe(false);
    release();
    await Promise.all(runs);
    expect(duplicates).toBe(0);
    expect(ids.size).toBe(10_000 * 4 + 3 + 3);
  });

  it('continue after dropHistory, and forget what was recorded', async () => {
    const bus = new EventBus();
    const sub = bus.subscribe('secret');
    bus.publish(event('secret', 'run.started', { token: 'hunter2' }));
    expect(bus.dropHistory('secret')).toBe(true);
    expect(bus.dropHistory('secret')).toBe(false);
    const seen: StreamEvent[] = [];
    for await (const e of sub) seen.push(e);
    expect(sub.endReason).toBe('dropped');
    expect(bus.history('secret')).toEqual([]);
    expect(bus.stats().bytes).toBe(0);
    bus.publish(event('secret', 'demo.again'));
    expect(bus.history('secret').map((e) => e.eventId)).toEqual(['secret:2']);
  });

  it('refuses empty and dot-only run ids, and counts them', async () => {
    const bus = new EventBus();
    bus.publish(event('', 'demo.step'));
    bus.publish({ ...event('x', 'demo.step'), runId: 7 as unknown as string });
    bus.publish({ ...event('x', 'Bad Type') });
    bus.publish(null as unknown as StreamEvent);
    expect(bus.stats()).toMatchObject({ rejected: 4, runs: 0, published: 0 });
    expect(() => bus.subscribe('..')).toThrow(/runId "\.\." is not a run id/);
    await expect(runContext(() => 1, { runId: '.' })).rejects.toThrow(/not only dots/);
    await expect(runContext(() => 1, { runId: '..' })).rejects.toThrow(/not only dots/);
  });
});

/** Publishes `count` payloads of 5 MB from a frame of its own, so no local keeps one alive. */
function publishBlobs(bus: EventBus, count: number): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < count; i++) {
    const payload = { blob: 'x'.repeat(5_000_000 + i) };
    refs.push(new WeakRef(payload));
    bus.publish(event('big', 'demo.blob', payload));
  }
  return refs;
}

describe('history bytes', () => {
  it('keeps per-run and bus bytes within budget, cuts oversized payloads and lets the originals go', async () => {
    const bus = new EventBus({ maxEventBytes: 64 * 1024, maxRunBytes: 1024 * 1024, maxBytes: 2 * 1024 * 1024 });
    const refs = publishBlobs(bus, 20);
    for (let r = 0; r < 5; r++) for (let i = 0; i < 40; i++) bus.publish(event(`run-${r}`, 'demo.step', { pad: 'p'.repeat(60_000) }));
    const stats = bus.stats();
    expect(stats.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(stats.cut).toBe(20);
    expect(stats.trimmed).toBeGreaterThan(0);
    for (const id of bus.runIds()) {
      const history = bus.history(id);
      expect(JSON.stringify(history.map((e) => e.data)).length).toBeLessThan(1024 * 1024 + 1024);
      // Oldest went first: what is left is the newest, contiguous.
      const seqs = history.map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
    }
    // A WeakRef holds its target until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(refs.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });

  it('refuses byte limits that do not nest', () => {
    expect(() => new EventBus({ maxEventBytes: 1024 * 1024, maxRunBytes: 1024 * 1024 })).toThrow(/must nest/);
    expect(() => new EventBus({ maxBytes: 1024 })).toThrow(/must nest/);
  });
});

describe('listeners that publish', () => {
  it('hand every listener the events in seq order when one publishes while it is called', async () => {
    const bus = new EventBus();
    const seen: Record<string, string[]> = { first: [], second: [] };
    bus.addListener({
      onEvent(e) {
        seen.first!.push(`${e.seq}:${e.eventType}`);
        if (e.eventType === 'app.order') emit('app.audit', { of: e.seq });
      },
    });
    bus.addListener({ onEvent: (e) => seen.second!.push(`${e.seq}:${e.eventType}`) });
    await runContext(
      async () => {
        emit('app.order', {});
        emit('app.other', {});
      },
      { bus, runId: 'reentrant' },
    );
    const inOrder = ['1:run.started', '2:app.order', '3:app.audit', '4:app.other', '5:run.completed'];
    expect(seen.first).toEqual(inOrder);
    expect(seen.second).toEqual(inOrder);
    expect(bus.history('reentrant').map((e) => `${e.seq}:${e.eventType}`)).toEqual(inOrder);
  });

  it('tell a stream closed by a listener after the event it was handling has reached every listener', () => {
    const bus = new EventBus();
    const told: string[] = [];
    bus.addListener({
      onEvent(e) {
        if (e.eventType === 'app.last') bus.closeStream(e.runId);
      },
    });
    bus.addListener({ onEvent: (e) => told.push(e.eventType), onStreamEnd: (runId, reason) => told.push(`end ${runId} ${reason}`) });
    bus.publish(event('closing', 'app.first'));
    bus.publish(event('closing', 'app.last'));
    expect(told).toEqual(['app.first', 'app.last', 'end closing closed']);
  });

  it('stop a listener that publishes for every event it sees, its own too: the emitter goes on, the rest is refused once', async () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ onError: (error) => errors.push(error), historySize: 100 });
    let calls = 0;
    bus.addListener({
      onEvent(e) {
        calls++;
        if (!e.eventType.startsWith('run.')) emit('app.echo', {});
      },
    });
    const result = await runContext(
      async () => {
        emit('app.start', {});
        return 'done';
      },
      { bus, runId: 'loop' },
    );
    expect(result).toBe('done');
    // app.start's delivery queued one echo per echo up to the bound: the next one was refused,
    // so the loop ended. Called for run.started, app.start, 10,000 echoes and run.completed.
    expect(calls).toBe(10_003);
    expect(bus.stats().published).toBe(10_003);
    expect(bus.stats().rejected).toBe(1);
    expect(errors.map(String)).toEqual([
      'Error: EventBus.publish: listeners published 10000 events while handling one (a listener that publishes for every event it sees, its own too?); app.echo was not published',
    ]);
    // Ids stay unique and in order: what was refused took no seq.
    const seqs = bus.history('loop').map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(bus.history('loop').at(-1)!.eventType).toBe('run.completed');
  });
});

describe('a run that has ended', () => {
  it('stays closed when it was given up: a late event is refused, not retained as an open stream', async () => {
    const errors: string[] = [];
    const bus = new EventBus({ maxRuns: 2, onError: (error) => errors.push(String(error)) });
    let late: (() => void) | undefined;
    await runContext(
      async () => {
        emit('demo.step', {});
        late = AsyncResource.bind(() => emit('demo.late', {})); // keeps the run's context, as a timer left behind does
      },
      { bus, runId: 'ended' },
    );
    // Two more runs give 'ended' up; one of them stays open so that emit is not idle.
    await runContext(async () => {}, { bus, runId: 'other' });
    let release!: () => void;
    const open = runContext(() => new Promise<void>((r) => (release = r)), { bus, runId: 'open' });
    expect(bus.hasRun('ended')).toBe(false);
    late!();
    expect(bus.hasRun('ended')).toBe(false);
    expect(bus.stats().openStreams).toBe(1);
    await new Promise((r) => setImmediate(r)); // onError is told after publish returns
    expect(errors.at(-1)).toMatch(/run ended is closed; event demo.late was not published/);
    // A reader that asks for it directly is told it ended.
    const sub = bus.subscribe('ended');
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    expect(sub.endReason).toBe('closed');
    release();
    await open;
  });

  it('opens again when a runContext enters it, and its ids continue', async () => {
    const bus = new EventBus({ maxRuns: 1 });
    await runContext(async () => emit('demo.step', {}), { bus, runId: 'again' });
    await runContext(async () => {}, { bus, runId: 'between' });
    expect(bus.hasRun('again')).toBe(false);
    await runContext(async () => emit('demo.step', {}), { bus, runId: 'again' });
    expect(bus.history('again').map((e) => `${e.seq}:${e.eventType}`)).toEqual(['4:run.started', '5:demo.step', '6:run.completed']);
  });
});

describe('lifecycle events', () => {
  it('are the bus own: emit refuses run.* and stream.* and names why; the run goes on', async () => {
    const errors: string[] = [];
    const bus = new EventBus({ onError: (error) => errors.push(String(error)) });
    await runContext(
      async () => {
        emit('run.completed' as string, { status: 'ok', durationMs: 1 });
        emit('stream.dropped' as string, { count: 3 });
        emit('run.whatever' as string, {});
        emit('runs.are.fine', {});
        emit('app.after', {});
      },
      { bus, runId: 'forged' },
    );
    expect(bus.history('forged').map((e) => e.eventType)).toEqual(['run.started', 'runs.are.fine', 'app.after', 'run.completed']);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/emit: eventType "run.completed" is reserved: run\.\* and stream\.\* events are written by the bus and runContext/);
    expect(bus.stats().rejected).toBe(3);
  });
});

describe('subscribe', () => {
  it('refuses a bad signal, afterSeq or options before registering anything', () => {
    const bus = new EventBus();
    bus.publish(event('known', 'app.one'));
    const before = bus.stats();
    expect(() => bus.subscribe('known', { signal: 'x' as unknown as AbortSignal })).toThrow(new TypeError('EventBus.subscribe: signal must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got "x"'));
    expect(() => bus.subscribe('known', { signal: {} as AbortSignal })).toThrow(/signal must be an AbortSignal .* or undefined, got object/);
    expect(() => bus.subscribe('unknown', { afterSeq: Number.NaN })).toThrow(new RangeError('EventBus.subscribe: afterSeq must be a non-negative integer, got NaN'));
    expect(() => bus.subscribe('unknown', { afterSeq: '3' as unknown as number })).toThrow(/afterSeq must be a non-negative integer, got "3"/);
    expect(() => bus.subscribe('unknown', null as unknown as undefined)).toThrow(new TypeError('EventBus.subscribe: options must be an object or undefined, got null'));
    expect(() => bus.subscribeAll({ signal: 5 as unknown as AbortSignal })).toThrow(new TypeError('EventBus.subscribeAll: signal must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got 5'));
    expect(() => bus.subscribeAll({ highWaterMark: 0 })).toThrow(/EventBus.subscribeAll: highWaterMark must be a positive integer, got 0/);
    const after = bus.stats();
    expect(after.subscribers).toBe(before.subscribers);
    expect(after.runs).toBe(before.runs);
    expect(bus.hasRun('unknown')).toBe(false);
  });

  it('starts a resume from before the retained history with one stream.dropped for what is gone', async () => {
    const bus = new EventBus({ historySize: 5 });
    for (let i = 0; i < 12; i++) bus.publish(event('long', 'app.tick'));
    bus.closeStream('long');
    const drain = async (afterSeq: number) => {
      const out: string[] = [];
      for await (const e of bus.subscribe('long', { afterSeq })) out.push(e.seq === 0 ? `${e.eventType} ${JSON.stringify(e.data)}` : String(e.seq));
      return out;
    };
    expect(await drain(3)).toEqual(['stream.dropped {"count":4,"fromSeq":4,"toSeq":7}', '8', '9', '10', '11', '12']);
    // From within the history, or from its last kept-out event: nothing missing, no marker.
    expect(await drain(7)).toEqual(['8', '9', '10', '11', '12']);
    expect(await drain(9)).toEqual(['10', '11', '12']);
    // A first subscription gets the history as it is (the run's start is not a resume).
    expect(await drain(0)).toEqual(['8', '9', '10', '11', '12']);
    // All history dropped: the whole tail is the gap.
    bus.publish(event('gone', 'app.tick'));
    bus.publish(event('gone', 'app.tick'));
    bus.dropHistory('gone');
    bus.publish(event('gone', 'app.tick'));
    const sub = bus.subscribe('gone', { afterSeq: 1 });
    expect((await sub.next()).value).toMatchObject({ eventType: 'stream.dropped', seq: 0, data: { count: 1, fromSeq: 2, toSeq: 2 } });
    expect((await sub.next()).value).toMatchObject({ seq: 3 });
  });

  it('over SSE: a Last-Event-ID older than the history gets the gap first, and the client yields it once', async () => {
    const bus = new EventBus({ historySize: 5 });
    for (let i = 0; i < 12; i++) bus.publish(event('long', 'app.tick'));
    bus.closeStream('long');
    const { base, requests } = await serve({ bus, public: true });
    const got: string[] = [];
    for await (const e of subscribeSse(`${base}/runs/long/events`, { lastEventId: 3 })) {
      got.push(e.seq === 0 ? `${e.eventType} ${JSON.stringify(e.data)}` : String(e.seq));
    }
    expect(got).toEqual(['stream.dropped {"count":4,"fromSeq":4,"toSeq":7}', '8', '9', '10', '11', '12']);
    // The client asked once more from 3 to refill the gap; history could not, so it said so.
    expect(requests.map((h) => h['last-event-id'])).toEqual(['3', '3']);
  });
});

describe('token usage that is not one', () => {
  it('never hurts the model call and is never lost silently: every bad usage is refused, counted and reported, the result returned as it was', async () => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    const hostile = [
      { inputTokens: '12', outputTokens: '3' },
      { inputTokens: 1e308, outputTokens: 1e308 },
      { inputTokens: -10, outputTokens: 0 },
      Object.defineProperty({}, 'inputTokens', { get: () => { throw new Error('boom'); } }),
      new Proxy({}, { get: () => { throw new Error('trap'); } }),
      42,
    ];
    const runId = await runContext(async (id) => {
      for (const usage of hostile) {
        const result = { stopReason: 'stop', toolCallCount: 0, content: 'ok', usage: usage as never };
        await expect(traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => result)).resolves.toBe(result);
      }
      return id;
    });
    const history = getEventBus().history(runId);
    expect(history.filter((e) => e.eventType === 'agent.tokens.used')).toEqual([]);
    expect(history.filter((e) => e.eventType === 'agent.model.completed').map((e) => (e.data as { stopReason: string }).stopReason)).toEqual(Array(hostile.length).fill('stop'));
    expect(getEventBus().stats().rejected).toBe(hostile.length);
    expect(errors).toHaveLength(hostile.length);
    for (const error of errors) expect((error as Error).message).toMatch(/^traceModel: result\.usage.*; the agent\.tokens\.used event of this model call is not published$/);
  });
});
