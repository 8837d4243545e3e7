// Redis goes away under a busy writer: a 60 s outage at 10,000 events/s. The
// agent never notices (publish never throws or waits), memory stays flat, the
// loss is counted, and once Redis is back readers find a gap marker covering
// exactly what was lost, then the later events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { EventBus } from 'agentbus';
import { attachRedisBackplane, decodeRunEntry, runKey } from 'agentbus/redis';
import { startRedis, type RedisServer } from '../redis-harness.js';

const OUTAGE_MS = 60_000;
const RATE = 10_000; // events per second
const TICK_MS = 10;
const OUTBOX = 1_000;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const heapMiB = () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc (vitest.e2e.config.ts passes it)');
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

function event(runId: string, seq: number, eventType: string, data: object) {
  return { eventId: `${runId}:${seq}`, runId, seq, eventType, timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data };
}

describe('a 60 s Redis outage at 10k events/s', () => {
  it('keeps publish synchronous and memory flat, counts the loss, and marks the gap for readers', { timeout: OUTAGE_MS + 60_000 }, async () => {
    // The outbox is smaller than the stream's cap, so that after the outage the
    // gap marker and everything behind it fit in the stream together.
    const bus = new EventBus({ historySize: 2_000 });
    const errors: unknown[] = [];
    const backplane = await attachRedisBackplane({ url: redis.url, bus, historySize: 2_000, outboxSize: OUTBOX, onError: (error) => errors.push(error) });
    const runId = 'busy-run';
    let seq = 0;
    bus.publish(event(runId, ++seq, 'run.started', {}));
    for (let i = 0; i < 100; i++) bus.publish(event(runId, ++seq, 'demo.step', { i, phase: 'before' }));
    await backplane.flush();
    const beforeOutage = seq;

    await redis.kill();
    const baseline = heapMiB();
    let peak = baseline;
    let worstPublishMs = 0;
    const perTick = (RATE * TICK_MS) / 1000;
    const start = Date.now();
    let nextSample = start + 5_000;
    while (Date.now() - start < OUTAGE_MS) {
      const t0 = performance.now();
      for (let i = 0; i < perTick; i++) bus.publish(event(runId, ++seq, 'demo.step', { i, phase: 'outage', text: 'x'.repeat(64) }));
      worstPublishMs = Math.max(worstPublishMs, (performance.now() - t0) / perTick);
      await new Promise((r) => setTimeout(r, TICK_MS));
      if (Date.now() >= nextSample) {
        peak = Math.max(peak, heapMiB());
        nextSample += 5_000;
      }
    }
    const lastOfOutage = seq;
    console.info(`outage: ${lastOfOutage - beforeOutage} events published in ${OUTAGE_MS / 1000} s, heap ${baseline.toFixed(1)} -> peak ${peak.toFixed(1)} MiB, worst publish ${(worstPublishMs * 1e6).toFixed(0)} ns/event, dropped ${backplane.stats().dropped}`);
    const published = lastOfOutage - beforeOutage;
    // The loop really ran at about the rate (timers fire late on a busy machine, never early).
    expect(published).toBeGreaterThan((OUTAGE_MS / 1000) * RATE * 0.5);
    // The outbox and the bookkeeping: far below what keeping the outage's
    // events would take (published x ~300 bytes: well over 100 MiB).
    expect(peak - baseline).toBeLessThan(32);
    expect(backplane.stats().queued).toBeLessThanOrEqual(OUTBOX);
    expect(backplane.stats().dropped).toBeGreaterThanOrEqual(published - OUTBOX);

    await redis.start();
    // After the restart (an empty Redis), later events arrive behind a gap marker.
    for (let i = 0; i < 50; i++) bus.publish(event(runId, ++seq, 'demo.step', { i, phase: 'after' }));
    const deadline = Date.now() + 30_000;
    const reader = createClient({ url: redis.url });
    reader.on('error', () => {});
    await reader.connect();
    try {
      let entries: Array<{ id: string; message: Record<string, string> }> = [];
      while (Date.now() < deadline) {
        await backplane.flush();
        entries = (await reader.xRange(runKey('agentbus', runId), '-', '+')) as typeof entries;
        if (entries.some((e) => e.id === `${seq}-1`)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const decoded = entries.map((e) => ({ id: e.id, entry: decodeRunEntry(runId, e.id, e.message) }));
      expect(decoded.every((d) => d.entry.kind === 'event')).toBe(true);
      const events = decoded.map((d) => (d.entry as { event: { eventType: string; seq: number; data: { count: number; fromSeq: number; toSeq: number } } }).event);
      const gap = events.find((e) => e.eventType === 'stream.dropped');
      expect(gap, 'a gap marker after the outage').toBeDefined();
      const written = events.filter((e) => e.eventType !== 'stream.dropped').map((e) => e.seq);
      // The gap says exactly which sequence numbers never reached Redis.
      const firstAfterGap = written.find((s) => s > gap!.data.toSeq)!;
      expect(firstAfterGap).toBe(gap!.data.toSeq + 1);
      expect(gap!.data.count).toBe(gap!.data.toSeq - gap!.data.fromSeq + 1);
      expect(written.at(-1)).toBe(seq);
      // No id twice, in order.
      expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
    } finally {
      await reader.quit();
      await backplane.close();
    }
    expect(worstPublishMs).toBeLessThan(1); // per event, averaged over a tick: publish never waited on Redis
  });
});
