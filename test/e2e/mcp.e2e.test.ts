// agentbus/mcp end to end: an agent in this process (the OpenTelemetry bridge
// + setupOtlp under its own service name) whose tool calls an MCP tool on a
// server in a child process (fixtures/mcp-service.mjs: McpServer,
// instrumentMcpServer, the bridge + setupOtlp under another service name),
// over stdio and over Streamable HTTP on 127.0.0.1. Both processes export
// through the real collector to the real Jaeger, where the spans of both
// services are one trace:
//
//   invoke_agent trip-planner                    (caller)
//   └ execute_tool ask_forecast                  (caller)
//     └ tools/call forecast       CLIENT         (caller)
//       └ tools/call forecast     SERVER         (server, other service)
//         └ execute_tool lookup                  (server: the tool's own work)
//
// The child imports `agentbus` by name: this repository's dist/ (so
// `npm run build` first, as `npm run test:e2e` does), or the built copy
// AGENTBUS_PACKAGE_DIR names. This process uses src/.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Stream } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ScriptedModel, defineTool } from '../../src/agent/index.js';
import { getEventBus } from '../../src/global.js';
import { runContext } from '../../src/context.js';
import { instrumentMcpClient } from '../../src/mcp/index.js';
import { instrumentOtel, type OtelBridge } from '../../src/otel/bridge.js';
import { setupOtlp, type OtlpSetup } from '../../src/otel/setup.js';
import { getJaegerTrace, spanTag, startBackends, type Backends, type JaegerSpan, type JaegerTrace } from './backends.js';

const SERVICE = fileURLToPath(new URL('./fixtures/mcp-service.mjs', import.meta.url));

let be: Backends;
let otel: OtlpSetup | undefined;
let bridge: OtelBridge | undefined;
const children: ChildProcess[] = [];
const callerService = `agentbus-e2e-mcp-caller-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  be = await startBackends();
  otel = await setupOtlp({ endpoint: be.otlpHttpEndpoint, serviceName: callerService, exportTimeoutMillis: 3_000 });
  bridge = instrumentOtel();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  bridge?.shutdown();
  await otel?.shutdown();
  await be?.stop();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** What the server's `forecast` tool answers. */
interface ForecastAnswer {
  forecast: { city: string; sky: string; celsius: number };
  meta: { traceparent?: string; tracestate?: string; baggage?: string } | null;
}

/** The agent: its tool forwards to the MCP server's `forecast`. */
async function runAgent(client: Client): Promise<{ runId: string; answer: ForecastAnswer }> {
  let answer: ForecastAnswer | undefined;
  const askForecast = defineTool({
    name: 'ask_forecast',
    description: 'Asks the weather MCP server for a forecast.',
    input: z.object({ city: z.string() }),
    async execute({ city }) {
      const result = (await client.callTool({ name: 'forecast', arguments: { city } })) as { content: Array<{ type: string; text: string }>; isError?: boolean };
      if (result.isError === true) throw new Error(`forecast failed: ${result.content[0]?.text}`);
      answer = JSON.parse(result.content[0]!.text) as ForecastAnswer;
      return answer.forecast;
    },
  });
  const agent = new Agent({
    name: 'trip-planner',
    model: new ScriptedModel([
      { toolCalls: [{ id: 'call-forecast', name: 'ask_forecast', arguments: { city: 'Paris' } }] },
      { content: 'Pack an umbrella.' },
    ]),
    tools: [askForecast],
  });
  const runId = await runContext(async (id) => {
    await agent.run('Plan a day in Paris');
    return id;
  });
  if (answer === undefined) throw new Error('the tool never answered');
  return { runId, answer };
}

/** Polls `GET /api/traces/{traceId}` until `until` holds for the trace. */
async function waitForTrace(traceId: string, until: (trace: JaegerTrace) => boolean, timeoutMs = 30_000): Promise<JaegerTrace> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not found yet';
  for (;;) {
    const found = await getJaegerTrace(be.jaegerQueryUrl, traceId).catch((error: unknown) => ((last = String(error)), undefined));
    if (found !== undefined) {
      if (until(found)) return found;
      last = `${found.spans.length} span(s): ${found.spans.map((s) => `${s.operationName} [${spanTag(s, 'span.kind') ?? 'internal'}]`).join(', ')}`;
    }
    if (Date.now() > deadline) throw new Error(`trace ${traceId} incomplete after ${timeoutMs} ms; last: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
const serviceOf = (trace: JaegerTrace, span: JaegerSpan) => trace.processes[span.processID]?.serviceName;

/**
 * The checks both transports share: one trace, the caller's CLIENT span
 * over the server's SERVER span (the other service) over the tool's own
 * work; the MCP attributes on both.
 */
async function expectOneTrace(runId: string, answer: ForecastAnswer, serverService: string, transport: 'pipe' | 'tcp') {
  const link = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(answer.meta?.traceparent ?? '');
  expect(link, `traceparent in _meta: ${answer.meta?.traceparent}`).not.toBeNull();
  const [, traceId, linkedSpanId] = link!;
  expect(answer.forecast).toEqual({ city: 'Paris', sky: 'rain', celsius: 14 });

  const named = (t: JaegerTrace, name: string, kind?: string) =>
    t.spans.filter((s) => s.operationName === name && (kind === undefined || spanTag(s, 'span.kind') === kind));
  const trace = await waitForTrace(traceId!, (t) =>
    named(t, 'tools/call forecast', 'client').length === 1 &&
    named(t, 'tools/call forecast', 'server').length === 1 &&
    named(t, 'execute_tool lookup').length === 1 &&
    named(t, 'execute_tool ask_forecast').length === 1,
  );
  const clientSpan = named(trace, 'tools/call forecast', 'client')[0]!;
  const serverSpan = named(trace, 'tools/call forecast', 'server')[0]!;
  const lookup = named(trace, 'execute_tool lookup')[0]!;
  const askTool = named(trace, 'execute_tool ask_forecast')[0]!;
  const agentRoot = named(trace, 'invoke_agent trip-planner')[0]!;

  // Two services, one trace.
  expect(serviceOf(trace, agentRoot)).toBe(callerService);
  expect(serviceOf(trace, askTool)).toBe(callerService);
  expect(serviceOf(trace, clientSpan)).toBe(callerService);
  expect(serviceOf(trace, serverSpan)).toBe(serverService);
  expect(serviceOf(trace, lookup)).toBe(serverService);

  // The chain: invoke_agent > execute_tool ask_forecast > tools/call CLIENT > tools/call SERVER > execute_tool lookup.
  expect(agentRoot.references).toEqual([]);
  expect(parentOf(askTool)).toBe(agentRoot.spanID);
  expect(parentOf(clientSpan)).toBe(askTool.spanID);
  expect(clientSpan.spanID).toBe(linkedSpanId);
  expect(parentOf(serverSpan)).toBe(clientSpan.spanID);
  expect(parentOf(lookup)).toBe(serverSpan.spanID);
  // The run ids on the spans: the caller's run on its side, another run (the server's) on the other.
  expect(spanTag(clientSpan, 'agentbus.run.id')).toBe(runId);
  const serverRunId = spanTag(serverSpan, 'agentbus.run.id');
  expect(serverRunId).toBeTypeOf('string');
  expect(serverRunId).not.toBe(runId);
  expect(spanTag(lookup, 'agentbus.run.id')).toBe(serverRunId);

  // The MCP attributes the bridge sets (src/otel/semconv.ts ATTR_MCP), both sides.
  for (const span of [clientSpan, serverSpan]) {
    expect(spanTag(span, 'mcp.method.name'), span.operationName).toBe('tools/call');
    expect(spanTag(span, 'gen_ai.operation.name')).toBe('execute_tool');
    expect(spanTag(span, 'gen_ai.tool.name')).toBe('forecast');
    expect(spanTag(span, 'otel.status_code') ?? 'UNSET').not.toBe('ERROR');
  }
  expect(spanTag(clientSpan, 'network.transport')).toBe(transport);
  expect(spanTag(serverSpan, 'jsonrpc.request.id')).toBeTypeOf('string');
  if (transport === 'tcp') {
    const session = spanTag(clientSpan, 'mcp.session.id');
    expect(session).toBeTypeOf('string');
    expect(spanTag(serverSpan, 'mcp.session.id')).toBe(session);
    expect(spanTag(serverSpan, 'network.transport')).toBe('tcp');
    expect(spanTag(clientSpan, 'mcp.protocol.version')).toBeTypeOf('string');
  }
  expect(spanTag(lookup, 'gen_ai.tool.name')).toBe('lookup');
  expect(spanTag(lookup, 'mcp.method.name')).toBeUndefined();

  // On this process's bus: the client step, an MCP tool step of the run.
  const started = getEventBus().history(runId).filter((e) => e.eventType === 'agent.tool.started');
  const mcpStep = started.find((e) => (e.data as { toolName: string }).toolName === 'forecast');
  expect(mcpStep?.data).toMatchObject({ mcp: { method: 'tools/call', side: 'client', serverName: 'weather-mcp', transport } });
}

/** Every byte a stream carries, as text. */
function collect(stream: NodeJS.ReadableStream | Stream | null | undefined): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer | string) => (text += String(chunk)));
  return () => text;
}

describe('an MCP tool call across two processes, in the real Jaeger', () => {
  /** The agent calls the server in a child process over stdio; `relay` on both sides or neither. */
  async function overStdio(relay: boolean) {
    const serverService = unique('agentbus-e2e-mcp-stdio');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [SERVICE, 'stdio'],
      env: { ...(process.env as Record<string, string>), OTLP_ENDPOINT: be.otlpHttpEndpoint, SERVICE_NAME: serverService, RELAY: relay ? '1' : '0' },
      stderr: 'pipe',
    });
    const stderr = collect(transport.stderr);
    const client = instrumentMcpClient(new Client({ name: 'trip-planner', version: '0.0.1' }), { relay });
    await client.connect(transport);
    const pid = transport.pid;
    let result: Awaited<ReturnType<typeof runAgent>>;
    try {
      result = await runAgent(client);
    } finally {
      // Closing stdin ends the server: it flushes its spans before it exits (close waits for that, up to 2 s, then SIGTERM).
      await client.close();
    }
    expect(pid).toBeTypeOf('number');
    expect(stderr(), 'the server flushed its spans before exiting').toContain('mcp-service: flushed');
    await otel!.forceFlush();
    await expectOneTrace(result.runId, result.answer, serverService, 'pipe');
    return result;
  }

  it('over stdio: the client span, the server span of the other service under it, the tool’s own work under that, one trace', async () => {
    await overStdio(false);
  });

  it('over stdio with the relay: the server run also on the caller’s bus, and still one span each (the caller’s bridge makes none of it)', async () => {
    const { runId } = await overStdio(true);
    const bus = getEventBus();
    const mcpStep = bus.history(runId).find((e) => e.eventType === 'agent.tool.started' && (e.data as { toolName: string }).toolName === 'forecast');
    const relayed = bus.runIds().filter((id) => (bus.history(id)[0]?.data as { relayedFrom?: string }).relayedFrom === 'mcp:weather-mcp');
    expect(relayed).toHaveLength(1);
    const events = bus.history(relayed[0]!);
    expect(events[0]?.data).toMatchObject({ parentRunId: runId, parentSpanId: mcpStep?.spanId });
    expect(events.map((e) => e.eventType)).toEqual(['run.started', 'agent.tool.started', 'agent.tool.started', 'agent.tool.completed', 'agent.tool.completed', 'run.completed']);
  });

  it('over Streamable HTTP on 127.0.0.1: the same chain, one session on both spans', async () => {
    const serverService = unique('agentbus-e2e-mcp-http');
    const child = spawn(process.execPath, [SERVICE, 'http'], {
      env: { ...process.env, OTLP_ENDPOINT: be.otlpHttpEndpoint, SERVICE_NAME: serverService },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    const deadline = Date.now() + 30_000;
    while (!stdout().includes('\n')) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr()}`);
      if (Date.now() > deadline) throw new Error(`server printed no port; stderr: ${stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { port } = JSON.parse(stdout().split('\n')[0]!) as { port: number };
    const client = instrumentMcpClient(new Client({ name: 'trip-planner', version: '0.0.1' }));
    const transport: Transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
    await client.connect(transport);
    let result: Awaited<ReturnType<typeof runAgent>>;
    try {
      result = await runAgent(client);
    } finally {
      await client.close();
    }
    // SIGTERM: the server flushes its spans, then exits 0.
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, stderr()).toBe(0);
    expect(stderr()).toContain('mcp-service: flushed');
    await otel!.forceFlush();
    await expectOneTrace(result.runId, result.answer, serverService, 'tcp');
  });
});
