// node-flags: --min-semi-space-size=64 --max-semi-space-size=64
/**
 * The idle path: what an emission site costs when no run is open.
 *
 * `emit` against an empty function called through an import (the shape of
 * a user's call to `emit`) in three process states, each its own process:
 * - neverOpened: no run was ever opened, the gate (`src/gate.ts`) folds the
 *   guard away;
 * - afterRun: one `runContext` opened and closed first, the guard is now a
 *   counter compare;
 * - noOpt: never opened, with the optimizing compilers off (`--no-opt
 *   --no-maglev`: from Node 22 `--no-opt` alone leaves Maglev on), baseline
 *   under the same flags: what code that never gets optimized (cold paths,
 *   short scripts) pays.
 * Each case is timed in a process of its own (the JIT state one case leaves
 * colours the next); emit and its baseline alternate, pair by pair, and the
 * ratio is taken per pair; an OpenTelemetry no-op span is timed in each
 * pair too. Reference cases (a local empty function, a guarded
 * diagnostics_channel publish, idle traceTool/startStep, an instrumented MCP
 * client) are timed once each, in the neverOpened state.
 *
 * Bytes per call are read from a fixed young generation (the node-flags line)
 * in each state, beside a control that allocates a two-field object per
 * call: if the control does not read its known size, the figures are invalid.
 * (Idle traceTool's figure includes the bench's own `{ name, args }` literal,
 * which only optimized code can elide.)
 */
import { spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { emit, peekEventBus, runContext, startStep, traceTool } from '../dist/index.js';
import { instrumentMcpClient } from '../dist/mcp/index.js';
import { emptyFunction } from './empty-function.js';
import { median, nsPerOpSamples, ratios, report, round, spread, youngBytesPerCall } from './measure.js';

const N = 20_000_000;
const PAIRS = 5;
const ALLOCATION_CALLS = 200_000;
const payload = { iteration: 1, reasoningPreview: 'r', hasToolCalls: false, toolCallCount: 0 };

let sink = 0;
function empty(_type: string, _data: object): void {}
const channel = diagnosticsChannel.channel('agentbus.bench.idle');
const tracer = trace.getTracer('bench');
const work = () => 1;

// An MCP client whose transport answers at once: what the instrumented
// client's request wrapper costs with no run open, against the bare client.
const answered = Promise.resolve({ content: [] });
const mcpRequest = { method: 'tools/call', params: { name: 't', arguments: {} } };
const bareMcpClient = { request: (_request: unknown, _schema: unknown) => answered };
const instrumentedMcpClient = instrumentMcpClient({ request: (_request: unknown, _schema: unknown) => answered } as never) as unknown as typeof bareMcpClient;

const cases: Record<string, () => void> = {
  emptyFunctionLocal: () => empty('agent.think', payload),
  emptyFunctionImported: () => emptyFunction('agent.think', payload),
  emit: () => emit('agent.think', payload),
  emitInlineLiteral: () => emit('custom.tick', { n: sink }),
  diagnosticsChannelGuarded: () => {
    if (channel.hasSubscribers) channel.publish(payload);
  },
  traceToolIdle: () => {
    sink += traceTool({ name: 't', args: payload }, work);
  },
  startStepIdle: () => startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] }).end({ toolName: 't', toolCallId: 'c', success: true, durationMs: 0 }),
  otelNoopSpan: () => tracer.startSpan('noop').end(),
  mcpRequestBare: () => void bareMcpClient.request(mcpRequest, undefined),
  mcpRequestInstrumentedIdle: () => void instrumentedMcpClient.request(mcpRequest, undefined),
};

type State = 'neverOpened' | 'afterRun' | 'noOpt';
const STATE_FLAGS: Record<State, string[]> = { neverOpened: [], afterRun: [], noOpt: ['--no-opt', '--no-maglev'] };

// The control: one two-field class instance per call, kept reachable so
// that no escape analysis can remove it. Its size follows from V8's object
// layout: a header of three tagged words (map, properties, elements) and two
// in-object fields, a tagged word each (8 bytes, 4 with pointer compression);
// the warm-up lets in-object slack tracking shrink instances to that. (An
// object literal would not do: unoptimized code appends a 16-byte allocation
// memento to each, so it reads 56 under noOpt and 40 otherwise.)
class Pair {
  constructor(readonly a: number, readonly b: number) {}
}
const kept: object[] = [new Pair(0, 0)];
const control = () => {
  kept[0] = new Pair(sink, 2);
};
const taggedBytes = (process.config.variables as { v8_enable_pointer_compression?: unknown }).v8_enable_pointer_compression === 1 ? 4 : 8;
const CONTROL_BYTES = (3 + 2) * taggedBytes;
const CONTROL_TOLERANCE = 0.25;
// Below this a call allocates nothing: fewer than one 40-byte object per
// 4,000 calls in a window (an empty function reads ~0.001).
const ZERO_BYTES = 0.01;

const child = process.argv.indexOf('--child');
if (child !== -1) {
  const state = process.argv[child + 1] as State;
  const what = process.argv[child + 2] as string;
  if (state === 'afterRun') await runContext(async () => {});
  if (what === 'allocation') {
    const read = async (fn: () => void) => youngBytesPerCall(fn, ALLOCATION_CALLS);
    const out = {
      control: await read(control),
      emptyFunctionImported: await read(cases.emptyFunctionImported!),
      emit: await read(cases.emit!),
      traceToolIdle: await read(cases.traceToolIdle!),
      mcpRequestInstrumentedIdle: await read(cases.mcpRequestInstrumentedIdle!),
      busBuilt: peekEventBus() !== undefined,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    const fn = cases[what];
    if (fn === undefined) throw new Error(`unknown case ${what}`);
    // Unoptimized calls cost ten times more; fewer keep the time the same.
    const iterations = (what === 'otelNoopSpan' ? N / 10 : N) / (state === 'noOpt' ? 10 : 1);
    process.stdout.write(`${JSON.stringify(nsPerOpSamples(fn, iterations))}\n`);
  }
  process.exit(0);
}

function inChild(state: State, what: string): unknown {
  const out = spawnSync(process.execPath, [...STATE_FLAGS[state], ...process.execArgv, fileURLToPath(import.meta.url), '--child', state, what], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (out.status !== 0) throw new Error(`${state} ${what}: child exited with ${out.status ?? out.signal}`);
  return JSON.parse(out.stdout.trim());
}
/** Median ns per call of one case, in a fresh process. */
const timed = (state: State, what: string) => median(inChild(state, what) as number[]);

// emit and its baseline, pair by pair, each state; which goes first alternates.
const states: State[] = ['neverOpened', 'afterRun', 'noOpt'];
const ns: Record<State, { emit: number[]; emptyFunctionImported: number[] }> = {
  neverOpened: { emit: [], emptyFunctionImported: [] },
  afterRun: { emit: [], emptyFunctionImported: [] },
  noOpt: { emit: [], emptyFunctionImported: [] },
};
const otelNoopNs: number[] = [];
for (let pair = 0; pair < PAIRS; pair++) {
  for (const state of states) {
    const order = pair % 2 === 0 ? (['emit', 'emptyFunctionImported'] as const) : (['emptyFunctionImported', 'emit'] as const);
    for (const what of order) ns[state][what].push(timed(state, what));
  }
  otelNoopNs.push(timed('neverOpened', 'otelNoopSpan'));
}
const reference: Record<string, ReturnType<typeof spread>> = {};
for (const what of ['emptyFunctionLocal', 'emitInlineLiteral', 'diagnosticsChannelGuarded', 'traceToolIdle', 'startStepIdle', 'mcpRequestBare', 'mcpRequestInstrumentedIdle']) {
  reference[what] = spread(inChild('neverOpened', what) as number[], 3);
}

const emitTarget = 2;
const timing = Object.fromEntries(states.map((state) => {
  const r = ratios(ns[state].emit, ns[state].emptyFunctionImported);
  return [state, {
    emitNs: spread(ns[state].emit, 3),
    emptyFunctionImportedNs: spread(ns[state].emptyFunctionImported, 3),
    emitVsEmptyFunction: spread(r),
    target: `<= ${emitTarget}`,
    ok: median(r) <= emitTarget,
  }];
}));
const otelVsEmit = ratios(otelNoopNs, ns.neverOpened.emit);

type Reading = { samples: number[]; collectedWindows: number };
type AllocationOut = Record<'control' | 'emptyFunctionImported' | 'emit' | 'traceToolIdle' | 'mcpRequestInstrumentedIdle', Reading> & { busBuilt: boolean };
const allocation = Object.fromEntries(states.map((state) => {
  const out = inChild(state, 'allocation') as AllocationOut;
  const controlRead = median(out.control.samples);
  const controlOk = Math.abs(controlRead - CONTROL_BYTES) <= CONTROL_TOLERANCE * CONTROL_BYTES;
  const collected = Object.entries(out).filter(([, v]) => typeof v === 'object' && (v as Reading).collectedWindows > 0).map(([k]) => k);
  const valid = controlOk && collected.length === 0;
  const figure = (r: Reading) => spread(r.samples, 3);
  return [state, {
    control: { knownBytes: CONTROL_BYTES, read: figure(out.control), within: `±${CONTROL_TOLERANCE * 100}%`, ok: controlOk },
    ...(collected.length > 0 ? { collectedDuringWindow: collected } : {}),
    valid,
    // Not numbers to trust unless valid: shown anyway, marked.
    bytesPerCall: {
      emptyFunctionImported: figure(out.emptyFunctionImported),
      emit: figure(out.emit),
      traceToolIdle: figure(out.traceToolIdle),
      mcpRequestInstrumentedIdle: figure(out.mcpRequestInstrumentedIdle),
    },
    ...(state === 'afterRun' ? {} : { busBuilt: out.busBuilt }),
    target: { emit: 0, mcpRequestInstrumentedIdle: 0 },
    ok: valid && median(out.emit.samples) < ZERO_BYTES && median(out.mcpRequestInstrumentedIdle.samples) < ZERO_BYTES,
  }];
}));

report('idle-emit', {
  method: `each case in a fresh process, median of 7 loops of ${N / 1e6}M calls (2M under noOpt); ${PAIRS} emit/baseline pairs per state, ratio per pair`,
  emitNoRunOpen: timing,
  otelNoopSpanVsEmit: { ratio: spread(otelVsEmit), otelNoopSpanNs: spread(otelNoopNs, 3), target: '>= 10', ok: median(otelVsEmit) >= 10 },
  referenceNsNeverOpened: reference,
  referenceRatios: {
    emitVsLocalEmptyFunction: round(median(ns.neverOpened.emit) / reference.emptyFunctionLocal!.median),
    emitVsDiagnosticsChannelGuarded: round(median(ns.neverOpened.emit) / reference.diagnosticsChannelGuarded!.median),
    mcpInstrumentedIdleVsBare: round(reference.mcpRequestInstrumentedIdle!.median / reference.mcpRequestBare!.median),
  },
  allocation: {
    method: `new-space growth over ${ALLOCATION_CALLS} calls, 5 windows from a collected heap, young generation fixed at 64 MB; zero means < ${ZERO_BYTES} B/call`,
    ...allocation,
  },
});
