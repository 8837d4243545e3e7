// GET <base>/runs: the JSON list of retained runs that a console reads on
// connecting and after every reconnect (the all-runs stream has no history).
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus.js';
import type { RunSource } from '../src/source.js';
import { createSseHandler } from '../src/sse/index.js';
import { event, serve } from './sse-harness.js';

function publishRun(bus: EventBus, runId: string, name: string, status?: 'ok' | 'error' | 'aborted'): void {
  bus.publish(event(runId, 'run.started', { name }));
  bus.publish(event(runId, 'agent.tokens.used', { model: 'm1', provider: 'p', inputTokens: 10, outputTokens: 3, totalTokens: 13 }));
  bus.publish(event(runId, 'agent.tokens.used', { model: '__proto__', provider: 'p', inputTokens: 1, outputTokens: 1, totalTokens: 2 }));
  if (status !== undefined) {
    bus.publish(event(runId, 'run.completed', { status, durationMs: 12, ...(status === 'error' ? { error: 'boom' } : {}) }));
    bus.closeStream(runId);
  }
}

describe('GET /runs', () => {
  it('lists every retained run, most recently active first, with status, tokens by model and last seq', async () => {
    const bus = new EventBus();
    publishRun(bus, 'a', 'alpha', 'ok');
    publishRun(bus, 'b', 'bravo', 'error');
    publishRun(bus, 'c', 'charlie');
    bus.publish(event('child', 'run.started', { name: 'kid', parentRunId: 'c', parentSpanId: 'span-1' }));
    const { base } = await serve({ bus, public: true, allRuns: true, basePath: '/api' });
    const response = await fetch(`${base}/api/runs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const { runs } = (await response.json()) as { runs: Record<string, unknown>[] };
    expect(runs.map((run) => run.runId)).toEqual(['child', 'c', 'b', 'a']);
    expect(runs[0]).toMatchObject({ name: 'kid', parentRunId: 'c', parentSpanId: 'span-1', status: 'running', lastSeq: 1, open: true });
    expect(runs[1]).toMatchObject({ name: 'charlie', status: 'running', lastSeq: 3, complete: true, open: true });
    expect(runs[2]).toMatchObject({ name: 'bravo', status: 'error', error: 'boom', durationMs: 12, lastSeq: 4, open: false });
    expect(runs[3]).toMatchObject({ name: 'alpha', status: 'ok', open: false, tokens: { m1: { input: 10, output: 3 } } });
    // A model named __proto__ is counted like any other, not written onto Object.prototype.
    expect(Object.entries(runs[3]?.tokens as object)).toEqual([['m1', { input: 10, output: 3 }], ['__proto__', { input: 1, output: 1 }]]);
    expect(({} as Record<string, unknown>).input).toBeUndefined();
  });

  it('sums the cost the events carry by model and currency (never two currencies together), and counts the tokens of events without one apart', async () => {
    const bus = new EventBus();
    const tokens = (model: string, inputTokens: number, cost?: unknown) => event('priced', 'agent.tokens.used', { model, provider: 'p', inputTokens, outputTokens: 0, totalTokens: inputTokens, cost });
    bus.publish(event('priced', 'run.started', { name: 'priced' }));
    bus.publish(tokens('gpt-4o', 100, { amount: 0.25, currency: 'USD', source: 'local' }));
    bus.publish(tokens('gpt-4o', 100, { amount: 0.5, currency: 'USD', source: 'local' }));
    bus.publish(tokens('gpt-4o', 100, { amount: 2, currency: 'EUR', source: 'provider' }));
    bus.publish(tokens('__proto__', 100, { amount: 1, currency: 'USD', source: 'local' }));
    bus.publish(tokens('unpriced', 7));
    // Not costs: the bus does not validate, the list believes none of them.
    for (const cost of [{ amount: -1, currency: 'USD', source: 'local' }, { amount: 1, currency: 'usd', source: 'local' }, { amount: 1, currency: 'USD', source: 'guess' }, 'free']) bus.publish(tokens('hostile', 3, cost));
    const { base } = await serve({ bus, public: true, allRuns: true });
    const { runs } = (await (await fetch(`${base}/runs`)).json()) as { runs: Array<{ cost: Record<string, Record<string, number>>; uncosted: Record<string, unknown> }> };
    expect(Object.entries(runs[0]!.cost)).toEqual([['gpt-4o', { USD: 0.75, EUR: 2 }], ['__proto__', { USD: 1 }]]);
    expect(runs[0]!.uncosted).toEqual({ unpriced: { input: 7, output: 0 }, hostile: { input: 12, output: 0 } });
  });

  it('keeps at most 64 (model, currency) cost entries for a run, whatever its history names', async () => {
    const bus = new EventBus();
    for (let i = 0; i < 100; i++) bus.publish(event('many', 'agent.tokens.used', { model: `m${i}`, provider: 'p', inputTokens: 1, outputTokens: 0, totalTokens: 1, cost: { amount: 1, currency: 'USD', source: 'local' } }));
    const { base } = await serve({ bus, public: true, allRuns: true });
    const { runs } = (await (await fetch(`${base}/runs`)).json()) as { runs: Array<{ cost: Record<string, Record<string, number>> }> };
    expect(Object.values(runs[0]!.cost).reduce((n, byCurrency) => n + Object.keys(byCurrency).length, 0)).toBe(64);
    // No empty entry for the models past the bound.
    expect(Object.keys(runs[0]!.cost)).toHaveLength(64);
  });

  it('leaves out a cost whose sum is too large to be finite, rather than writing null', async () => {
    const bus = new EventBus();
    const huge = { amount: 1e308, currency: 'USD', source: 'provider' };
    for (let i = 0; i < 2; i++) bus.publish(event('huge', 'agent.tokens.used', { model: 'm', provider: 'p', inputTokens: 1, outputTokens: 0, totalTokens: 1, cost: huge }));
    bus.publish(event('huge', 'agent.tokens.used', { model: 'm', provider: 'p', inputTokens: 1, outputTokens: 0, totalTokens: 1, cost: { ...huge, currency: 'EUR' } }));
    const { base } = await serve({ bus, public: true, allRuns: true });
    const body = await (await fetch(`${base}/runs`)).text();
    expect(body).not.toContain('null');
    const { runs } = JSON.parse(body) as { runs: Array<{ cost: Record<string, Record<string, number>> }> };
    expect(runs[0]!.cost).toEqual({ m: { EUR: 1e308 } });
  });

  it('is authorized like the all-runs stream, with runId undefined', async () => {
    const bus = new EventBus();
    publishRun(bus, 'a', 'alpha');
    const asked: (string | undefined)[] = [];
    const { base } = await serve({
      bus,
      allRuns: true,
      authorize: (request, runId) => {
        asked.push(runId);
        return request.headers.get('authorization') === 'Bearer t';
      },
    });
    expect((await fetch(`${base}/runs`)).status).toBe(401);
    expect((await fetch(`${base}/runs`, { headers: { authorization: 'Bearer nope' } })).status).toBe(403);
    const ok = await fetch(`${base}/runs`, { headers: { authorization: 'Bearer t' } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { runs: unknown[] }).runs).toHaveLength(1);
    expect(asked).toEqual([undefined, undefined, undefined]);
  });

  it('answers 404 without allRuns, leaves other methods to the app, and answers 501 for a source that cannot list', async () => {
    const bus = new EventBus();
    const without = await serve({ bus, public: true });
    const notFound = await fetch(`${without.base}/runs`);
    expect(notFound.status).toBe(404);
    expect(await notFound.text()).toBe('not found: the run list is not enabled (createSseHandler({ allRuns: true }))\n');
    const served = await serve({ bus, public: true, allRuns: true });
    // An app's own POST /runs goes on to the app's next handler (here none: the handler's 404).
    expect((await fetch(`${served.base}/runs`, { method: 'POST' })).status).toBe(404);
    expect(await createSseHandler({ bus, public: true, allRuns: true }).handle(new Request('http://x/runs', { method: 'POST' }))).toBeUndefined();
    const streamOnly: RunSource = { lookup: () => 'unknown', subscribe: (id) => bus.subscribe(id), subscribeAll: () => bus.subscribeAll() };
    const other = await serve({ source: streamOnly, public: true, allRuns: true });
    const unlisted = await fetch(`${other.base}/runs`);
    expect(unlisted.status).toBe(501);
    expect(await unlisted.text()).toMatch(/^not implemented: this run source cannot list its runs/);
  });
});
