// Cost: a price table given to runContext (bus side) or to the bridge, the
// cost it puts into agent.tokens.used, onto chat spans (the proposed
// gen_ai.usage.cost.* attributes) and onto the proposed cost counter; and
// what a stranger's hostile table or event does to it (nothing: refused with
// a precise error at the door, or ignored on the way).
import { describe, expect, it } from 'vitest';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep } from '../src/emit.js';
import { recordTokens, traceModel, type TokenUsage } from '../src/trace.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';
import type { PriceTable } from '../src/index.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import { byName, useBridge } from './otel-harness.js';

const fx = useBridge();
const { tel, attach } = fx;

const PRICES: PriceTable = {
  'gpt-4o': { currency: 'USD', inputPerMillion: 2.5, outputPerMillion: 10 },
  'claude-x': { currency: 'USD', inputPerMillion: 3, outputPerMillion: 15, cacheReadPerMillion: 0.3, cacheWritePerMillion: 3.75, reasoningPerMillion: 20 },
  'mistral-eu': { currency: 'EUR', inputPerMillion: 1, outputPerMillion: 3 },
};

/** One model call of `model` with `usage`, as the reference agent makes it. */
function call(model: string, usage: TokenUsage, provider = 'openai'): Promise<unknown> {
  return traceModel({ model, provider, messageCount: 1, toolCount: 0 }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: 'ok', usage }));
}

function tokenEvents(runId: string): StreamEvent[] {
  return getEventBus().history(runId).filter((e) => e.eventType === 'agent.tokens.used');
}

function costOfEvent(event: StreamEvent | undefined): unknown {
  return (event?.data as { cost?: unknown } | undefined)?.cost;
}

/** The points of the cost counter, with the unit of the instrument each came from. */
function costPoints(metrics: readonly MetricData[]): Array<{ unit: string; value: number; attributes: Record<string, unknown> }> {
  return metrics
    .filter((m) => m.descriptor.name === 'gen_ai.client.operation.cost')
    .flatMap((m) => {
      expect(m.dataPointType).toBe(DataPointType.SUM);
      expect((m as { isMonotonic?: boolean }).isMonotonic).toBe(true);
      return (m.dataPoints as Array<{ value: number; attributes: Record<string, unknown> }>).map((p) => ({ unit: m.descriptor.unit, value: p.value, attributes: p.attributes }));
    });
}

describe('runContext({ prices }): agent.tokens.used carries the cost', () => {
  it('input and output at their prices per million tokens, source local, and the event still parses', async () => {
    const runId = await runContext(async (id) => {
      await call('gpt-4o', { inputTokens: 1200, outputTokens: 300 });
      return id;
    }, { prices: PRICES });
    const [event] = tokenEvents(runId);
    expect(costOfEvent(event)).toEqual({ amount: (1200 * 2.5 + 300 * 10) / 1e6, currency: 'USD', source: 'local' });
    expect(() => parseStreamEvent(event)).not.toThrow();
  });

  it('cache reads, cache writes and reasoning at their own prices, the rest of input and output at theirs', async () => {
    const usage = { inputTokens: 1000, outputTokens: 500, cacheReadInputTokens: 600, cacheCreationInputTokens: 100, reasoningOutputTokens: 200 };
    const runId = await runContext(async (id) => {
      await call('claude-x', usage);
      // Without cache or reasoning prices, those tokens stay at the input and output price.
      await call('gpt-4o', usage);
      return id;
    }, { prices: PRICES });
    const [claude, gpt] = tokenEvents(runId);
    expect((costOfEvent(claude) as { amount: number }).amount).toBeCloseTo((300 * 3 + 600 * 0.3 + 100 * 3.75 + 300 * 15 + 200 * 20) / 1e6, 15);
    expect((costOfEvent(gpt) as { amount: number }).amount).toBeCloseTo((1000 * 2.5 + 500 * 10) / 1e6, 15);
  });

  it('a model the table does not price gets no cost; a priced call of 0 tokens costs 0', async () => {
    const runId = await runContext(async (id) => {
      await call('unknown-model', { inputTokens: 50, outputTokens: 5 });
      await call('gpt-4o', { inputTokens: 0, outputTokens: 0 });
      return id;
    }, { prices: PRICES });
    const [unpriced, free] = tokenEvents(runId);
    expect(costOfEvent(unpriced)).toBeUndefined();
    expect(costOfEvent(free)).toEqual({ amount: 0, currency: 'USD', source: 'local' });
  });

  it('a run without prices adds no cost; nested runs inherit the table, and a nested table replaces it', async () => {
    const ids: string[] = [];
    await runContext(async (outer) => {
      ids.push(outer);
      await runContext(async (inherited) => {
        ids.push(inherited);
        await call('gpt-4o', { inputTokens: 1000, outputTokens: 0 });
      });
      await runContext(async (replaced) => {
        ids.push(replaced);
        await call('gpt-4o', { inputTokens: 1000, outputTokens: 0 });
      }, { prices: { 'gpt-4o': { currency: 'EUR', inputPerMillion: 1, outputPerMillion: 1 } } });
    }, { prices: PRICES });
    const plain = await runContext(async (id) => {
      await call('gpt-4o', { inputTokens: 1000, outputTokens: 0 });
      return id;
    });
    expect(costOfEvent(tokenEvents(ids[1]!)[0])).toEqual({ amount: 0.0025, currency: 'USD', source: 'local' });
    expect(costOfEvent(tokenEvents(ids[2]!)[0])).toEqual({ amount: 0.001, currency: 'EUR', source: 'local' });
    expect(costOfEvent(tokenEvents(plain)[0])).toBeUndefined();
  });

  it('the table is copied when the run starts: changing it afterwards changes nothing', async () => {
    const table = { 'gpt-4o': { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 } };
    const runId = await runContext(async (id) => {
      table['gpt-4o'].inputPerMillion = 1000;
      (table as Record<string, unknown>)['other'] = { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 };
      await call('gpt-4o', { inputTokens: 1_000_000, outputTokens: 0 });
      await call('other', { inputTokens: 1_000_000, outputTokens: 0 });
      return id;
    }, { prices: table });
    const [gpt, other] = tokenEvents(runId);
    expect(costOfEvent(gpt)).toEqual({ amount: 1, currency: 'USD', source: 'local' });
    expect(costOfEvent(other)).toBeUndefined();
  });
});

describe('hostile price tables are refused at runContext and at instrumentOtel, naming the field', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['NaN price', { m: { currency: 'USD', inputPerMillion: Number.NaN, outputPerMillion: 1 } }, /prices\["m"\]\.inputPerMillion must be a finite number >= 0 \(USD per million tokens\), got NaN/],
    ['negative price', { m: { currency: 'USD', inputPerMillion: 1, outputPerMillion: -1 } }, /prices\["m"\]\.outputPerMillion must be a finite number >= 0.*got -1/],
    ['Infinity', { m: { currency: 'USD', inputPerMillion: Number.POSITIVE_INFINITY, outputPerMillion: 1 } }, /inputPerMillion must be a finite number.*got Infinity/],
    ['a price as a string', { m: { currency: 'USD', inputPerMillion: '2.5', outputPerMillion: 1 } }, /inputPerMillion must be a finite number.*got "2\.5"/],
    ['a missing output price', { m: { currency: 'USD', inputPerMillion: 1 } }, /outputPerMillion must be a finite number.*got undefined/],
    ['a negative optional price', { m: { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1, cacheReadPerMillion: -0.5 } }, /cacheReadPerMillion must be a finite number >= 0 \(USD per million tokens\) or undefined, got -0\.5/],
    ['a lowercase currency', { m: { currency: 'usd', inputPerMillion: 1, outputPerMillion: 1 } }, /prices\["m"\]\.currency must be an ISO 4217 code of three uppercase letters \("USD"\), got "usd"/],
    ['a currency symbol', { m: { currency: '$', inputPerMillion: 1, outputPerMillion: 1 } }, /currency must be an ISO 4217 code.*got "\$"/],
    ['four letters', { m: { currency: 'USDT', inputPerMillion: 1, outputPerMillion: 1 } }, /currency must be an ISO 4217 code.*got "USDT"/],
    ['no currency', { m: { inputPerMillion: 1, outputPerMillion: 1 } }, /currency must be an ISO 4217 code.*got undefined/],
    ['a model price that is a number', { m: 2.5 }, /prices\["m"\] must be an object \{ currency, inputPerMillion, outputPerMillion, \.\.\. \}, got 2\.5/],
    ['a model price that is null', { m: null }, /prices\["m"\] must be an object.*got null/],
    ['an array', [{ currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 }], /prices must be an object of ModelPrice by model name, or undefined, got an array/],
    ['a string', 'gpt-4o=2.5,10', /prices must be an object of ModelPrice by model name, or undefined, got "gpt-4o=2\.5,10"/],
    ['null', null, /prices must be an object.*got null/],
    [
      'a getter on the table that throws',
      Object.defineProperty({}, 'm', { enumerable: true, get: () => { throw new Error('boom'); } }),
      /prices\["m"\] could not be read: Error: boom/,
    ],
    [
      'a getter on a price that throws',
      { m: { currency: 'USD', get inputPerMillion(): number { throw new Error('nope'); }, outputPerMillion: 1 } },
      /prices\["m"\]\.inputPerMillion could not be read: Error: nope/,
    ],
    ['a Proxy whose keys cannot be listed', new Proxy({}, { ownKeys: () => { throw new Error('no keys'); } }), /prices could not be read: Error: no keys/],
  ];

  it.each(bad)('%s: runContext rejects before the run starts', async (_name, prices, message) => {
    let ran = false;
    await expect(runContext(() => { ran = true; }, { prices: prices as PriceTable })).rejects.toThrow(TypeError);
    await expect(runContext(() => { ran = true; }, { prices: prices as PriceTable })).rejects.toThrow(message);
    expect(ran).toBe(false);
    expect(getEventBus().stats().runs).toBe(0);
  });

  it.each(bad)('%s: instrumentOtel throws', (_name, prices, message) => {
    expect(() => attach({ prices: prices as PriceTable })).toThrow(TypeError);
    expect(() => instrumentOtel({ prices: prices as PriceTable })).toThrow(message);
  });

  it('the messages say which option: runContext: options.prices, instrumentOtel: prices', async () => {
    const prices = { m: { currency: 'usd', inputPerMillion: 1, outputPerMillion: 1 } };
    await expect(runContext(() => undefined, { prices })).rejects.toThrow(/^runContext: options\.prices\["m"\]\.currency/);
    expect(() => instrumentOtel({ prices })).toThrow(/^instrumentOtel: prices\["m"\]\.currency/);
  });
});

describe('hostile model names and counts', () => {
  it('__proto__, constructor and toString are model names like any other, never Object.prototype members', async () => {
    // As a JSON price file would give them: an own `__proto__` key.
    const prices = JSON.parse('{"__proto__": {"currency": "USD", "inputPerMillion": 1, "outputPerMillion": 2}}') as PriceTable;
    const runId = await runContext(async (id) => {
      await call('__proto__', { inputTokens: 1_000_000, outputTokens: 1_000_000 });
      await call('constructor', { inputTokens: 10, outputTokens: 10 });
      await call('toString', { inputTokens: 10, outputTokens: 10 });
      await call('hasOwnProperty', { inputTokens: 10, outputTokens: 10 });
      return id;
    }, { prices });
    const [proto, ...others] = tokenEvents(runId);
    expect(costOfEvent(proto)).toEqual({ amount: 3, currency: 'USD', source: 'local' });
    for (const event of others) expect(costOfEvent(event)).toBeUndefined();
    expect(({} as Record<string, unknown>).currency).toBeUndefined();
  });

  it('counts past Number.MAX_SAFE_INTEGER are refused, not published (nor priced); the largest safe count gives a finite cost', async () => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    const runId = await runContext(async (id) => {
      await call('gpt-4o', { inputTokens: Number.MAX_VALUE, outputTokens: Number.MAX_VALUE });
      await call('gpt-4o', { inputTokens: Number.MAX_SAFE_INTEGER, outputTokens: 0 });
      return id;
    }, { prices: PRICES });
    const events = tokenEvents(runId);
    expect(events).toHaveLength(1);
    expect((events[0]?.data as { inputTokens: number }).inputTokens).toBe(Number.MAX_SAFE_INTEGER);
    expect((costOfEvent(events[0]) as { amount: number }).amount).toBe((Number.MAX_SAFE_INTEGER * 2.5) / 1e6);
    expect(getEventBus().stats().rejected).toBe(1);
    expect(errors).toEqual([
      new TypeError(`traceModel: result.usage.inputTokens must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER), got 1.7976931348623157e+308; the agent.tokens.used event of this model call is not published`),
    ]);
  });

  it('counts that are not numbers, negative, NaN, fractional or missing are refused naming the field: no event, no cost, never a throw', async () => {
    const errors: Array<{ error: unknown; event: StreamEvent }> = [];
    resetEventBus({ onError: (error, event) => errors.push({ error, event }) });
    let spanId: string | undefined;
    const runId = await runContext(async (id) => {
      const step = startStep('agent.model.started', { model: 'gpt-4o', provider: 'openai', messageCount: 1, toolCount: 0 });
      spanId = step.spanId;
      for (const usage of [
        { inputTokens: '1000', outputTokens: 5 },
        { inputTokens: -5, outputTokens: 5 },
        { inputTokens: Number.NaN, outputTokens: 5 },
        { inputTokens: 5, outputTokens: undefined },
        { inputTokens: 5, outputTokens: 5, cacheReadInputTokens: 1.5 },
        { inputTokens: Number.MAX_SAFE_INTEGER, outputTokens: 1 },
        null,
      ]) expect(() => recordTokens(step, { model: 'gpt-4o', provider: 'openai' }, usage as unknown as TokenUsage)).not.toThrow();
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
      return id;
    }, { prices: PRICES });
    expect(tokenEvents(runId)).toEqual([]);
    expect(getEventBus().stats().rejected).toBe(7);
    const tail = '; the agent.tokens.used event of this model call is not published';
    expect(errors.map(({ error }) => (error as Error).message)).toEqual([
      `recordTokens: usage.inputTokens must be a non-negative integer, got "1000"${tail}`,
      `recordTokens: usage.inputTokens must be a non-negative integer, got -5${tail}`,
      `recordTokens: usage.inputTokens must be a non-negative integer, got NaN${tail}`,
      `recordTokens: usage.outputTokens must be a non-negative integer, got undefined${tail}`,
      `recordTokens: usage.cacheReadInputTokens must be a non-negative integer or undefined, got 1.5${tail}`,
      `recordTokens: usage.inputTokens + usage.outputTokens must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER) in all (the event's totalTokens), got 9007199254740992${tail}`,
      `recordTokens: usage must be an object of token counts ({ inputTokens, outputTokens }) or undefined, got null${tail}`,
    ]);
    // Each refusal is the model step's, in its run, as any refused emission.
    for (const { error, event } of errors) {
      expect(error).toBeInstanceOf(TypeError);
      expect(event).toMatchObject({ runId, eventType: 'agent.tokens.used', parentSpanId: spanId });
    }
  });

  it('traceModel refuses a usage of string counts (JSON from a provider) instead of publishing "123" tokens; the call and its step are unharmed', async () => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    const runId = await runContext(async (id) => {
      const result = await traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => ({
        stopReason: 'stop', toolCallCount: 0, content: 'ok', usage: { inputTokens: '12', outputTokens: '3' } as unknown as TokenUsage,
      }));
      expect(result.content).toBe('ok');
      await call('m', { inputTokens: 12, outputTokens: 3 });
      return id;
    });
    const events = getEventBus().history(runId);
    expect(tokenEvents(runId).map((e) => e.data)).toEqual([expect.objectContaining({ inputTokens: 12, outputTokens: 3, totalTokens: 15 })]);
    expect(events.filter((e) => e.eventType === 'agent.model.completed')).toHaveLength(2);
    expect(errors).toEqual([new TypeError('traceModel: result.usage.inputTokens must be a non-negative integer, got "12"; the agent.tokens.used event of this model call is not published')]);
  });

  it('with no onError, a refused usage is warned about once per distinct problem', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      await runContext(async () => {
        for (let i = 0; i < 3; i++) await call('m', { inputTokens: -7, outputTokens: 1 });
      });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(getEventBus().stats().rejected).toBe(3);
    expect(warnings.filter((w) => w.includes('usage.inputTokens must be a non-negative integer, got -7'))).toHaveLength(1);
  });

  it('cache and reasoning counts larger than the totals are charged, the rest never below zero', async () => {
    const runId = await runContext(async (id) => {
      await call('claude-x', { inputTokens: 10, outputTokens: 10, cacheReadInputTokens: 1_000_000, reasoningOutputTokens: 1_000_000 });
      return id;
    }, { prices: PRICES });
    expect((costOfEvent(tokenEvents(runId)[0]) as { amount: number }).amount).toBeCloseTo(0.3 + 20, 12);
  });

  it('recordTokens never throws, whatever the usage: a getter that throws loses the event (refused, saying why), not the call', async () => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    const usage = Object.defineProperty({ outputTokens: 1 }, 'inputTokens', { enumerable: true, get: () => { throw new Error('hostile'); } }) as TokenUsage;
    const result = await runContext(async () => {
      const step = startStep('agent.model.started', { model: 'gpt-4o', provider: 'openai', messageCount: 1, toolCount: 0 });
      expect(() => recordTokens(step, { model: 'gpt-4o', provider: 'openai' }, usage)).not.toThrow();
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
      return call('gpt-4o', usage);
    }, { prices: PRICES });
    expect(result).toMatchObject({ content: 'ok' });
    expect(errors.map((error) => (error as Error).message)).toEqual([
      'recordTokens: usage could not be read (Error: hostile); the agent.tokens.used event of this model call is not published',
      'traceModel: result.usage could not be read (Error: hostile); the agent.tokens.used event of this model call is not published',
    ]);
  });
});

describe('the catalogue refuses a cost that is not one', () => {
  const event = (cost: unknown) => ({
    eventId: 'e', runId: 'r', seq: 1, eventType: 'agent.tokens.used', timestamp: 1,
    data: { model: 'm', provider: 'p', inputTokens: 1, outputTokens: 1, totalTokens: 2, cost },
  });
  it.each([
    ['a negative amount', { amount: -1, currency: 'USD', source: 'local' }, 'data.cost.amount'],
    ['an infinite amount', { amount: Number.POSITIVE_INFINITY, currency: 'USD', source: 'local' }, 'data.cost.amount'],
    ['an amount as a string', { amount: '1', currency: 'USD', source: 'local' }, 'data.cost.amount'],
    ['a lowercase currency', { amount: 1, currency: 'usd', source: 'local' }, 'data.cost.currency'],
    ['an unknown source', { amount: 1, currency: 'USD', source: 'guess' }, 'data.cost.source'],
  ])('%s', (_name, cost, path) => {
    expect(() => parseStreamEvent(event(cost))).toThrow(path);
  });
  it('and takes one that is', () => {
    expect(() => parseStreamEvent(event({ amount: 0, currency: 'EUR', source: 'provider' }))).not.toThrow();
  });
});

describe('the bridge: proposed gen_ai.usage.cost.* on chat spans and the gen_ai.client.operation.cost counter', () => {
  it('a run priced on the bus side: the chat spans carry their cost, the agent span none, the counter their sum', async () => {
    attach();
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'planner', model: 'gpt-4o', provider: 'openai' });
      await agent.run(async () => {
        await call('gpt-4o', { inputTokens: 1200, outputTokens: 300 });
        await call('gpt-4o', { inputTokens: 800, outputTokens: 100 });
      });
      agent.end({ reason: 'completed', iterationsUsed: 2, totalToolCalls: 0, finalMessagePreview: '' });
    }, { prices: PRICES });
    const chats = tel.spans().filter((s) => s.name === 'chat gpt-4o');
    expect(chats).toHaveLength(2);
    const amounts = chats.map((s) => s.attributes['gen_ai.usage.cost.amount']);
    expect(amounts).toEqual([(1200 * 2.5 + 300 * 10) / 1e6, (800 * 2.5 + 100 * 10) / 1e6]);
    for (const span of chats) {
      expect(span.attributes['gen_ai.usage.cost.currency']).toBe('USD');
      expect(span.attributes['gen_ai.usage.cost.source']).toBe('local');
      // Tokens x prices, from the span's own attributes.
      expect(span.attributes['gen_ai.usage.cost.amount']).toBeCloseTo(((span.attributes['gen_ai.usage.input_tokens'] as number) * 2.5 + (span.attributes['gen_ai.usage.output_tokens'] as number) * 10) / 1e6, 15);
    }
    const agentSpan = byName(tel.spans(), 'invoke_agent planner');
    expect(Object.keys(agentSpan.attributes).filter((k) => k.startsWith('gen_ai.usage.cost'))).toEqual([]);
    const points = costPoints(await tel.collect());
    expect(points).toEqual([{
      unit: '{currency}',
      value: (amounts[0] as number) + (amounts[1] as number),
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.cost.currency': 'USD', 'gen_ai.usage.cost.source': 'local' },
    }]);
  });

  it('the bridge prices what the event does not; the event\'s own cost wins over the bridge\'s table', async () => {
    attach({ prices: { 'gpt-4o': { currency: 'USD', inputPerMillion: 100, outputPerMillion: 100 }, 'bridge-only': { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 } } });
    await runContext(() => call('gpt-4o', { inputTokens: 1000, outputTokens: 0 }), { prices: PRICES });
    await runContext(() => call('bridge-only', { inputTokens: 1000, outputTokens: 1000 }));
    expect(byName(tel.spans(), 'chat gpt-4o').attributes['gen_ai.usage.cost.amount']).toBe(0.0025);
    expect(byName(tel.spans(), 'chat bridge-only').attributes).toMatchObject({ 'gen_ai.usage.cost.amount': 0.002, 'gen_ai.usage.cost.currency': 'USD', 'gen_ai.usage.cost.source': 'local' });
    expect(costPoints(await tel.collect()).map((p) => p.value).sort()).toEqual([0.002, 0.0025]);
  });

  it('an unpriced model: no cost attribute and no counter point; a priced call of 0 tokens: 0 on both', async () => {
    attach({ prices: PRICES });
    await runContext(async () => {
      await call('unknown-model', { inputTokens: 100, outputTokens: 10 });
    });
    expect(Object.keys(byName(tel.spans(), 'chat unknown-model').attributes).filter((k) => k.startsWith('gen_ai.usage.cost'))).toEqual([]);
    expect(costPoints(await tel.collect())).toEqual([]);
    await runContext(() => call('gpt-4o', { inputTokens: 0, outputTokens: 0 }));
    expect(byName(tel.spans(), 'chat gpt-4o').attributes['gen_ai.usage.cost.amount']).toBe(0);
    expect(costPoints(await tel.collect()).map((p) => p.value)).toEqual([0]);
  });

  it('two currencies are never added: one counter, a point per currency, and no instrument registered twice', async () => {
    // The SDK warns through diag when one name is registered with two units: none of that here.
    const warnings: string[] = [];
    diag.setLogger({ error: () => {}, warn: (...args: unknown[]) => warnings.push(args.join(' ')), info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    try {
      attach();
      await runContext(async () => {
        await call('gpt-4o', { inputTokens: 1_000_000, outputTokens: 0 });
        await call('mistral-eu', { inputTokens: 1_000_000, outputTokens: 1_000_000 }, 'mistral');
        await call('gpt-4o', { inputTokens: 1_000_000, outputTokens: 0 });
      }, { prices: PRICES });
      const points = costPoints(await tel.collect());
      expect(points.map((p) => [p.unit, p.value, p.attributes['gen_ai.usage.cost.currency']]).sort()).toEqual([['{currency}', 4, 'EUR'], ['{currency}', 5, 'USD']]);
      expect(warnings.filter((w) => w.includes('already been registered'))).toEqual([]);
    } finally {
      diag.disable();
    }
  });

  it('a hand-made event with a cost that is not one is not believed: the bridge\'s own price, else nothing', async () => {
    attach({ prices: { 'gpt-4o': { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 } } });
    const hostile = [
      { amount: -5, currency: 'USD', source: 'local' },
      { amount: Number.NaN, currency: 'USD', source: 'local' },
      { amount: 1, currency: 'usd', source: 'local' },
      { amount: 1, currency: 'USD', source: 'made-up' },
      'free',
      Object.defineProperty({}, 'amount', { enumerable: true, get: () => { throw new Error('hostile'); } }),
    ];
    await runContext(async () => {
      for (const cost of hostile) {
        const step = startStep('agent.model.started', { model: 'gpt-4o', provider: 'openai', messageCount: 1, toolCount: 0 });
        step.emit('agent.tokens.used', { model: 'gpt-4o', provider: 'openai', inputTokens: 1_000_000, outputTokens: 0, totalTokens: 1_000_000, cost: cost as never });
        step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
      }
      // With a model the bridge does not price, nothing at all.
      emit('agent.tokens.used', { model: 'other', provider: 'openai', inputTokens: 1, outputTokens: 1, totalTokens: 2, cost: { amount: -1, currency: 'USD', source: 'local' } });
    });
    const chats = tel.spans().filter((s) => s.name === 'chat gpt-4o');
    expect(chats).toHaveLength(hostile.length);
    for (const span of chats) expect(span.attributes['gen_ai.usage.cost.amount']).toBe(1);
    expect(costPoints(await tel.collect())).toEqual([expect.objectContaining({ unit: '{currency}', value: hostile.length })]);
  });

  it('costs whose sum is too large to be finite put no cost on the span, never Infinity', async () => {
    attach();
    await runContext(async () => {
      const step = startStep('agent.model.started', { model: 'gpt-4o', provider: 'openai', messageCount: 1, toolCount: 0 });
      for (let i = 0; i < 2; i++) step.emit('agent.tokens.used', { model: 'gpt-4o', provider: 'openai', inputTokens: 1, outputTokens: 1, totalTokens: 2, cost: { amount: 1e308, currency: 'USD', source: 'provider' } });
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
    });
    const attributes = byName(tel.spans(), 'chat gpt-4o').attributes;
    expect(attributes['gen_ai.usage.cost.amount']).toBeUndefined();
    expect(attributes['gen_ai.usage.cost.currency']).toBeUndefined();
  });

  it('a provider and model whose names hold NUL characters never share a counter series with another pair', async () => {
    attach();
    const cost = { amount: 1, currency: 'USD', source: 'provider' } as const;
    await runContext(async () => {
      emit('agent.tokens.used', { model: 'b\u0000c', provider: 'a', inputTokens: 1, outputTokens: 1, totalTokens: 2, cost });
      emit('agent.tokens.used', { model: 'c', provider: 'a\u0000b', inputTokens: 1, outputTokens: 1, totalTokens: 2, cost });
    });
    const series = costPoints(await tel.collect()).map((p) => [p.attributes['gen_ai.provider.name'], p.attributes['gen_ai.request.model'], p.value]);
    expect(series).toEqual(expect.arrayContaining([['a', 'b\u0000c', 1], ['a\u0000b', 'c', 1]]));
    expect(series).toHaveLength(2);
  });

  it('a provider-reported cost on the event is kept as such (source provider)', async () => {
    attach();
    await runContext(async () => {
      const step = startStep('agent.model.started', { model: 'router/auto', provider: 'openrouter', messageCount: 1, toolCount: 0 });
      step.emit('agent.tokens.used', { model: 'router/auto', provider: 'openrouter', inputTokens: 10, outputTokens: 10, totalTokens: 20, cost: { amount: 0.0042, currency: 'USD', source: 'provider' } });
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
    });
    expect(byName(tel.spans(), 'chat router/auto').attributes).toMatchObject({ 'gen_ai.usage.cost.amount': 0.0042, 'gen_ai.usage.cost.source': 'provider' });
    expect(costPoints(await tel.collect())[0]?.attributes['gen_ai.usage.cost.source']).toBe('provider');
  });

  it('the latest shape writes the same attributes and counter', async () => {
    attach({ semconv: 'latest' });
    await runContext(() => call('gpt-4o', { inputTokens: 1000, outputTokens: 100 }), { prices: PRICES });
    expect(byName(tel.spans(), 'chat gpt-4o').attributes['gen_ai.usage.cost.amount']).toBe((1000 * 2.5 + 100 * 10) / 1e6);
    expect(costPoints(await tel.collect()).map((p) => p.value)).toEqual([(1000 * 2.5 + 100 * 10) / 1e6]);
  });
});
