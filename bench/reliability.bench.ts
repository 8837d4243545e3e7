/**
 * Reliability under hostile payloads.
 *
 * 1. The worst event-loop stall (perf_hooks.monitorEventLoopDelay) while a
 *    run publishes hostile payloads (1e5-deep nesting, 3,000 fields of 2 KB,
 *    5 MB strings, cycles, throwing Proxies) and a node:http SSE server
 *    serves them to 10 subscribers over real sockets. Target: < 50 ms.
 *    Baseline in the same run: the same server and readers with small events.
 * 2. Serialization time against the budget and against the payload: the
 *    bounded writer should cost about the same for a 1 MB and a 100 MB
 *    payload of the same shape (linear in the budget), and about 4x more for
 *    a 4x budget. An object's key list is the one thing read whole.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EventBus, boundedJson, type StreamEvent } from '../dist/index.js';
import { createSseHandler, toNodeListener } from '../dist/sse/index.js';
import { median, report, round } from './measure.js';

const SUBSCRIBERS = 10;
const now = () => performance.timeOrigin + performance.now();

function nest(depth: number): object {
  let value: object = { leaf: true };
  for (let i = 0; i < depth; i++) value = { c: value };
  return value;
}

const hostile: Array<() => object> = [
  () => nest(1e5),
  () => Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`d${i}`, 'd'.repeat(2048)])),
  () => ({ text: 'x'.repeat(5_000_000) }),
  () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.me = o;
    return o;
  },
  () => new Proxy({}, { ownKeys: () => { throw new Error('no keys'); }, get: () => { throw new Error('no get'); } }),
];
const small = () => ({ toolName: 'search', success: true, durationMs: 1.5, outputPreview: 'ok' });

function event(runId: string, data: object): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType: 'bench.payload', timestamp: now(), spanId: undefined, parentSpanId: undefined, data };
}

/** Publishes `count` events while 10 SSE readers drain them; returns the worst and p99 loop delay, ms. */
async function stall(make: (i: number) => object, count: number): Promise<{ maxMs: number; p99Ms: number; delivered: boolean }> {
  const bus = new EventBus();
  const runId = 'bench';
  bus.publish(event(runId, { start: true }));
  const server = http.createServer(toNodeListener(createSseHandler({ bus, public: true })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/runs/${runId}/events`;
  const readers = Array.from({ length: SUBSCRIBERS }, () =>
    new Promise<number>((resolve, reject) => {
      http.get(url, (res) => {
        let ids = 0;
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const text = tail + chunk;
          ids += text.split('\nid: ').length - 1 + (text.startsWith('id: ') ? 1 : 0);
          tail = text.slice(-8);
        });
        res.on('end', () => resolve(ids));
        res.on('error', reject);
      }).on('error', reject);
    }),
  );
  while (bus.stats().subscribers < SUBSCRIBERS) await new Promise((resolve) => setTimeout(resolve, 5));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  for (let i = 0; i < count; i++) {
    bus.publish(event(runId, make(i)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  bus.closeStream(runId);
  const counts = await Promise.all(readers);
  histogram.disable();
  server.close();
  return {
    maxMs: round(histogram.max / 1e6),
    p99Ms: round(histogram.percentile(99) / 1e6),
    delivered: counts.every((c) => c >= 1),
  };
}

const hostileRun = await stall((i) => (hostile[i % hostile.length] as () => object)(), 50);
const smallRun = await stall(small, 50);

// Serialization: time of one bounded write, median of repetitions.
function writeMs(value: object, budget: number, reps = 7): number {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    boundedJson(value, budget);
    samples.push(performance.now() - t0);
  }
  return median(samples);
}
// Same shape, 100x the bytes: 100 fields of 10 KB against 100 fields of 1 MB.
const fields = (count: number, size: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`d${i}`, String(i).repeat(size)]));
const payload1MB = fields(100, 10_000);
const payload100MB = fields(100, 1_000_000);
const budget = 1024 * 1024;
const oneMb = writeMs(payload1MB, budget);
const hundredMb = writeMs(payload100MB, budget);
const quarter = writeMs(payload100MB, budget / 4);
// The one thing read whole is an object's key list: 50,000 keys cost their Object.keys.
const manyKeys = writeMs(fields(50_000, 8), budget / 4);

report('reliability', {
  hostilePayloadsTo10Subscribers: { worstStallMs: hostileRun.maxMs, p99StallMs: hostileRun.p99Ms, allConnectionsServed: hostileRun.delivered },
  smallEventsTo10Subscribers: { worstStallMs: smallRun.maxMs, p99StallMs: smallRun.p99Ms },
  serialization: {
    budgetChars: budget,
    ms1MBPayload: round(oneMb, 3),
    ms100MBPayload: round(hundredMb, 3),
    ratio100MBvs1MB: round(hundredMb / oneMb),
    msQuarterBudget100MB: round(quarter, 3),
    ratioBudgetVsQuarterBudget: round(hundredMb / quarter),
    ms50000KeysQuarterBudget: round(manyKeys, 3),
  },
  targets: { worstStallMs: '< 50', ratio100MBvs1MB: '~1 (linear in the budget, not the payload)', ratioBudgetVsQuarterBudget: '~4' },
  ok: hostileRun.maxMs < 50 && hostileRun.delivered,
});
