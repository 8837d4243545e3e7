// Runs linked across services, end to end: two Node processes with the built
// package, each exporting through setupOtlp -> the real collector -> the real
// Jaeger. A tool of the caller's agent POSTs to the callee over HTTP with
// injectRunLink; the callee opens its run with extractRunLink. On the
// callee's bus its run is a child run of the tool call; in Jaeger both
// services' spans are one trace, the callee's invoke_agent under the caller's
// execute_tool.
//
// The processes import `agentbus` by name (this repository's dist/, so
// `npm run build` first, as `npm run test:e2e` does); AGENTBUS_PACKAGE_DIR
// points them at another built copy of the package instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJaegerTrace, spanTag, startBackends, type Backends, type JaegerSpan, type JaegerTrace } from './backends.js';

const SERVICE = fileURLToPath(new URL('./fixtures/linked-service.mjs', import.meta.url));

let be: Backends;
const children: ChildProcess[] = [];

beforeAll(async () => {
  be = await startBackends();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await be?.stop();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

function start(role: 'caller' | 'callee', env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [SERVICE, role], {
    env: { ...process.env, OTLP_ENDPOINT: be.otlpHttpEndpoint, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  return { child, stdout: () => out, stderr: () => err };
}

/** The first JSON line the process prints; rejects with its stderr if it exits first. */
async function firstLine<T>(proc: ReturnType<typeof start>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.stdout().includes('\n')) {
    if (proc.child.exitCode !== null) throw new Error(`process exited with ${proc.child.exitCode}: ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no output after ${timeoutMs} ms; stderr: ${proc.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return JSON.parse(proc.stdout().split('\n')[0]!) as T;
}

/** Polls `GET /api/traces/{traceId}` until `until` holds for the trace. */
async function waitForTrace(traceId: string, until: (trace: JaegerTrace) => boolean, timeoutMs = 30_000): Promise<JaegerTrace> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not found yet';
  for (;;) {
    const found = await getJaegerTrace(be.jaegerQueryUrl, traceId).catch((error: unknown) => (last = String(error), undefined));
    if (found !== undefined) {
      if (until(found)) return found;
      last = `${found.spans.length} span(s): ${found.spans.map((s) => s.operationName).join(', ')}`;
    }
    if (Date.now() > deadline) throw new Error(`trace ${traceId} incomplete after ${timeoutMs} ms; last: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface CallerOutput {
  runId: string;
  toolSpanId: string;
  callee: { runId: string; output: string; runStarted: { parentRunId?: string; parentSpanId?: string; traceparent?: string } };
}

const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF');

describe('runs linked across two processes', () => {
  it('the callee’s run is a child run of the caller’s tool call, and its invoke_agent span a child of that execute_tool span in one trace', async () => {
    const callerService = unique('agentbus-e2e-links-caller');
    const calleeService = unique('agentbus-e2e-links-callee');
    const callee = start('callee', { SERVICE_NAME: calleeService });
    const { port } = await firstLine<{ port: number }>(callee, 30_000);
    const caller = start('caller', { SERVICE_NAME: callerService, CALLEE_URL: `http://127.0.0.1:${port}/forecast` });
    const [code] = (await once(caller.child, 'exit')) as [number | null];
    expect(code, caller.stderr()).toBe(0);
    const out = JSON.parse(caller.stdout().trim().split('\n').at(-1)!) as CallerOutput;

    // On the callee's bus: a child run of the caller's tool step, with the trace context of its span.
    expect(out.callee.runId).not.toBe(out.runId);
    expect(out.callee.runStarted).toMatchObject({ parentRunId: out.runId, parentSpanId: out.toolSpanId });
    const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(out.callee.runStarted.traceparent ?? '');
    expect(traceparent, `traceparent ${out.callee.runStarted.traceparent}`).not.toBeNull();
    const [, traceId, callerSpanId] = traceparent!;

    // In Jaeger: both services' spans in the one trace the traceparent names.
    const ofRun = (trace: JaegerTrace, runId: string, name: string) =>
      trace.spans.filter((s) => spanTag(s, 'agentbus.run.id') === runId && s.operationName === name);
    const trace = await waitForTrace(traceId!, (t) =>
      ofRun(t, out.runId, 'execute_tool ask_weather_service').length === 1 && ofRun(t, out.callee.runId, 'invoke_agent weather-service').length === 1,
    );
    const tool = ofRun(trace, out.runId, 'execute_tool ask_weather_service')[0]!;
    const calleeRoot = ofRun(trace, out.callee.runId, 'invoke_agent weather-service')[0]!;
    const callerRoot = ofRun(trace, out.runId, 'invoke_agent trip-planner')[0]!;
    expect(trace.processes[tool.processID]?.serviceName).toBe(callerService);
    expect(trace.processes[calleeRoot.processID]?.serviceName).toBe(calleeService);
    expect(tool.spanID).toBe(callerSpanId);
    expect(parentOf(calleeRoot)).toMatchObject({ traceID: traceId, spanID: tool.spanID });
    expect(parentOf(tool)?.spanID).toBe(callerRoot.spanID);
    expect(callerRoot.references).toEqual([]);
    // The callee's own steps follow its root.
    const calleeChats = ofRun(trace, out.callee.runId, 'chat scripted');
    expect(calleeChats.length).toBeGreaterThan(0);
    for (const chat of calleeChats) expect(parentOf(chat)?.spanID).toBe(calleeRoot.spanID);
  });
});
