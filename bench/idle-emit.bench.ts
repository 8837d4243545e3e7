// node-flags: --max-semi-space-size=256
/**
 * The idle path: what an emission site costs when no run is open anywhere.
 * Baselines, measured in the same run: an empty function called through an
 * import (the shape of a user's call to `emit`; a local one for reference), a
 * diagnostics_channel publish behind its hasSubscribers guard, and an
 * OpenTelemetry no-op `startSpan().end()` (API only, no SDK registered);
 * and an instrumented MCP client's `request` against the bare client's.
 */
import { execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { emit, peekEventBus, startStep, traceTool } from '../dist/index.js';
import { instrumentMcpClient } from '../dist/mcp/index.js';
import { emptyFunction } from './empty-function.js';
import { nsPerOp, report, round } from './measure.js';

const N = 20_000_000;
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

// Each case is timed in a process of its own: in a shared process the JIT
// state left by one case (feedback, inlining budgets, GC) colours the next,
// and whichever case runs first looks best.
const only = process.argv[2];
if (only !== undefined) {
  const fn = cases[only];
  if (fn === undefined) throw new Error(`unknown case ${only}`);
  process.stdout.write(`${nsPerOp(fn, only === 'otelNoopSpan' ? N / 10 : N)}\n`);
  process.exit(0);
}
const ns: Record<string, number> = {};
for (const name of Object.keys(cases)) {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name], { encoding: 'utf8' });
  ns[name] = Number(out.trim());
}

/**
 * Bytes allocated per call: heap growth over a loop short enough to fit in a
 * large young generation (no scavenge), checked against a control that
 * allocates a known-size object per call.
 */
function bytesPerCall(fn: () => void, calls = 200_000): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < calls; i++) fn();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) fn();
  const after = process.memoryUsage().heapUsed;
  return Math.max(0, (after - before) / calls);
}
const kept: object[] = [];
const bytes = {
  emit: round(bytesPerCall(cases.emit as () => void), 3),
  traceToolIdle: round(bytesPerCall(cases.traceToolIdle as () => void), 3),
  mcpRequestInstrumentedIdle: round(bytesPerCall(cases.mcpRequestInstrumentedIdle as () => void), 3),
  control16ByteObjectPerCall: round(bytesPerCall(() => { kept.length = 0; kept.push({ a: sink }); }), 1),
};

report('idle-emit', {
  nsPerOp: Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, round(v, 3)])),
  ratios: {
    // The call site shape users have: an imported function. The local one is shown for reference.
    emitVsEmptyFunction: round((ns.emit as number) / (ns.emptyFunctionImported as number)),
    emitVsLocalEmptyFunction: round((ns.emit as number) / (ns.emptyFunctionLocal as number)),
    emitVsDiagnosticsChannel: round((ns.emit as number) / (ns.diagnosticsChannelGuarded as number)),
    otelNoopSpanVsEmit: round((ns.otelNoopSpan as number) / (ns.emit as number)),
    mcpInstrumentedIdleVsBare: round((ns.mcpRequestInstrumentedIdle as number) / (ns.mcpRequestBare as number)),
  },
  bytesPerCall: bytes,
  busBuilt: peekEventBus() !== undefined,
  targets: { emitVsEmptyFunction: '<= 2', otelNoopSpanVsEmit: '>= 10', bytesPerEmit: 0, bytesPerIdleMcpRequest: 0 },
});
