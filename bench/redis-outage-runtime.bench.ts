/**
 * An agent's run time with the Redis backplane attached, Redis up vs Redis
 * down (killed by its pid): the agent must not notice (target <= 1.2x).
 * Each sample runs the reference agent (offline ScriptedModel, one tool call)
 * RUNS times (about 28,000 events), each in its own runContext, on the
 * process bus; the two cases alternate, so drift in the machine hits both.
 * The outbox (24,000) holds what the up case has in flight, and not all of
 * the down case, which drops and counts the rest. Reported: ms per run,
 * median and spread, the ratio down/up, and what each case dropped.
 */
import { z } from 'zod';
import { getEventBus, runContext } from '../dist/index.js';
import { Agent, ScriptedModel, defineTool } from '../dist/agent/index.js';
import { attachRedisBackplane } from '../dist/redis/index.js';
import { startRedis } from '../test/redis-harness.js';
import { median, report, round } from './measure.js';

const RUNS = 2_000;
const SAMPLES = 7;

const add = defineTool({ name: 'add', description: 'Adds.', input: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
const agent = new Agent({ name: 'bench', model: new ScriptedModel(), tools: [add] });

async function msPerRun(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    await runContext(() => agent.run('add 2 and 3'));
    // A real agent waits on I/O between runs (a model call, a request); the
    // scripted one never does, so give the event loop the turn I/O would.
    await new Promise((r) => setImmediate(r));
  }
  return (performance.now() - t0) / RUNS;
}

const redis = await startRedis();
const backplane = await attachRedisBackplane({ url: redis.url, bus: getEventBus(), outboxSize: 24_000, onError: () => {} });
const spread = (values: number[]) => ({ median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) });
try {
  await msPerRun(); // warm up
  const up: number[] = [];
  const down: number[] = [];
  const dropped = { up: 0, down: 0 };
  for (let s = 0; s < SAMPLES; s++) {
    let before = backplane.stats().dropped;
    up.push(await msPerRun());
    await backplane.flush({ timeoutMs: 10_000 });
    dropped.up += backplane.stats().dropped - before;
    await redis.kill();
    before = backplane.stats().dropped;
    down.push(await msPerRun());
    dropped.down += backplane.stats().dropped - before;
    await redis.start();
    // Let the client reconnect and the outbox drain before the next "up" sample.
    for (let i = 0; i < 100 && !(await backplane.flush({ timeoutMs: 1000 })); i++) await new Promise((r) => setTimeout(r, 50));
  }
  const ratios = up.map((u, i) => (down[i] as number) / u);
  const stats = backplane.stats();
  report('redis-outage-runtime', {
    msPerRun: { redisUp: spread(up), redisDown: spread(down) },
    ratioDownOverUp: spread(ratios),
    backplane: { written: stats.written, droppedWhileUp: dropped.up, droppedWhileDown: dropped.down, gaps: stats.gaps },
    target: '<= 1.2 (the agent does not notice Redis going away)',
  });
} finally {
  await backplane.close({ timeoutMs: 1000 });
  await redis.stop();
}
