// The promise the package rests on, defect by defect: observing an agent
// never hurts it (no throw, no stall), and nothing is lost silently (ids
// never repeat, what is cut is counted, memory stays bounded).
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
import { event } from './sse-harness.js';

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
