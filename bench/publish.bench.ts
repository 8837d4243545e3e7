/**
 * The active path: publishing into a run's history with subscribers.
 * Baseline in the same run: EventEmitter.emit to one listener that keeps the
 * event (the least a bus with history must do).
 */
import { EventEmitter } from 'node:events';
import { EventBus, emit, resetEventBus, runContext, type StreamEvent } from '../dist/index.js';
import { median, report, round } from './measure.js';

const BATCH = 512; // below the default highWaterMark, so a reading subscriber never drops
const BATCHES = 400;
const REPS = 7;

function makeEvents(runId: string, n: number): StreamEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    eventId: '', runId, seq: 0, eventType: 'agent.think', timestamp: Date.now(), spanId: undefined, parentSpanId: 'p',
    data: { iteration: i + 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 },
  }));
}

/** ns per event spent inside the timed section; `between` runs untimed after each batch. */
async function timeBatches(publishBatch: (batch: number) => void, between: () => Promise<void> | void): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < REPS + 1; r++) {
    let ns = 0;
    for (let b = 0; b < BATCHES; b++) {
      const t0 = process.hrtime.bigint();
      publishBatch(b);
      ns += Number(process.hrtime.bigint() - t0);
      await between();
    }
    if (r > 0) samples.push(ns / (BATCHES * BATCH)); // first repetition warms up
  }
  return median(samples);
}

const pool = makeEvents('run', BATCHES * BATCH);
const fresh = () => { for (const e of pool) e.seq = 0; };

// Baseline: EventEmitter to one listener keeping the event.
const emitter = new EventEmitter();
const kept: StreamEvent[] = [];
emitter.on('event', (e: StreamEvent) => kept.push(e));
const eventEmitterNs = await timeBatches(
  (b) => { for (let i = b * BATCH; i < (b + 1) * BATCH; i++) emitter.emit('event', pool[i]); },
  () => { kept.length = 0; },
);

async function busCase(subscribers: 'none' | 'reading' | 'stalled'): Promise<number> {
  const bus = new EventBus();
  const reader = subscribers === 'reading' ? bus.subscribe('run') : undefined;
  if (subscribers === 'stalled') bus.subscribe('run'); // never read: queue fills, then drops oldest
  fresh();
  return timeBatches(
    (b) => { for (let i = b * BATCH; i < (b + 1) * BATCH; i++) bus.publish(pool[i] as StreamEvent); },
    async () => { if (reader) for (let i = 0; i < BATCH; i++) await reader.next(); },
  );
}
const noSubscriberNs = await busCase('none');
const oneReadingSubscriberNs = await busCase('reading');
const stalledSubscriberNs = await busCase('stalled');

// End to end inside a run: emit -> AsyncLocalStorage lookup -> event object -> publish.
resetEventBus();
let emitInRunNs = 0;
await runContext(async () => {
  const data = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };
  emitInRunNs = await timeBatches(() => { for (let i = 0; i < BATCH; i++) emit('agent.think', data); }, () => {});
});

report('publish', {
  nsPerEvent: {
    eventEmitterOneListener: round(eventEmitterNs),
    busNoSubscriber: round(noSubscriberNs),
    busOneReadingSubscriber: round(oneReadingSubscriberNs),
    busStalledSubscriber: round(stalledSubscriberNs),
    emitInsideRun: round(emitInRunNs),
  },
  ratios: {
    busOneSubscriberVsEventEmitter: round(oneReadingSubscriberNs / eventEmitterNs),
    stalledVsReadingSubscriber: round(stalledSubscriberNs / oneReadingSubscriberNs),
  },
  targets: { busOneReadingSubscriberNs: '<= 250', stalledVsReadingSubscriber: '~1 (unchanged)' },
});
