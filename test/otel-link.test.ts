// Runs linked across services, through the OpenTelemetry bridge: the step
// that calls another service sends its span as `traceparent`, and the run
// opened there from the link has its root span under that step's span, in
// the caller's trace, whether or not this bridge followed the calling run.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, ScriptedModel } from '../src/agent/index.js';
import { resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { traceTool } from '../src/emit.js';
import { extractRunLink, injectRunLink, type RunLink } from '../src/link.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/bridge.js';
import { byName, makeTelemetry, parentOf, type Telemetry, useAsyncContextManager } from './otel-harness.js';

const contextManager = useAsyncContextManager();

let tel: Telemetry;
let bridge: OtelBridge;

beforeEach(() => {
  resetEventBus({});
  tel = makeTelemetry();
  bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
});
afterEach(() => {
  bridge.shutdown();
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

function traceparentOf(span: ReadableSpan): string {
  const { traceId, spanId } = span.spanContext();
  return `00-${traceId}-${spanId}-01`;
}

/** The spans of one run, by the bridge's `agentbus.run.id` attribute. */
function spansOf(runId: string): ReadableSpan[] {
  return tel.spans().filter((s) => s.attributes['agentbus.run.id'] === runId);
}

/** A run of the called service: one agent, so its root span is `invoke_agent callee`. */
function calleeRun(link: RunLink | undefined, runId = 'callee'): Promise<unknown> {
  return runContext(() => new Agent({ name: 'callee', model: new ScriptedModel() }).run('hello'), { runId, link });
}

describe('the traceparent a step sends', () => {
  it('is the span of the tool that calls out', async () => {
    let headers!: Headers;
    await runContext(() => traceTool({ name: 'call_b', args: {} }, () => {
      headers = injectRunLink(new Headers());
    }));
    expect(headers.get('traceparent')).toBe(traceparentOf(byName(tel.spans(), 'execute_tool call_b')));
    expect(headers.has('tracestate')).toBe(false);
  });

  it('is a span that user code opened inside the tool, as OpenTelemetry propagation would send', async () => {
    let headers!: Record<string, string>;
    await runContext(() => traceTool({ name: 'call_b', args: {} }, () => {
      tel.sdkTracerProvider.getTracer('app').startActiveSpan('prepare request', (span) => {
        headers = injectRunLink({});
        span.end();
      });
    }));
    const prepare = byName(tel.spans(), 'prepare request');
    expect(parentOf(prepare)).toBe(byName(tel.spans(), 'execute_tool call_b').spanContext().spanId);
    expect(headers.traceparent).toBe(traceparentOf(prepare));
  });

  it('is the tool span, from the bridge’s own table, when no context manager carries the active span', async () => {
    context.disable();
    try {
      let headers!: Record<string, string>;
      await runContext(() => traceTool({ name: 'call_b', args: {} }, () => {
        headers = injectRunLink({});
      }));
      expect(headers.traceparent).toBe(traceparentOf(byName(tel.spans(), 'execute_tool call_b')));
    } finally {
      context.setGlobalContextManager(contextManager.enable());
    }
  });

  it('at a run’s top level, is the span its top-level steps hang under', async () => {
    let headers!: Record<string, string>;
    await runContext(async () => {
      await traceTool({ name: 'first', args: {} }, () => 1);
      headers = injectRunLink({});
    }, { name: 'pipeline' });
    expect(headers.traceparent).toBe(traceparentOf(byName(tel.spans(), 'invoke_workflow pipeline')));
  });

  it('is sent only while a bridge is installed: after shutdown none, a second bridge still provides its own', async () => {
    const second = makeTelemetry();
    const other = instrumentOtel({ tracerProvider: second.tracerProvider, meterProvider: second.meterProvider });
    const send = async (runId: string) => {
      let headers!: Headers;
      await runContext(() => traceTool({ name: 'call_b', args: {} }, () => {
        headers = injectRunLink(new Headers());
      }), { runId });
      return headers.get('traceparent');
    };
    const toolOf = (t: Telemetry, runId: string) =>
      byName(t.spans().filter((s) => s.attributes['agentbus.run.id'] === runId), 'execute_tool call_b');
    // Both bridges wrap the step, the last attached innermost: its span is active in the body.
    expect(await send('both')).toBe(traceparentOf(toolOf(second, 'both')));
    other.shutdown();
    expect(await send('first')).toBe(traceparentOf(toolOf(tel, 'first')));
    bridge.shutdown();
    // With no bridge, not even a span of the application's own is sent: the trace context is the bridge's business.
    const withNone = await runContext(() => traceTool({ name: 'call_b', args: {} }, () =>
      tel.sdkTracerProvider.getTracer('app').startActiveSpan('own span', (span) => {
        span.end();
        return injectRunLink(new Headers());
      }),
    ));
    expect(withNone.has('traceparent')).toBe(false);
    expect(withNone.has('baggage')).toBe(true);
  });
});

describe('the root span of a linked run', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The called service, in this process: an agent run opened from the request's link.
    server = createServer((req, res) => {
      void calleeRun(extractRunLink(req.headers), 'http-callee').then(() => res.end('done'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('over HTTP in one process, is a child of the caller’s execute_tool span, in the caller’s trace', async () => {
    await runContext(() => traceTool({ name: 'call_b', args: {} }, async () => {
      await (await fetch(url, { headers: injectRunLink({}) })).text();
    }), { runId: 'http-caller' });
    const tool = byName(spansOf('http-caller'), 'execute_tool call_b');
    const root = byName(spansOf('http-callee'), 'invoke_agent callee');
    expect(parentOf(root)).toBe(tool.spanContext().spanId);
    expect(root.spanContext().traceId).toBe(tool.spanContext().traceId);
    // The rest of the callee's run follows its root.
    for (const span of spansOf('http-callee')) expect(span.spanContext().traceId).toBe(tool.spanContext().traceId);
  });

  it('hangs under the traceparent when this bridge no longer follows the calling run', async () => {
    let headers!: Record<string, string>;
    await runContext(() => traceTool({ name: 'enqueue', args: {} }, () => {
      headers = injectRunLink({});
    }), { runId: 'producer' });
    // The producer's run has ended: its id means nothing to the bridge any more, only the traceparent does.
    await calleeRun(extractRunLink(headers), 'consumer');
    const tool = byName(spansOf('producer'), 'execute_tool enqueue');
    const root = byName(spansOf('consumer'), 'invoke_agent callee');
    expect(root.parentSpanContext).toMatchObject({ traceId: tool.spanContext().traceId, spanId: tool.spanContext().spanId, isRemote: true });
  });

  it('for a parent run from another process, is a child of the remote span, with its tracestate', async () => {
    await calleeRun({ parentRunId: 'elsewhere', parentSpanId: 'step-9', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'vendor=abc,other=1' });
    const root = byName(spansOf('callee'), 'invoke_agent callee');
    expect(root.parentSpanContext).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    expect(root.spanContext().traceId).toBe(TRACE_ID);
    expect(root.spanContext().traceState?.get('vendor')).toBe('abc');
  });

  it('follows an unsampled caller: the callee’s spans are not recorded either', async () => {
    await calleeRun({ parentRunId: 'elsewhere', traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` });
    expect(spansOf('callee')).toEqual([]);
  });

  it('stays under an HTTP server span that already continued the caller’s trace', async () => {
    const link: RunLink = { parentRunId: 'elsewhere', parentSpanId: 'step-9', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` };
    // What an instrumented HTTP server does: a SERVER span from the request's traceparent, active in the handler.
    const remote = trace.setSpanContext(context.active(), { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const serverSpan = tel.sdkTracerProvider.getTracer('http').startSpan('POST /work', { kind: SpanKind.SERVER }, remote);
    await context.with(trace.setSpan(context.active(), serverSpan), () => calleeRun(link));
    serverSpan.end();
    const root = byName(spansOf('callee'), 'invoke_agent callee');
    expect(parentOf(root)).toBe(serverSpan.spanContext().spanId);
    expect(root.spanContext().traceId).toBe(TRACE_ID);
  });

  it('ignores a malformed traceparent: the run starts from the active context, as any other', async () => {
    await calleeRun({ parentRunId: 'elsewhere', traceparent: `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01` });
    const root = byName(spansOf('callee'), 'invoke_agent callee');
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.spanContext().traceId).not.toBe(TRACE_ID);
  });
});
