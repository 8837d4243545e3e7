/**
 * The active path: publishing into a run's history with subscribers.
 * Baseline in the same run: EventEmitter.emit to one listener that keeps the
 * event (the least a bus with history must do). Targets (DESIGN.md): one
 * reading subscriber <= 250 ns per event on Node 20; a subscriber that never
 * reads leaves publish time unchanged. `emit` inside a run against
 * diagnostics_channel is `emit-vs-channel.bench.ts`.
 */
import { EventEmitter } from 'node:events';
import { EventBus, emit, resetEventBus, runContext, type StreamEvent } from '../dist/index.js';
import { median, ratios, report, spread } from './measure.js';

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
const eventEmitterCase = () => timeBatches(
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

// End to end inside a run: emit -> AsyncLocalStorage lookup -> event object -> publish.
async function emitInRunCase(): Promise<number> {
  resetEventBus();
  let ns = 0;
  await runContext(async () => {
    const data = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };
    ns = await timeBatches(() => { for (let i = 0; i < BATCH; i++) emit('agent.think', data); }, () => {});
  });
  return ns;
}

// Cases interleaved over several rounds, each from a collected heap; ratios
// are taken per round: GC timing and order effects move single figures by +-50%.
const ROUNDS = 5;
const cases = {
  eventEmitter: eventEmitterCase,
  none: () => busCase('none'),
  reading: () => busCase('reading'),
  stalled: () => busCase('stalled'),
  emitInRun: emitInRunCase,
};
const samples: Record<keyof typeof cases, number[]> = { eventEmitter: [], none: [], reading: [], stalled: [], emitInRun: [] };
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
for (let round = 0; round < ROUNDS; round++) {
  for (const [kind, run] of Object.entries(cases) as Array<[keyof typeof cases, () => Promise<number>]>) {
    gc();
    samples[kind].push(await run());
  }
}

const PUBLISH_TARGET_NS = 250;
// "Unchanged" read as within 20%: rounds of the same case differ by about that on a shared machine.
const STALLED_TARGET = 1.2;
const stalledVsReading = ratios(samples.stalled, samples.reading);
report('publish', {
  method: `${ROUNDS} rounds of every case interleaved, each the median of ${REPS} repetitions of ${BATCHES} batches of ${BATCH} events; ratios per round`,
  nsPerEvent: {
    eventEmitterOneListener: spread(samples.eventEmitter),
    busNoSubscriber: spread(samples.none),
    busOneReadingSubscriber: spread(samples.reading),
    busStalledSubscriber: spread(samples.stalled),
    emitInsideRun: spread(samples.emitInRun),
  },
  busOneReadingSubscriber: { ns: spread(samples.reading), target: `<= ${PUBLISH_TARGET_NS} ns`, ok: median(samples.reading) <= PUBLISH_TARGET_NS },
  stalledVsReadingSubscriber: { ratio: spread(stalledVsReading), target: `<= ${STALLED_TARGET} (unchanged)`, ok: median(stalledVsReading) <= STALLED_TARGET },
  busOneSubscriberVsEventEmitter: spread(ratios(samples.reading, samples.eventEmitter)),
});
