// The whole path against hostile payloads, as a property: emit -> bus -> SSE
// (node:http over a real socket, and the fetch-style handler) -> subscribeSse.
// Whatever a user's agent emits, no throw reaches it, the wrapped result is
// returned unchanged, every connection receives every id in order
// (placeholders allowed), and nothing is left registered or ticking.
import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventBus } from '../src/bus.js';
import { resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { createSseHandler, subscribeSse, type SseHandler } from '../src/sse/index.js';
import { serve } from './sse-harness.js';

function nest(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) value = { c: value };
  return value;
}

const thrower = (trap: string) => () => {
  throw new Error(`${trap} trap`);
};

/** Hostile values, built fresh for every run (so that a Proxy revoked in one case is not shared). */
const factories: Record<string, () => unknown> = {
  cyclicNullPrototype: () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.me = o;
    o.list = [o, { back: o }];
    return o;
  },
  proxyThrowingOnEveryTrap: () =>
    new Proxy({}, {
      get: thrower('get'),
      has: thrower('has'),
      ownKeys: thrower('ownKeys'),
      getOwnPropertyDescriptor: thrower('getOwnPropertyDescriptor'),
      getPrototypeOf: thrower('getPrototypeOf'),
      set: thrower('set'),
      defineProperty: thrower('defineProperty'),
    }),
  revokedProxy: () => {
    const { proxy, revoke } = Proxy.revocable({ a: 1 }, {});
    revoke();
    return proxy;
  },
  bigint: () => ({ n: 2n ** 80n, list: [1n, -3n] }),
  symbol: () => Symbol('hostile'),
  symbolsInside: () => ({ s: Symbol('x'), [Symbol('key')]: 1, f: () => 1 }),
  throwingGetter: () => ({ ok: 1, get boom(): never { throw new Error('getter'); } }),
  throwingToJSON: () => ({ toJSON: () => { throw new Error('toJSON'); } }),
  toJSONReturningString: () => ({ toJSON: () => 'just a string' }),
  deep1e4: () => nest(1e4),
  deep1e5: () => nest(1e5),
  multiMegabyteString: () => ({ text: 'ab\u0007\n"'.repeat(600_000) }),
  thousandsOfFields: () => Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`f${i}`, 'd'.repeat(512)])),
  hugeKey: () => ({ ['k'.repeat(1_000_000)]: 1 }),
  nullPrototypeError: () => Object.assign(Object.create(null) as object, { message: { toString: thrower('toString') } }),
  date: () => ({ at: new Date(0), bad: new Date(NaN) }),
  map: () => new Map([[1, 2]]),
  array: () => [1, 'two', { three: 3 }],
  nul: () => null,
  undef: () => undefined,
};

const hostile = fc.oneof(
  { arbitrary: fc.constantFrom(...Object.keys(factories)).map((name) => ({ name, make: factories[name] as () => unknown })), weight: 3 },
  { arbitrary: fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }).map((v) => ({ name: 'anything', make: () => v })), weight: 1 },
);

/** Reads an SSE Response body to its end (fetch-style path): the ids of the frames, in order. */
async function readIds(response: Response): Promise<number[]> {
  const ids: number[] = [];
  const parser = createParser({
    onEvent: (m) => {
      if (m.id !== undefined) ids.push(Number(m.id));
    },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  return ids;
}

async function collect(url: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const event of subscribeSse(url, { retryMs: 20, maxRetries: 1 })) if (event.seq > 0) seqs.push(event.seq);
  return seqs;
}

/**
 * Heartbeat intervals the SSE handler started and has not cleared. Counted
 * through spies, because getActiveResourcesInfo() does not list unref'd timers.
 */
function intervalLedger(): { started: () => number; open: () => number; restore: () => void } {
  const set = vi.spyOn(globalThis, 'setInterval');
  const clear = vi.spyOn(globalThis, 'clearInterval');
  return {
    started: () => set.mock.calls.length,
    open: () => {
      const cleared = new Set(clear.mock.calls.map((call) => call[0]));
      return set.mock.results.filter((r) => r.type === 'return' && !cleared.has(r.value as never)).length;
    },
    restore: () => {
      set.mockRestore();
      clear.mockRestore();
    },
  };
}
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

let bus: EventBus;
let base: string;
let fetchHandler: SseHandler;
let caseNo = 0;

beforeAll(async () => {
  bus = resetEventBus({}) as EventBus;
  ({ base } = await serve({ public: true, heartbeatMs: 50 }));
  fetchHandler = createSseHandler({ public: true, heartbeatMs: 50 });
});

afterAll(() => {
  resetEventBus();
});

describe('hostile payloads, emit to subscribeSse', () => {
  it('never throw into the agent, return what the tool returns, and reach every connection with every id in order', async () => {
    // Each case runs against the real server opened in beforeAll; the harness closes it after this test.
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 4 }), async (picks) => {
        const runId = `hostile-${++caseNo}`;
        const intervals = intervalLedger();
        const subscribersBefore = bus.stats().subscribers;
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const outcomes: string[] = [];
        const run = runContext(async () => {
          await gate;
          for (const pick of picks) {
            const value = pick.make();
            // Every emission path, with the value as payload, arguments, result, error and event type.
            emit('hostile.payload', value as Record<string, unknown>);
            emit('agent.tool.completed', value as never);
            emit(value as string, {});
            const returned = traceTool({ name: 'hostile_tool', args: value }, () => value);
            if (returned !== value) outcomes.push(`${pick.name}: traceTool changed the result`);
            try {
              traceTool({ name: 'hostile_tool', args: value }, () => {
                throw value;
              });
              outcomes.push(`${pick.name}: traceTool swallowed the throw`);
            } catch (thrown) {
              if (thrown !== value) outcomes.push(`${pick.name}: traceTool changed what was thrown`);
            }
            const awaited = await traceTool({ name: 'hostile_async', args: value }, async () => [value]);
            if (awaited[0] !== value) outcomes.push(`${pick.name}: async traceTool changed the result`);
            const step = startStep('agent.model.started', value as never);
            step.end(value as never);
          }
        }, { runId });
        // Live readers, connected while the run is open: node:http + subscribeSse, and the fetch-style handler.
        const liveNode = collect(`${base}/runs/${runId}/events`);
        const liveFetch = fetchHandler(new Request(`http://local/runs/${runId}/events`)).then(readIds);
        await vi.waitFor(() => expect(bus.stats().subscribers).toBe(subscribersBefore + 2));
        release();
        await run;
        expect(outcomes).toEqual([]);

        const history = bus.history(runId).map((e) => e.seq);
        const last = history[history.length - 1] as number;
        expect(history).toEqual(range(history[0] as number, last));
        expect(await liveNode).toEqual(range(1, last));
        expect(await liveFetch).toEqual(range(1, last));
        // Late readers get the retained history, in order.
        expect(await collect(`${base}/runs/${runId}/events`)).toEqual(history);
        expect(await readIds(await fetchHandler(new Request(`http://local/runs/${runId}/events`)))).toEqual(history);

        try {
          // Four connections, each with its heartbeat: the ledger sees them, so it can see a leak.
          expect(intervals.started()).toBeGreaterThanOrEqual(4);
          await vi.waitFor(() => {
            expect(bus.stats().subscribers).toBe(subscribersBefore);
            expect(intervals.open()).toBe(0);
          });
        } finally {
          intervals.restore();
        }
      }),
      { numRuns: 25 },
    );
    expect(bus.stats().bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
  }, 120_000);
});
