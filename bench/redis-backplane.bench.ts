/**
 * The Redis backplane (agentbus/redis), against a redis-server started here
 * (test/redis-harness.ts: Debian's redis-server on a free 127.0.0.1 port).
 *
 * 1. publish cost with the backplane attached vs the same bus alone, measured
 *    in the same run and interleaved (target <= 1.5x). Timed: the publish
 *    calls only, 512 at a time; between batches (untimed) the writer drains,
 *    so its serialization and I/O run as they would in an agent's idle time,
 *    and what they leave for the GC and the caches lands where it lands. Two
 *    baselines: the bus alone with nothing between batches, and the bus alone
 *    with the same Redis writes between batches made by hand through another
 *    client. Most of the difference to the first is any Redis writer running
 *    on the publishing thread (cold caches for the next publishes), not the
 *    listener: the second isolates what the backplane itself adds.
 * 2. Events per second one process sustains into Redis: publish N events
 *    (10 runs, agent.think-sized payloads) as fast as the loop allows and
 *    time until `flush()` says every one is written; against
 *    `redis-benchmark -n 200000 -P 64 -q XADD bench:stream * f v` on the same
 *    server (the server's own ceiling for pipelined XADD of a tiny entry).
 *
 * Medians of several repetitions, with min and max as the spread.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { EventBus, type StreamEvent } from '../dist/index.js';
import { attachRedisBackplane } from '../dist/redis/index.js';
import { startRedis } from '../test/redis-harness.js';
import { median, report, round } from './measure.js';

const BATCH = 512;
const BATCHES = 200;
const ROUNDS = 5;
const THROUGHPUT_EVENTS = 200_000;
const THROUGHPUT_REPS = 3;
const RUNS = 10;
const T0 = Date.now();
const DATA = { iteration: 1, reasoningPreview: 'the model thinks about which tool to call next', hasToolCalls: true, toolCallCount: 1 };

function makeEvent(runId: string, i: number): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType: 'agent.think', timestamp: T0 + i, spanId: 's1', parentSpanId: 'p1', data: DATA };
}

const redis = await startRedis();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const spread = (values: number[]) => ({ median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)) });

try {
  // 1. publish cost: the bus alone, quiet between batches; the bus alone with the same
  // Redis traffic between batches, written by hand through another client (the
  // baseline for what running any Redis writer on this thread does to the publish
  // path's caches); the bus with the backplane attached.
  const other = createClient({ url: redis.url });
  other.on('error', () => {});
  await other.connect();
  let prefixNo = 0;
  type Case = 'quiet' | 'sameTraffic' | 'backplane';
  async function publishCase(kind: Case): Promise<number> {
    const bus = new EventBus();
    const prefix = `bench${++prefixNo}`;
    const backplane = kind === 'backplane' ? await attachRedisBackplane({ url: redis.url, bus, prefix }) : undefined;
    const runs = Array.from({ length: RUNS }, (_, r) => `bench-run-${prefixNo}-${r}`);
    const samples: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      let ns = 0;
      for (let b = 0; b < BATCHES; b++) {
        const t0 = process.hrtime.bigint();
        for (let i = b * BATCH; i < (b + 1) * BATCH; i++) bus.publish(makeEvent(runs[i % RUNS] as string, i));
        ns += Number(process.hrtime.bigint() - t0);
        if (backplane !== undefined) await backplane.flush();
        else if (kind === 'sameTraffic') await writeByHand(prefix, runs, b);
        else await new Promise((r) => setImmediate(r));
      }
      if (rep > 0) samples.push(ns / (BATCHES * BATCH)); // the first repetition warms up
    }
    if (backplane !== undefined) {
      const stats = backplane.stats();
      if (stats.dropped !== 0 || stats.written !== 3 * BATCHES * BATCH) throw new Error(`backplane lost events: ${JSON.stringify(stats)}`);
      await backplane.close();
    }
    return median(samples);
  }
  let handSeq = 0;
  /** What the backplane sends for batch `b`, sent by hand: one XADD per event, one EXPIRE per run. */
  async function writeByHand(prefix: string, runs: string[], b: number): Promise<void> {
    const replies: Promise<unknown>[] = [];
    for (let i = b * BATCH; i < (b + 1) * BATCH; i++) {
      const event = makeEvent(runs[i % RUNS] as string, i);
      event.seq = ++handSeq;
      event.eventId = `${event.runId}:${event.seq}`;
      replies.push(other.sendCommand(['XADD', `${prefix}:run:${event.runId}`, 'MAXLEN', '~', '500', `${event.seq}-1`, 'e', JSON.stringify(event)], { timeout: 0 }));
    }
    for (const runId of runs) replies.push(other.sendCommand(['EXPIRE', `${prefix}:run:${runId}`, '86400'], { timeout: 0 }));
    await Promise.all(replies);
  }
  const cases: Case[] = ['quiet', 'sameTraffic', 'backplane'];
  const ns: Record<Case, number[]> = { quiet: [], sameTraffic: [], backplane: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of cases) {
      gc();
      ns[kind].push(await publishCase(kind));
    }
  }
  await other.quit();
  const vsQuiet = ns.quiet.map((q, i) => (ns.backplane[i] as number) / q);
  const vsSameTraffic = ns.sameTraffic.map((q, i) => (ns.backplane[i] as number) / q);

  // 2. Sustained events/s into Redis, one process.
  const eventsPerSecond: number[] = [];
  let eventChars = 0;
  for (let rep = 0; rep < THROUGHPUT_REPS; rep++) {
    gc();
    const bus = new EventBus({ historySize: 16 });
    const backplane = await attachRedisBackplane({ url: redis.url, bus, prefix: `tput${rep}`, outboxSize: THROUGHPUT_EVENTS });
    const runs = Array.from({ length: RUNS }, (_, r) => `tput-${rep}-${r}`);
    const t0 = performance.now();
    for (let i = 0; i < THROUGHPUT_EVENTS; i++) {
      bus.publish(makeEvent(runs[i % RUNS] as string, i));
      // Yield now and then, as an agent does, so the writer runs alongside.
      if (i % 2_048 === 2_047) await new Promise((r) => setImmediate(r));
    }
    if (!(await backplane.flush({ timeoutMs: 60_000 }))) throw new Error('flush timed out');
    const seconds = (performance.now() - t0) / 1000;
    const stats = backplane.stats();
    if (stats.written !== THROUGHPUT_EVENTS) throw new Error(`expected every event written: ${JSON.stringify(stats)}`);
    eventsPerSecond.push(stats.written / seconds);
    eventChars = JSON.stringify(bus.history(runs[0] as string).at(-1)).length;
    await backplane.close();
  }

  const run = promisify(execFile);
  const benchmarkRps: number[] = [];
  for (let rep = 0; rep < THROUGHPUT_REPS; rep++) {
    const { stdout } = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-n', '200000', '-P', '64', '-q', 'XADD', 'bench:stream', '*', 'f', 'v']);
    // -q still prints progress lines separated by \r; the last says "... N requests per second".
    const matches = [...stdout.matchAll(/([\d.]+) requests per second/g)];
    const rps = Number(matches.at(-1)?.[1]);
    if (!Number.isFinite(rps)) throw new Error(`could not read redis-benchmark's output: ${JSON.stringify(stdout.slice(-200))}`);
    benchmarkRps.push(rps);
  }

  report('redis-backplane', {
    nsPerPublish: { busAloneQuiet: spread(ns.quiet), busAloneSameRedisTraffic: spread(ns.sameTraffic), withBackplane: spread(ns.backplane) },
    publishRatio: { vsQuietBus: spread(vsQuiet), vsBusWithSameRedisTraffic: spread(vsSameTraffic) },
    throughput: {
      backplaneEventsPerSecond: spread(eventsPerSecond),
      redisBenchmarkXaddPerSecond: spread(benchmarkRps),
      ratio: round(median(eventsPerSecond) / median(benchmarkRps), 3),
      eventJsonChars: eventChars,
      note: 'redis-benchmark pipelines a 2-byte entry with auto ids into one stream; the backplane writes ~' + eventChars + '-char events with explicit ids, MAXLEN ~ trim and a TTL per run and batch',
    },
    targets: { publishRatio: '<= 1.5 (vsQuietBus)', throughput: 'reported as a ratio to redis-benchmark pipelined XADD' },
  });
} finally {
  await redis.stop();
}
