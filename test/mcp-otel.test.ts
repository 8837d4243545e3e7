// agentbus/mcp through the OpenTelemetry bridge: client and server in one
// process over Streamable HTTP on 127.0.0.1. The client's tool span is a
// CLIENT span `tools/call <tool>` with the MCP attributes; the server's is a
// SERVER span of the same trace, whose parent is the client's span.
// (A server in a child process over stdio would need an exporter in the
// child to be checked; the stdio link itself is checked in mcp.test.ts.)
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetEventBus, runContext } from '../src/index.js';
import { instrumentMcpClient } from '../src/mcp/index.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/bridge.js';
import {
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_MCP_CLIENT_OPERATION_DURATION,
  METRIC_MCP_SERVER_OPERATION_DURATION,
  MCP_OPERATION_DURATION_BUCKETS,
} from '../src/otel/semconv.js';
import { makeMcpServer, type Whoami } from './fixtures/mcp-server.js';
import { makeStrictMcpServer, rejection, serveMcpOverHttp, type Connectable } from './mcp-harness.js';

function whoami(result: unknown): Whoami {
  return JSON.parse((result as { content: Array<{ text: string }> }).content[0]?.text ?? '') as Whoami;
}
import { byName, histogramPoints, makeTelemetry, parentOf, type Telemetry, useAsyncContextManager } from './otel-harness.js';

useAsyncContextManager();

let tel: Telemetry;
let bridge: OtelBridge;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(() => {
  resetEventBus({});
  tel = makeTelemetry();
  bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  bridge.shutdown();
});

/** An instrumented client connected over Streamable HTTP on 127.0.0.1 to a server `makeServer` makes (the fixture's McpServer by default). */
async function servedClient(makeServer: () => Connectable = () => makeMcpServer('before')): Promise<{ client: Client; url: URL }> {
  const served = await serveMcpOverHttp(makeServer);
  const client = instrumentMcpClient(new Client({ name: 'otel-client', version: '0' }));
  await client.connect(new StreamableHTTPClientTransport(served.url));
  cleanups.push(async () => {
    await client.close();
    await served.close();
  });
  return { client, url: served.url };
}

async function connectedClient(): Promise<Client> {
  return (await servedClient()).client;
}

const clientSpanNamed = (name: string) => byKind(tel.spans(), name, SpanKind.CLIENT);
const serverSpanNamed = (name: string) => byKind(tel.spans(), name, SpanKind.SERVER);

function byKind(spans: ReadableSpan[], name: string, kind: SpanKind): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${SpanKind[kind]} span named ${name}, found ${found.length}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0] as ReadableSpan;
}

describe('an MCP tool call with the bridge on both sides', () => {
  it('is one trace: the server span is a child of the client span', async () => {
    const client = await connectedClient();
    await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'traced', name: 'caller' });
    const spans = tel.spans();
    const clientSpan = spans.find((s) => s.name === 'tools/call whoami' && s.kind === SpanKind.CLIENT);
    const serverSpan = spans.find((s) => s.name === 'tools/call whoami' && s.kind === SpanKind.SERVER);
    expect(clientSpan).toBeDefined();
    expect(serverSpan).toBeDefined();
    expect(serverSpan?.spanContext().traceId).toBe(clientSpan?.spanContext().traceId);
    expect(parentOf(serverSpan!)).toBe(clientSpan?.spanContext().spanId);
    expect(parentOf(clientSpan!)).toBe(byName(spans, 'invoke_workflow caller').spanContext().spanId);
    expect(clientSpan?.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'whoami',
      'network.transport': 'tcp',
    });
    expect(clientSpan?.attributes['mcp.session.id']).toBeTypeOf('string');
    expect(clientSpan?.attributes['mcp.protocol.version']).toBeTypeOf('string');
    expect(serverSpan?.attributes).toMatchObject({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'whoami', 'jsonrpc.request.id': expect.any(String) });
    expect(serverSpan?.attributes['mcp.session.id']).toBe(clientSpan?.attributes['mcp.session.id']);
    // Each ended once.
    expect(tel.endCalls.get(clientSpan!.spanContext().spanId)).toBe(1);
    expect(tel.endCalls.get(serverSpan!.spanContext().spanId)).toBe(1);
  });

  it('an isError result makes both spans ERROR', async () => {
    const client = await connectedClient();
    await runContext(() => client.callTool({ name: 'fails', arguments: {} }), { runId: 'failing' });
    const spans = tel.spans().filter((s) => s.name === 'tools/call fails');
    expect(spans.map((s) => s.kind).sort()).toEqual([SpanKind.SERVER, SpanKind.CLIENT].sort());
    for (const span of spans) expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('an isError result is error.type tool_error on both spans, as the MCP conventions say', async () => {
    const client = await connectedClient();
    await runContext(() => client.callTool({ name: 'fails', arguments: {} }), { runId: 'failing-type' });
    const spans = tel.spans().filter((s) => s.name === 'tools/call fails');
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.attributes['error.type']).toBe('tool_error');
  });

  it('a resource read is a `resources/read` CLIENT span, and a SERVER span under it, with the uri as an attribute, not execute_tool spans', async () => {
    const client = await connectedClient();
    await runContext(() => client.readResource({ uri: 'file:///readme.txt' }), { runId: 'reading' });
    const spans = tel.spans().filter((s) => s.name === 'resources/read');
    expect(spans.map((s) => s.kind).sort()).toEqual([SpanKind.SERVER, SpanKind.CLIENT].sort());
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(parentOf(serverSpan)).toBe(clientSpan.spanContext().spanId);
    for (const span of spans) {
      expect(span.attributes).toMatchObject({ 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///readme.txt' });
      expect(span.attributes['gen_ai.operation.name']).toBeUndefined();
    }
    await tel.collect();
    const server = histogramPoints(tel.metric('mcp.server.operation.duration'));
    expect(server.map((p) => p.attributes['mcp.method.name'])).toEqual(['resources/read']);
  });

  it("sends the client span's traceparent in _meta, but keeps one the caller set", async () => {
    const client = await connectedClient();
    const ours = await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'ours' });
    const span = tel.spans().find((s) => s.name === 'tools/call whoami' && s.kind === SpanKind.CLIENT);
    const { traceId, spanId } = span!.spanContext();
    expect(whoami(ours).meta?.['traceparent']).toBe(`00-${traceId}-${spanId}-01`);
    const theirs = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const kept = await runContext(() => client.callTool({ name: 'whoami', arguments: {}, _meta: { traceparent: theirs } }), { runId: 'theirs' });
    expect(whoami(kept).meta?.['traceparent']).toBe(theirs);
  });
});

describe('a JSON-RPC error in the trace', () => {
  it('is error.type and rpc.response.status_code, the code as a string, on the client and the server span', async () => {
    const { client } = await servedClient(makeStrictMcpServer);
    const error = await runContext(() => rejection(client.callTool({ name: 'forecast', arguments: {} })), { runId: 'rpc-code' });
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    for (const span of [clientSpanNamed('tools/call forecast'), serverSpanNamed('tools/call forecast')]) {
      expect(span.attributes).toMatchObject({ 'error.type': '-32602', 'rpc.response.status_code': '-32602', 'mcp.method.name': 'tools/call' });
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toContain('forecast needs a city');
      expect(tel.endCalls.get(span.spanContext().spanId)).toBe(1);
    }
  });

  it('a failed resource read: -32602 on its resources/read span', async () => {
    const client = await connectedClient();
    await runContext(() => rejection(client.readResource({ uri: 'file:///missing.txt' })), { runId: 'rpc-read' });
    const span = clientSpanNamed('resources/read');
    expect(span.attributes).toMatchObject({ 'error.type': '-32602', 'rpc.response.status_code': '-32602' });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a timeout: -32001 on the client span', async () => {
    const client = await connectedClient();
    const error = await runContext(
      () => rejection(client.callTool({ name: 'slow', arguments: { ms: 5_000 } }, undefined, { timeout: 50 })),
      { runId: 'rpc-timeout' },
    );
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    const span = clientSpanNamed('tools/call slow');
    expect(span.attributes).toMatchObject({ 'error.type': '-32001', 'rpc.response.status_code': '-32001' });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('an isError result and an abort: their error.type, and no rpc.response.status_code (no error code came back)', async () => {
    const client = await connectedClient();
    await runContext(() => client.callTool({ name: 'fails', arguments: {} }), { runId: 'no-code' });
    for (const span of [clientSpanNamed('tools/call fails'), serverSpanNamed('tools/call fails')]) {
      expect(span.attributes['error.type']).toBe('tool_error');
      expect(span.attributes['rpc.response.status_code']).toBeUndefined();
    }
    const controller = new AbortController();
    await runContext(async () => {
      const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('user gave up')), 50);
      return rejection(call);
    }, { runId: 'aborted' });
    const aborted = clientSpanNamed('tools/call slow');
    expect(aborted.attributes['error.type']).toBe('McpError');
    expect(aborted.attributes['rpc.response.status_code']).toBeUndefined();
    expect(aborted.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('the server address on MCP spans', () => {
  it('is server.address and server.port on a Streamable HTTP client span, the host and port of its URL; not on the server span', async () => {
    const { client, url } = await servedClient();
    await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'address' });
    expect(clientSpanNamed('tools/call whoami').attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': Number(url.port) });
    const server = serverSpanNamed('tools/call whoami');
    expect(server.attributes['server.address']).toBeUndefined();
    expect(server.attributes['server.port']).toBeUndefined();
  });
});

describe('the MCP duration metrics', () => {
  it('records mcp.client.operation.duration and mcp.server.operation.duration in seconds, with the conventions\' attributes and buckets', async () => {
    const { client, url } = await servedClient();
    await runContext(async () => {
      await client.callTool({ name: 'whoami', arguments: {} });
      await client.callTool({ name: 'fails', arguments: {} });
    }, { runId: 'measured' });
    await tel.collect();
    const clientMetric = tel.metric(METRIC_MCP_CLIENT_OPERATION_DURATION);
    expect(clientMetric?.descriptor.unit).toBe('s');
    const clientPoints = histogramPoints(clientMetric);
    const protocolVersion = clientSpanNamed('tools/call whoami').attributes['mcp.protocol.version'];
    expect(protocolVersion).toBeTypeOf('string');
    const base = { 'mcp.method.name': 'tools/call', 'gen_ai.operation.name': 'execute_tool', 'network.transport': 'tcp' };
    expect(clientPoints.map((p) => p.attributes).sort((a, b) => String(a['gen_ai.tool.name']).localeCompare(String(b['gen_ai.tool.name'])))).toEqual([
      { ...base, 'gen_ai.tool.name': 'fails', 'mcp.protocol.version': protocolVersion, 'server.address': '127.0.0.1', 'server.port': Number(url.port), 'error.type': 'tool_error' },
      { ...base, 'gen_ai.tool.name': 'whoami', 'mcp.protocol.version': protocolVersion, 'server.address': '127.0.0.1', 'server.port': Number(url.port) },
    ]);
    for (const point of clientPoints) {
      expect(point.value.count).toBe(1);
      expect(point.value.sum).toBeGreaterThan(0);
      expect(point.value.sum).toBeLessThan(5);
      expect(point.value.buckets.boundaries).toEqual([...MCP_OPERATION_DURATION_BUCKETS]);
    }
    const serverPoints = histogramPoints(tel.metric(METRIC_MCP_SERVER_OPERATION_DURATION));
    expect(serverPoints.map((p) => p.attributes).sort((a, b) => String(a['gen_ai.tool.name']).localeCompare(String(b['gen_ai.tool.name'])))).toEqual([
      { ...base, 'gen_ai.tool.name': 'fails', 'error.type': 'tool_error' },
      { ...base, 'gen_ai.tool.name': 'whoami' },
    ]);
    expect(serverPoints[0]!.value.buckets.boundaries).toEqual([...MCP_OPERATION_DURATION_BUCKETS]);
  });

  it('a JSON-RPC error is measured with error.type and rpc.response.status_code, on both sides', async () => {
    const { client } = await servedClient(makeStrictMcpServer);
    await runContext(() => rejection(client.callTool({ name: 'forecast', arguments: {} })), { runId: 'measured-error' });
    await tel.collect();
    for (const name of [METRIC_MCP_CLIENT_OPERATION_DURATION, METRIC_MCP_SERVER_OPERATION_DURATION]) {
      const points = histogramPoints(tel.metric(name));
      expect(points, name).toHaveLength(1);
      expect(points[0]!.attributes, name).toMatchObject({ 'gen_ai.tool.name': 'forecast', 'error.type': '-32602', 'rpc.response.status_code': '-32602' });
    }
  });

  it('a resource read is an MCP operation, not an execute_tool one: no gen_ai.client.operation.duration for it', async () => {
    const client = await connectedClient();
    await runContext(async () => {
      await client.readResource({ uri: 'file:///readme.txt' });
      await client.callTool({ name: 'whoami', arguments: {} });
    }, { runId: 'read-and-call' });
    await tel.collect();
    const genAi = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION));
    // The tools/call, once on each side; the resource read not at all.
    expect(genAi.map((p) => p.attributes['gen_ai.operation.name'])).toEqual(['execute_tool']);
    expect(genAi[0]!.value.count).toBe(2);
    const mcp = histogramPoints(tel.metric(METRIC_MCP_CLIENT_OPERATION_DURATION));
    const read = mcp.find((p) => p.attributes['mcp.method.name'] === 'resources/read');
    expect(read?.value.count).toBe(1);
    expect(read?.attributes['gen_ai.operation.name']).toBeUndefined();
    // The resource uri is opt-in in the conventions, and one series per resource: not on the metric.
    expect(read?.attributes['mcp.resource.uri']).toBeUndefined();
  });
});
