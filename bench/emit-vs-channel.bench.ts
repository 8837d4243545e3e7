// node-flags: --min-semi-space-size=64 --max-semi-space-size=64
/**
 * `emit` inside a run against the platform's own ways to hand a message to
 * one synchronous subscriber, in a fresh process:
 * - emit('agent.think', data) inside `runContext`, the bus with one listener
 *   (`addListener({ onEvent })`) that reads a field of every event and counts;
 * - diagnostics_channel `publish(message)` to one subscriber doing the same;
 * - EventEmitter `emit('event', message)` to one listener doing the same.
 * emit builds an event object (ids, seq, timestamp) and keeps it in the run's
 * bounded history; the baselines get a fresh object literal of the same
 * fields per call, so allocation is not what separates them; each
 * subscriber keeps the last message it saw, without which the JIT elides the
 * baselines' literal altogether (escape analysis: measured 0 bytes per call).
 * They read no clock (emit does): that is emit's own cost, not spared to it.
 * Beside them, the floor: the clock read that gives each event its
 * timestamp, alone (`clock`: `now` of `src/clock.ts`, as emit calls it), against
 * the channel in the same alternation. While every event carries its own
 * time, emit cannot cost less than that read; a target below it is out of
 * reach of the design, whatever else emit stops doing.
 * Each subscriber must have seen every call, and each baseline must allocate
 * its message (bytes per call read from a fixed young generation, the
 * node-flags line), or the result is invalid.
 *
 * Variants alternate sample by sample in one process (which goes first
 * rotates; all inside the run, so each runs with the same async context); the
 * ratio is taken per sample.
 * Target: emit inside a run at or below diagnostics_channel publish to one
 * subscriber (DESIGN.md).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { now } from '../dist/clock.js';
import { emit, getEventBus, resetEventBus, runContext, type StreamEvent } from '../dist/index.js';
import { median, ratios, report, rotated, round, spread, youngBytesPerCall } from './measure.js';

const CALLS_PER_SAMPLE = 200_000;
const SAMPLES = 11;
const WARM_UP_SAMPLES = 2;
const RUN = 'bench-emit-vs-channel';
const data = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };

// Each subscriber reads a field of every message (its type) and counts
// those it was sent; one function each, so none shares another's feedback.
const seen = { emit: 0, diagnosticsChannel: 0, eventEmitter: 0 };
const last: Record<keyof typeof seen, StreamEvent | undefined> = { emit: undefined, diagnosticsChannel: undefined, eventEmitter: undefined };

resetEventBus({});
getEventBus().addListener({
  onEvent: (event: StreamEvent) => {
    if (event.eventType === 'agent.think') seen.emit++;
    last.emit = event;
  },
});

const channel = diagnosticsChannel.channel('agentbus.bench.emit-vs-channel');
channel.subscribe((message) => {
  if ((message as StreamEvent).eventType === 'agent.think') seen.diagnosticsChannel++;
  last.diagnosticsChannel = message as StreamEvent;
});

const emitter = new EventEmitter();
emitter.on('event', (message: StreamEvent) => {
  if (message.eventType === 'agent.think') seen.eventEmitter++;
  last.eventEmitter = message;
});

// The baselines' messages: the fields of a bus event, built afresh per call:
// a header of three words and eight fields, 8 bytes each (4 with pointer compression).
const taggedBytes = (process.config.variables as { v8_enable_pointer_compression?: unknown }).v8_enable_pointer_compression === 1 ? 4 : 8;
const MESSAGE_BYTES = (3 + 8) * taggedBytes;
let seq = 0;
const message = (): StreamEvent => ({
  eventId: '',
  runId: RUN,
  seq: ++seq,
  eventType: 'agent.think',
  timestamp: seq,
  spanId: undefined,
  parentSpanId: 'p',
  data,
});

// What the clock variant read, kept so that the JIT cannot drop the reads.
let clockSink = 0;

type Variant = keyof typeof seen | 'clock';
const variants: Record<Variant, (calls: number) => void> = {
  emit: (calls) => {
    for (let i = 0; i < calls; i++) emit('agent.think', data);
  },
  diagnosticsChannel: (calls) => {
    for (let i = 0; i < calls; i++) channel.publish(message());
  },
  eventEmitter: (calls) => {
    for (let i = 0; i < calls; i++) emitter.emit('event', message());
  },
  clock: (calls) => {
    let sum = 0;
    for (let i = 0; i < calls; i++) sum += now();
    clockSink += sum;
  },
};

const ns: Record<Variant, number[]> = { emit: [], diagnosticsChannel: [], eventEmitter: [], clock: [] };
let calls = 0;
const ALLOCATION_CALLS = 100_000;
const bytes: Record<keyof typeof seen, number> = { emit: 0, diagnosticsChannel: 0, eventEmitter: 0 };
await runContext(async () => {
  for (let s = -WARM_UP_SAMPLES; s < SAMPLES; s++) {
    for (const name of rotated(Object.keys(variants) as Variant[], s)) {
      const run = variants[name];
      globalThis.gc?.();
      const t0 = process.hrtime.bigint();
      run(CALLS_PER_SAMPLE);
      const elapsed = Number(process.hrtime.bigint() - t0);
      if (s >= 0) ns[name].push(elapsed / CALLS_PER_SAMPLE);
    }
    calls += CALLS_PER_SAMPLE;
  }
  for (const name of Object.keys(seen) as Array<keyof typeof seen>) {
    const run = variants[name];
    bytes[name] = median((await youngBytesPerCall(() => run(1), ALLOCATION_CALLS)).samples);
  }
  calls += 6 * ALLOCATION_CALLS; // youngBytesPerCall's warm-up and five windows
}, { runId: RUN });

const counted = seen.emit === calls && seen.diagnosticsChannel === calls && seen.eventEmitter === calls;
const built = bytes.diagnosticsChannel >= MESSAGE_BYTES * 0.75 && bytes.eventEmitter >= MESSAGE_BYTES * 0.75;
const valid = counted && built;
const vsChannel = ratios(ns.emit, ns.diagnosticsChannel);
report('emit-vs-channel', {
  method: `${SAMPLES} samples of ${CALLS_PER_SAMPLE} calls per variant after ${WARM_UP_SAMPLES} warm-up, alternating, one process; ratio per sample`,
  nsPerCall: {
    emitInsideRun: spread(ns.emit),
    diagnosticsChannelOneSubscriber: spread(ns.diagnosticsChannel),
    eventEmitterOneListener: spread(ns.eventEmitter),
  },
  callsMade: calls,
  seenBySubscriber: seen,
  bytesPerCall: { ...Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, round(v, 1)])), baselineMessageKnownBytes: MESSAGE_BYTES },
  valid,
  emitVsDiagnosticsChannel: { ratio: spread(vsChannel), target: '<= 1.0', ok: valid && median(vsChannel) <= 1 },
  emitVsEventEmitter: spread(ratios(ns.emit, ns.eventEmitter)),
  floor: {
    what: 'the clock read that timestamps each event, alone, against the channel: the lowest ratio emit can reach while every event carries its own time',
    clockReadNs: spread(ns.clock),
    clockVsDiagnosticsChannel: spread(ratios(ns.clock, ns.diagnosticsChannel)),
  },
});
