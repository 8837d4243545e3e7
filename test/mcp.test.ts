// agentbus/mcp over real transports: an MCP server in a child process over
// stdio, and one in this process over Streamable HTTP on 127.0.0.1. A tool
// call made inside a run is a step on the client's bus; the server's run is
// the child run of that step; errors, aborts and a dying server close the
// step once and reach the caller as they would without instrumentation.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode, McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { currentRunId, EventBus, getEventBus, parseStreamEvent, resetEventBus, runContext, type StreamEvent } from '../src/index.js';
import { instrumentMcpClient, instrumentMcpServer, uninstrumentMcpClient } from '../src/mcp/index.js';
import { makeMcpServer, type Whoami } from './fixtures/mcp-server.js';
import { makeStrictMcpServer, rejection, serveMcpOverHttp } from './mcp-harness.js';
import { mcpErrorType } from '../src/mcp/steps.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = join(root, 'test', 'fixtures', 'mcp-server.ts');

const cleanups: Array<() => Promise<unknown> | unknown> = [];
beforeEach(() => {
  resetEventBus({});
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every JSON-RPC message a client transport sends, as it leaves (a tap, the message goes on unchanged). */
function tapSent(transport: Transport): JSONRPCMessage[] {
  const sent: JSONRPCMessage[] = [];
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    sent.push(structuredClone(message));
    return send(message, options);
  };
  return sent;
}

async function stdioClient(options: { instrument?: boolean; env?: Record<string, string> } = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', fixture],
    cwd: root,
    env: { ...(process.env as Record<string, string>), ...options.env },
    stderr: 'pipe',
  });
  const sent = tapSent(transport);
  const client = new Client({ name: 'test-client', version: '0.0.1' });
  if (options.instrument !== false) instrumentMcpClient(client);
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, sent };
}

/** A Streamable HTTP MCP server on 127.0.0.1: one McpServer per session. */
async function httpServer(instrument: 'before' | 'after' | 'none' = 'before') {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const received: Array<{ headers: IncomingMessage['headers']; body: unknown }> = [];
  const http: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
    received.push({ headers: req.headers, body });
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (transport === undefined) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, transport as StreamableHTTPServerTransport),
      });
      await makeMcpServer(instrument).connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  cleanups.push(async () => {
    for (const t of transports.values()) await t.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  return { url, received };
}

async function httpClient(url: URL, instrument = true) {
  const transport = new StreamableHTTPClientTransport(url);
  const sent = tapSent(transport);
  const client = new Client({ name: 'test-client', version: '0.0.1' });
  if (instrument) instrumentMcpClient(client);
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, sent };
}

function whoami(result: unknown): Whoami {
  const text = (result as { content: Array<{ text: string }> }).content[0]?.text ?? '';
  return JSON.parse(text) as Whoami;
}

function toolEvents(runId: string): StreamEvent[] {
  return getEventBus().history(runId).filter((e) => e.eventType.startsWith('agent.tool.'));
}

/** What a caller can see of an MCP error: its class, code, message, data. */
function shapeOf(error: unknown) {
  const e = error as { constructor: { name: string }; code?: unknown; message?: unknown; data?: unknown };
  return { class: e.constructor.name, code: e.code, message: e.message, data: e.data };
}

describe('a tool call over stdio to a server in a child process', () => {
  it('is a tool step on the client bus, with the MCP details, and the server run is its child run', async () => {
    const { client, transport } = await stdioClient();
    const result = await runContext(() => client.callTool({ name: 'whoami', arguments: { note: 'hi' } }), { runId: 'client-run' });
    const [started, completed] = toolEvents('client-run');
    expect(started?.eventType).toBe('agent.tool.started');
    expect(started?.data).toMatchObject({
      toolName: 'whoami',
      argKeys: ['note'],
      mcp: { method: 'tools/call', side: 'client', serverName: 'fixture-server', serverVersion: '1.2.3', transport: 'pipe' },
    });
    expect((started?.data as { args?: unknown }).args).toBeUndefined();
    expect(completed?.eventType).toBe('agent.tool.completed');
    expect(completed?.spanId).toBe(started?.spanId);
    expect(completed?.data).toMatchObject({ toolName: 'whoami', success: true });
    expect(toolEvents('client-run')).toHaveLength(2);

    const server = whoami(result);
    expect(server.runId).not.toBe('client-run');
    expect(server.runStarted).toMatchObject({ name: 'mcp tools/call', parentRunId: 'client-run', parentSpanId: started?.spanId });
    expect(server.toolStarted?.data).toMatchObject({ toolName: 'whoami', mcp: { method: 'tools/call', side: 'server' } });
    // The link went in _meta (SEP-414), baggage naming the client run and step.
    expect(server.meta?.['baggage']).toBe(`agentbus.run_id=client-run,agentbus.span_id=${started?.spanId}`);
    expect(transport.pid).toBeTypeOf('number');
  });

  it('puts the arguments into the step only when the run captures content', async () => {
    const { client } = await stdioClient();
    await runContext(() => client.callTool({ name: 'whoami', arguments: { note: 'secret' } }), { runId: 'capturing', captureContent: true });
    expect(toolEvents('capturing')[0]?.data).toMatchObject({ args: { note: 'secret' } });
  });

  it('a resource read is a step named after its uri', async () => {
    const { client } = await stdioClient();
    const result = await runContext(() => client.readResource({ uri: 'file:///readme.txt' }), { runId: 'reads' });
    expect(result.contents[0]).toMatchObject({ text: 'hello from the resource' });
    const [started, completed] = toolEvents('reads');
    expect(started?.data).toMatchObject({ toolName: 'resources/read file:///readme.txt', mcp: { method: 'resources/read', resourceUri: 'file:///readme.txt' } });
    expect(completed?.data).toMatchObject({ success: true, outputPreview: 'hello from the resource' });
  });

  it('a server killed mid-call closes the step once with the error the caller gets, the same as without instrumentation', async () => {
    const outcomes = [];
    for (const instrument of [false, true]) {
      const { client, transport } = await stdioClient({ instrument });
      const error = await runContext(async () => {
        const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } });
        await new Promise((resolve) => setTimeout(resolve, 300));
        process.kill(transport.pid as number, 'SIGKILL');
        return rejection(call);
      }, { runId: `killed-${instrument}` });
      expect(error).toBeInstanceOf(McpError);
      outcomes.push(shapeOf(error));
      const events = toolEvents(`killed-${instrument}`);
      if (instrument) {
        expect(events.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
        expect(events[1]?.data).toMatchObject({ success: false, error: `McpError: ${(error as Error).message}` });
      } else {
        expect(events).toEqual([]);
      }
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

describe('a tool call over Streamable HTTP on 127.0.0.1', () => {
  it('a resource read is a step of the server run too, named as the client names it; an unknown resource closes it with -32602', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const serverSteps = (parentRunId: string) => {
      const bus = getEventBus();
      const run = bus.runIds().find((id) => (bus.history(id)[0]?.data as { parentRunId?: string }).parentRunId === parentRunId);
      return run === undefined ? [] : bus.history(run).filter((e) => e.eventType.startsWith('agent.tool.'));
    };
    await runContext(() => client.readResource({ uri: 'file:///readme.txt' }), { runId: 'read-http' });
    const [started, completed] = serverSteps('read-http');
    expect(started?.data).toMatchObject({
      toolName: 'resources/read file:///readme.txt',
      mcp: { method: 'resources/read', side: 'server', resourceUri: 'file:///readme.txt', transport: 'tcp' },
    });
    expect(completed?.data).toMatchObject({ success: true, outputPreview: 'hello from the resource' });

    await runContext(() => rejection(client.readResource({ uri: 'file:///missing.txt' })), { runId: 'read-missing' });
    const [, failed] = serverSteps('read-missing');
    expect(failed?.data).toMatchObject({ success: false, errorType: String(ErrorCode.InvalidParams) });
  });

  it('is a tool step with the session id, and the server run is its child run', async () => {
    const { url } = await httpServer();
    const { client, transport } = await httpClient(url);
    const result = await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'http-run' });
    const [started, completed] = toolEvents('http-run');
    expect(transport.sessionId).toBeTypeOf('string');
    expect(started?.data).toMatchObject({
      toolName: 'whoami',
      mcp: { method: 'tools/call', side: 'client', serverName: 'fixture-server', sessionId: transport.sessionId, transport: 'tcp' },
    });
    expect((started?.data as { mcp: { protocolVersion?: unknown } }).mcp.protocolVersion).toBeTypeOf('string');
    expect(completed?.data).toMatchObject({ success: true });
    const server = whoami(result);
    expect(server.runStarted).toMatchObject({ parentRunId: 'http-run', parentSpanId: started?.spanId });
    expect(server.toolStarted?.data).toMatchObject({ mcp: { side: 'server', sessionId: transport.sessionId, transport: 'tcp' } });
  });

  it('covers tools registered before the server was instrumented', async () => {
    const { url } = await httpServer('after');
    const { client } = await httpClient(url);
    const result = await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'late' });
    expect(whoami(result).runStarted).toMatchObject({ parentRunId: 'late', parentSpanId: toolEvents('late')[0]?.spanId });
  });

  it('a server without instrumentation still gets the link, and runs no run', async () => {
    const { url } = await httpServer('none');
    const { client } = await httpClient(url);
    const result = await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'plain' });
    const server = whoami(result);
    expect(server.runId).toBeUndefined();
    expect(server.meta?.['baggage']).toMatch(/^agentbus\.run_id=plain,agentbus\.span_id=/);
  });

  it('the server reads the link from the HTTP headers when _meta has none', async () => {
    const { url } = await httpServer();
    // An uninstrumented client whose HTTP requests carry the link as headers, as injectRunLink writes them.
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { baggage: 'agentbus.run_id=from-headers,agentbus.span_id=step-1' } },
    });
    const client = new Client({ name: 'plain', version: '0' });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const server = whoami(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(server.runStarted).toMatchObject({ parentRunId: 'from-headers', parentSpanId: 'step-1' });
  });

  it('a server request outside any link is a run of its own', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url, false);
    const server = whoami(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(server.runId).toBeTypeOf('string');
    expect(server.runStarted?.['parentRunId']).toBeUndefined();
  });
});

describe('failures reach the caller as without instrumentation, and close the step once', () => {
  it('an isError result: the same result, a failed step with its text', async () => {
    const { url } = await httpServer();
    const plain = await httpClient(url, false);
    const instrumented = await httpClient(url);
    const expected = await plain.client.callTool({ name: 'fails', arguments: {} });
    const got = await runContext(() => instrumented.client.callTool({ name: 'fails', arguments: {} }), { runId: 'is-error' });
    expect(got).toEqual(expected);
    const [, completed] = toolEvents('is-error');
    expect(completed?.data).toMatchObject({ success: false, error: 'no forecast for Atlantis' });
    expect(toolEvents('is-error')).toHaveLength(2);
  });

  it('a tool that throws: the SDK result, a failed step on both sides', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const result = await runContext(() => client.callTool({ name: 'throws', arguments: {} }), { runId: 'throws' });
    expect(result).toMatchObject({ isError: true });
    expect(toolEvents('throws')[1]?.data).toMatchObject({ success: false, error: 'the tool broke' });
  });

  it('a JSON-RPC error: the same error, the step closed once with it', async () => {
    const { url } = await httpServer();
    const plain = await httpClient(url, false);
    const instrumented = await httpClient(url);
    const expected = await rejection(plain.client.readResource({ uri: 'file:///missing.txt' }));
    const got = await runContext(() => rejection(instrumented.client.readResource({ uri: 'file:///missing.txt' })), { runId: 'rpc-error' });
    expect(got).toBeInstanceOf(McpError);
    expect(shapeOf(got)).toEqual(shapeOf(expected));
    const events = toolEvents('rpc-error');
    expect(events.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
    expect(events[1]?.data).toMatchObject({ success: false, error: `McpError: ${(got as Error).message}` });
  });

  it('gives the failed step an errorType: tool_error for an isError result, the JSON-RPC error code for a JSON-RPC error', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    await runContext(() => client.callTool({ name: 'fails', arguments: {} }), { runId: 'is-error-type' });
    expect(toolEvents('is-error-type')[1]?.data).toMatchObject({ success: false, errorType: 'tool_error' });
    const error = await runContext(() => rejection(client.readResource({ uri: 'file:///missing.txt' })), { runId: 'rpc-error-type' });
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    expect(toolEvents('rpc-error-type')[1]?.data).toMatchObject({ success: false, errorType: '-32602' });
  });

  it('an aborted call: the same error, notifications/cancelled sent, the step closed once', async () => {
    const { url } = await httpServer();
    const outcomes = [];
    for (const instrument of [false, true]) {
      const { client, sent } = await httpClient(url, instrument);
      const controller = new AbortController();
      const error = await runContext(async () => {
        const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { signal: controller.signal });
        setTimeout(() => controller.abort(new Error('user gave up')), 100);
        return rejection(call);
      }, { runId: `abort-${instrument}` });
      outcomes.push(shapeOf(error));
      expect(sent.some((m) => 'method' in m && m.method === 'notifications/cancelled')).toBe(true);
      const events = toolEvents(`abort-${instrument}`);
      expect(events.map((e) => e.eventType)).toEqual(instrument ? ['agent.tool.started', 'agent.tool.completed'] : []);
      if (instrument) expect(events[1]?.data).toMatchObject({ success: false, error: expect.stringContaining('user gave up') });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

describe('a JSON-RPC error is its code, on both sides', () => {
  /** The server's tool steps, as the server's runs record them (in this process: the same bus). */
  function serverToolEvents(): StreamEvent[] {
    const seen: StreamEvent[] = [];
    const remove = getEventBus().addListener({
      onEvent: (event) => {
        if (!event.eventType.startsWith('agent.tool.')) return;
        const started = seen.find((e) => e.spanId === event.spanId);
        if ((event.data as { mcp?: { side?: string } }).mcp?.side === 'server' || started !== undefined) seen.push(event);
      },
    });
    cleanups.push(remove);
    return seen;
  }

  async function strictClient() {
    const served = await serveMcpOverHttp(makeStrictMcpServer);
    cleanups.push(() => served.close());
    return httpClient(served.url);
  }

  it('mcpErrorType: the code of an McpError or a subclass; the class of anything else, a DOMException with its numeric code too', () => {
    expect(mcpErrorType(new McpError(ErrorCode.InvalidParams, 'bad'))).toBe('-32602');
    expect(mcpErrorType(new McpError(ErrorCode.RequestTimeout, 'late'))).toBe('-32001');
    expect(mcpErrorType(new UrlElicitationRequiredError([]))).toBe(String(ErrorCode.UrlElicitationRequired));
    expect(mcpErrorType(new DOMException('stop', 'AbortError'))).toBe('AbortError');
    expect(mcpErrorType(Object.assign(new TypeError('fetch failed'), { code: 7 }))).toBe('TypeError');
    expect(mcpErrorType({ code: -32602, message: 'an object, not an Error' })).toBeUndefined();
    expect(mcpErrorType('MCP error -32602')).toBeUndefined();
  });

  it('a tool call with arguments the server rejects (-32602): the same error, errorType -32602 on the client and the server step', async () => {
    const server = serverToolEvents();
    const { client } = await strictClient();
    const error = await runContext(() => rejection(client.callTool({ name: 'forecast', arguments: { town: 'Paris' } })), { runId: 'bad-args' });
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    const events = toolEvents('bad-args');
    expect(events.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
    expect(events[1]?.data).toMatchObject({ success: false, errorType: '-32602', error: `McpError: ${(error as Error).message}` });
    expect(server.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
    expect(server[1]?.data).toMatchObject({ toolName: 'forecast', success: false, errorType: '-32602' });
    // And a good call still succeeds, with no errorType.
    await runContext(() => client.callTool({ name: 'forecast', arguments: { city: 'Paris' } }), { runId: 'good-args' });
    expect(toolEvents('good-args')[1]?.data).toMatchObject({ success: true });
    expect((toolEvents('good-args')[1]?.data as { errorType?: unknown }).errorType).toBeUndefined();
  });

  it('an unknown tool on a server that answers it with a JSON-RPC error: -32602 on both sides', async () => {
    const server = serverToolEvents();
    const { client } = await strictClient();
    await runContext(() => rejection(client.callTool({ name: 'no_such_tool', arguments: {} })), { runId: 'unknown-tool' });
    expect(toolEvents('unknown-tool')[1]?.data).toMatchObject({ toolName: 'no_such_tool', success: false, errorType: '-32602' });
    expect(server[1]?.data).toMatchObject({ toolName: 'no_such_tool', success: false, errorType: '-32602' });
  });

  it('an McpServer answers bad arguments and unknown tools with isError results, not JSON-RPC errors: tool_error', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const badArgs = await runContext(() => client.callTool({ name: 'slow', arguments: { ms: 'soon' } }), { runId: 'mcpserver-bad-args' });
    expect(badArgs).toMatchObject({ isError: true });
    expect(toolEvents('mcpserver-bad-args')[1]?.data).toMatchObject({ success: false, errorType: 'tool_error' });
    const unknown = await runContext(() => client.callTool({ name: 'no_such_tool', arguments: {} }), { runId: 'mcpserver-unknown' });
    expect(unknown).toMatchObject({ isError: true });
    expect(toolEvents('mcpserver-unknown')[1]?.data).toMatchObject({ success: false, errorType: 'tool_error' });
  });

  it('a method the server does not handle: -32601', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const error = await runContext(() => rejection(client.getPrompt({ name: 'greeting' })), { runId: 'no-prompts' });
    expect((error as McpError).code).toBe(ErrorCode.MethodNotFound);
    expect(toolEvents('no-prompts')[1]?.data).toMatchObject({ toolName: 'prompts/get greeting', success: false, errorType: '-32601' });
  });

  it('a request that times out (the request option timeout): -32001, the same error as without instrumentation', async () => {
    const { url } = await httpServer();
    const outcomes = [];
    for (const instrument of [false, true]) {
      const { client } = await httpClient(url, instrument);
      const error = await runContext(
        () => rejection(client.callTool({ name: 'slow', arguments: { ms: 5_000 } }, undefined, { timeout: 50 })),
        { runId: `timeout-${instrument}` },
      );
      expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
      outcomes.push(shapeOf(error));
      if (instrument) expect(toolEvents('timeout-true')[1]?.data).toMatchObject({ success: false, errorType: '-32001' });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('an abort keeps its error class, though the SDK gives it the code of a timeout: no code came back', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const controller = new AbortController();
    const error = await runContext(async () => {
      const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('user gave up')), 50);
      return rejection(call);
    }, { runId: 'aborted-type' });
    // The SDK rejects an aborted request with McpError(-32001), as a timed-out one.
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    expect(toolEvents('aborted-type')[1]?.data).toMatchObject({ success: false, errorType: 'McpError' });
  });
});

describe('the server address', () => {
  it('is on a Streamable HTTP client step: the host and port of the transport URL', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'address' });
    expect(toolEvents('address')[0]?.data).toMatchObject({ mcp: { serverAddress: '127.0.0.1', serverPort: Number(url.port) } });
  });

  it('is not on a stdio client step, nor on a server step', async () => {
    const { client } = await stdioClient();
    const result = await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'no-address' });
    const mcp = (toolEvents('no-address')[0]?.data as { mcp: Record<string, unknown> }).mcp;
    expect(mcp['transport']).toBe('pipe');
    expect(mcp['serverAddress']).toBeUndefined();
    expect(mcp['serverPort']).toBeUndefined();
    const serverMcp = (whoami(result).toolStarted?.data as { mcp: Record<string, unknown> }).mcp;
    expect(serverMcp['serverAddress']).toBeUndefined();
  });

  it('the started event with it passes the catalogue', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    await runContext(() => client.callTool({ name: 'whoami', arguments: {} }), { runId: 'address-valid' });
    const started = toolEvents('address-valid')[0]!;
    expect(parseStreamEvent(JSON.parse(JSON.stringify(started))).data).toMatchObject({ mcp: { serverAddress: '127.0.0.1' } });
  });
});

describe('instrumentMcpServer with a bus', () => {
  it("records the server's runs on the given bus, not the process bus, still the child runs of the client's steps", async () => {
    const bus = new EventBus();
    const server = instrumentMcpServer(new McpServer({ name: 'own-bus', version: '1.0.0' }), { bus });
    const runIds: Array<string | undefined> = [];
    server.registerTool('where', { inputSchema: { note: z.string().optional() } }, () => {
      runIds.push(currentRunId());
      return { content: [{ type: 'text', text: 'here' }] };
    });
    const client = instrumentMcpClient(new Client({ name: 'c', version: '0' }));
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
    cleanups.push(() => client.close());
    await runContext(() => client.callTool({ name: 'where', arguments: {} }), { runId: 'on-process-bus' });
    const serverRunId = runIds[0];
    expect(serverRunId).toBeTypeOf('string');
    const serverEvents = bus.history(serverRunId!);
    expect(serverEvents.map((e) => e.eventType)).toEqual(['run.started', 'agent.tool.started', 'agent.tool.completed', 'run.completed']);
    const clientStep = toolEvents('on-process-bus')[0];
    expect(serverEvents[0]?.data).toMatchObject({ parentRunId: 'on-process-bus', parentSpanId: clientStep?.spanId });
    expect(getEventBus().history(serverRunId!)).toEqual([]);
    expect(bus.history('on-process-bus')).toEqual([]);
  });

  it('rejects a bus that is not an EventBus, naming what it expected', () => {
    expect(() => instrumentMcpServer(makeMcpServer('none'), { bus: {} as never })).toThrow(/options\.bus must be an EventBus/);
  });
});

describe('the request sent', () => {
  it("keeps the caller's _meta keys and does not touch the caller's params", async () => {
    const { url } = await httpServer();
    const { client, sent } = await httpClient(url);
    const params = {
      name: 'whoami',
      arguments: {},
      _meta: { 'example.com/tenant': 'acme', baggage: 'userId=alice', progressToken: 'p-1' },
    };
    const frozen = structuredClone(params);
    const result = await runContext(() => client.callTool(params), { runId: 'meta' });
    expect(params).toEqual(frozen);
    const meta = whoami(result).meta ?? {};
    expect(meta).toMatchObject({ 'example.com/tenant': 'acme', progressToken: 'p-1' });
    const spanId = toolEvents('meta')[0]?.spanId;
    expect(meta['baggage']).toBe(`agentbus.run_id=meta,agentbus.span_id=${spanId},userId=alice`);
    const call = sent.find((m) => 'method' in m && m.method === 'tools/call') as { params: { _meta: Record<string, unknown> } };
    expect(call.params._meta['example.com/tenant']).toBe('acme');
  });

  it('outside a run is the very request an uninstrumented client sends', async () => {
    const { url } = await httpServer();
    const plain = await httpClient(url, false);
    const instrumented = await httpClient(url);
    const request = () => ({ name: 'whoami', arguments: { note: 'x' }, _meta: { 'example.com/k': 'v' } });
    await plain.client.callTool(request());
    await instrumented.client.callTool(request());
    const calls = (sent: JSONRPCMessage[]) => sent.filter((m) => 'method' in m && m.method === 'tools/call');
    expect(calls(instrumented.sent)).toEqual(calls(plain.sent));
    expect(calls(plain.sent)).toHaveLength(1);
  });

  it('outside a run passes the caller’s own params object to the SDK', async () => {
    const { url } = await httpServer();
    const { client } = await httpClient(url);
    const seen: unknown[] = [];
    const wrapped = client.request;
    uninstrumentMcpClient(client);
    const sdkRequest = client.request;
    client.request = function (this: Client, ...args: Parameters<Client['request']>) {
      seen.push(args[0]);
      return sdkRequest.apply(this, args);
    } as Client['request'];
    instrumentMcpClient(client);
    expect(client.request).not.toBe(wrapped);
    const request = { method: 'tools/call' as const, params: { name: 'whoami', arguments: {} } };
    const { CallToolResultSchema } = await import('@modelcontextprotocol/sdk/types.js');
    await client.request(request, CallToolResultSchema);
    expect(seen[0]).toBe(request);
  });
});

describe('instrumenting', () => {
  it('is idempotent on both sides, and undone on the client by uninstrumentMcpClient', async () => {
    const client = new Client({ name: 'c', version: '0' });
    const request = client.request;
    expect(instrumentMcpClient(client)).toBe(client);
    const once = client.request;
    instrumentMcpClient(client);
    expect(client.request).toBe(once);
    uninstrumentMcpClient(client);
    expect(client.request).toBe(request);
    expect(Object.hasOwn(client, 'request')).toBe(false);
    const server = makeMcpServer('none');
    const set = server.server.setRequestHandler;
    instrumentMcpServer(server);
    const wrapped = server.server.setRequestHandler;
    expect(wrapped).not.toBe(set);
    instrumentMcpServer(server);
    expect(server.server.setRequestHandler).toBe(wrapped);
  });

  it('rejects what is no MCP server, naming what it expected', () => {
    expect(() => instrumentMcpServer({} as never)).toThrow(/expected an MCP Server \(with setRequestHandler\) or an McpServer/);
  });
});

describe('the agentbus/mcp module', () => {
  it('loads no MCP SDK code: its sources import nothing from @modelcontextprotocol/sdk', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const dir = join(root, 'src', 'mcp');
    for (const file of await readdir(dir)) {
      const text = await readFile(join(dir, file), 'utf8');
      expect(text, file).not.toMatch(/from '@modelcontextprotocol|import\('@modelcontextprotocol/);
    }
  });
});
