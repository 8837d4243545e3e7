// agentbus/mcp through the OpenTelemetry bridge: client and server in one
// process over Streamable HTTP on 127.0.0.1. The client's tool span is a
// CLIENT span `tools/call <tool>` with the MCP attributes; the server's is a
// SERVER span of the same trace, whose parent is the client's span.
// (A server in a child process over stdio would need an exporter in the
// child to be checked; the stdio link itself is checked in mcp.test.ts.)
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetEventBus, runContext } from '../src/index.js';
import { instrumentMcpClient } from '../src/mcp/index.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/bridge.js';
import { makeMcpServer, type Whoami } from './fixtures/mcp-server.js';

function whoami(result: unknown): Whoami {
  return JSON.parse((result as { content: Array<{ text: string }> }).content[0]?.text ?? '') as Whoami;
}
import { byName, makeTelemetry, parentOf, type Telemetry, useAsyncContextManager } from './otel-harness.js';

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

async function connectedClient(): Promise<Client> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? transports.get(id) : undefined;
    if (transport === undefined) {
      const created = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void transports.set(sid, created) });
      transport = created;
      await makeMcpServer('before').connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = instrumentMcpClient(new Client({ name: 'otel-client', version: '0' }));
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`)));
  cleanups.push(async () => {
    await client.close();
    for (const t of transports.values()) await t.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  return client;
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

  it('a resource read is a `resources/read` CLIENT span with the uri as an attribute, not an execute_tool span', async () => {
    const client = await connectedClient();
    await runContext(() => client.readResource({ uri: 'file:///readme.txt' }), { runId: 'reading' });
    const span = byName(tel.spans(), 'resources/read');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toMatchObject({ 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///readme.txt' });
    expect(span.attributes['gen_ai.operation.name']).toBeUndefined();
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
