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
const REPS = 5;

const RUN = '5b0d8f3e-6c1a-4f7e-9d2b-8a1c3e5f7a9b';
const DATA = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };
const T0 = Date.now();

// Every case gets freshly allocated events, as emit makes them (a pool of
// pre-built events would be promoted to old space and turn every seq/eventId
// write into a remembered-set entry: a GC cost no real emitter has).
function makeEvent(i: number): StreamEvent {
  return { eventId: '', runId: RUN, seq: 0, eventType: 'agent.think', timestamp: T0 + i, spanId: undefined, parentSpanId: 'p', data: DATA };
}

/** ns per event spent inside the timed section; `between` runs untimed after each batch. */
async function timeBatches(publishBatch: (batch: number) => void, between: () => Promise<void> | void): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < REPS + 2; r++) {
    let ns = 0;
    for (let b = 0; b < BATCHES; b++) {
      const t0 = process.hrtime.bigint();
      publishBatch(b);
      ns += Number(process.hrtime.bigint() - t0);
      await between();
    }
    if (r > 1) samples.push(ns / (BATCHES * BATCH)); // two repetitions warm up
  }
  return median(samples);
}

// Baseline: EventEmitter to one listener keeping the event.
const emitter = new EventEmitter();
const kept: StreamEvent[] = [];
emitter.on('event', (e: StreamEvent) => kept.push(e));
const eventEmitterNs = await timeBatches(
  (b) => { for (let i = b * BATCH; i < (b + 1) * BATCH; i++) emitter.emit('event', makeEvent(i)); },
  () => { kept.length = 0; },
);

async function busCase(subscribers: 'none' | 'reading' | 'stalled'): Promise<number> {
  const bus = new EventBus();
  const reader = subscribers === 'reading' ? bus.subscribe(RUN) : undefined;
  if (subscribers === 'stalled') bus.subscribe(RUN); // never read: queue fills, then drops oldest
  return timeBatches(
    (b) => { for (let i = b * BATCH; i < (b + 1) * BATCH; i++) bus.publish(makeEvent(i)); },
    async () => { if (reader) for (let i = 0; i < BATCH; i++) await reader.next(); },
  );
}
// Cases interleaved over several rounds, each from a collected heap, and the
// median kept: GC timing and order effects move single figures by +-50%.
const ROUNDS = 5;
const samples = { none: [] as number[], reading: [] as number[], stalled: [] as number[] };
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
for (let round = 0; round < ROUNDS; round++) {
  for (const kind of ['none', 'reading', 'stalled'] as const) {
    gc();
    samples[kind].push(await busCase(kind));
  }
}
const noSubscriberNs = median(samples.none);
const oneReadingSubscriberNs = median(samples.reading);
const stalledSubscriberNs = median(samples.stalled);

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
