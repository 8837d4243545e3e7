/**
 * Cross-process delivery through Redis Streams: a child process publishes a
 * run's events on its bus with the backplane attached; this process reads the
 * run with `createRedisRunSource` and takes, per event, the time from its
 * `timestamp` (the writer's clock: epoch ms, same machine) to its arrival
 * here. Reported at 1,000 events/s and at the most the writer sustains (it
 * publishes as fast as the backplane's outbox drains, in bursts of one outbox
 * flush), as p50/p99 in ms, with events lost (should be 0 at 1k/s).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRedisRunSource } from '../dist/redis/index.js';
import { startRedis } from '../test/redis-harness.js';
import { now } from '../dist/clock.js';
import { quantile, report, round } from './measure.js';

const EVENTS_PER_CASE = Number(process.env.BENCH_EVENTS ?? 10_000);

interface Case {
  readonly name: string;
  readonly rate: number | 'max';
}

const CASES: readonly Case[] = [
  { name: '1k/s', rate: 1_000 },
  { name: 'max', rate: 'max' },
];

if (process.argv[2] === 'writer') {
  // The child: publish EVENTS_PER_CASE events of one run at the asked rate.
  const [url, runId, rate] = process.argv.slice(3) as [string, string, string];
  const { EventBus } = await import('../dist/index.js');
  const { attachRedisBackplane } = await import('../dist/redis/index.js');
  const bus = new EventBus({ historySize: EVENTS_PER_CASE });
  const backplane = await attachRedisBackplane({ url, bus, historySize: EVENTS_PER_CASE + 10, outboxSize: EVENTS_PER_CASE + 10 });
  const event = (seq: number, eventType: string, data: object) => ({
    eventId: `${runId}:${seq}`, runId, seq, eventType, timestamp: now(), spanId: undefined, parentSpanId: undefined, data,
  });
  process.send?.('ready');
  await new Promise((r) => process.once('message', r));
  bus.publish(event(1, 'run.started', {}));
  if (rate === 'max') {
    // As fast as the writer drains: publish a burst, let the flush run, repeat.
    for (let seq = 2; seq <= EVENTS_PER_CASE; ) {
      for (let i = 0; i < 256 && seq <= EVENTS_PER_CASE; i++, seq++) bus.publish(event(seq, 'demo.step', { seq }));
      await new Promise((r) => setImmediate(r));
    }
  } else {
    const perMs = Number(rate) / 1000;
    const start = performance.now();
    for (let seq = 2; seq <= EVENTS_PER_CASE; seq++) {
      const due = start + (seq - 1) / perMs;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      bus.publish(event(seq, 'demo.step', { seq }));
    }
  }
  bus.publish(event(EVENTS_PER_CASE + 1, 'run.completed', { status: 'ok', durationMs: 0 }));
  bus.closeStream(runId);
  await backplane.flush({ timeoutMs: 30_000 });
  const stats = backplane.stats();
  await backplane.close();
  process.send?.(JSON.stringify(stats));
  process.disconnect();
} else {
  const redis = await startRedis();
  const source = await createRedisRunSource({ url: redis.url, highWaterMark: EVENTS_PER_CASE * 2 });
  const results: Record<string, unknown> = {};
  try {
    for (const c of CASES) {
      const runId = `delivery-${c.name.replace('/', '-')}`;
      const writer = fork(fileURLToPath(import.meta.url), ['writer', redis.url, runId, String(c.rate)], { execArgv: ['--import', 'tsx'] });
      await new Promise((r) => writer.once('message', r));
      const subscription = source.subscribe(runId);
      // Give the subscription time to reach Redis, so every event is read live.
      await new Promise((r) => setTimeout(r, 200));
      // The writer reports its stats when done, possibly before the last event is read here.
      const writerDone = new Promise<string>((resolveStats, reject) => {
        writer.once('message', (m) => resolveStats(m as string));
        writer.once('exit', (code) => reject(new Error(`the writer process exited with ${code} before reporting`)));
      });
      // A writer that dies ends the subscription too, so the read below cannot wait forever.
      writerDone.catch(() => subscription.close());
      const started = performance.now();
      writer.send('go');
      const latencies: number[] = [];
      let received = 0;
      for await (const event of subscription) {
        latencies.push(now() - event.timestamp);
        received++;
      }
      const seconds = (performance.now() - started) / 1000;
      const writerStats = JSON.parse(await writerDone) as { written: number; dropped: number };
      results[c.name] = {
        events: EVENTS_PER_CASE + 1,
        received,
        lost: EVENTS_PER_CASE + 1 - received,
        writerDropped: writerStats.dropped,
        eventsPerSecond: round(received / seconds, 0),
        p50Ms: round(quantile(latencies, 0.5)),
        p99Ms: round(quantile(latencies, 0.99)),
        maxMs: round(Math.max(...latencies)),
      };
    }
  } finally {
    await source.close();
    await redis.stop();
  }
  report('redis-delivery', { ...results, note: 'write-to-read latency across processes through Redis Streams; one writer process, one reader' });
}
