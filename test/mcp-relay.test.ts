// The relay of a server's runs to the calling client (agentbus/mcp, `relay`
// on both sides), over real transports: a server in a child process over
// stdio, and one on Streamable HTTP on 127.0.0.1 with a bus of its own. The
// client's bus shows the server's run live, as the child run of the calling
// step, inside that step; a server that lies gets nothing in.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus, getEventBus, resetEventBus, runContext, traceTool, type StreamEvent } from '../src/index.js';
import { instrumentMcpClient, uninstrumentMcpClient } from '../src/mcp/index.js';
import { instrumentOtel } from '../src/otel/index.js';
import { FORGERIES, makeRelayServer } from './fixtures/mcp-relay-server.js';
import { rejection, serveMcpOverHttp } from './mcp-harness.js';
import { makeTelemetry } from './otel-harness.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = join(root, 'test', 'fixtures', 'mcp-relay-server.ts');

const cleanups: Array<() => Promise<unknown> | unknown> = [];
let errors: Array<{ message: string; event: unknown }>;
beforeEach(() => {
  errors = [];
  resetEventBus({ onError: (error, event) => void errors.push({ message: (error as Error).message, event }) });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every event the process bus publishes, in order, across runs. */
function record(): StreamEvent[] {
  const seen: StreamEvent[] = [];
  cleanups.push(getEventBus().addListener({ onEvent: (event) => void seen.push(event) }));
  return seen;
}

async function stdioClient(options: { relay?: boolean; serverRelays?: boolean } = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', fixture],
    cwd: root,
    env: { ...(process.env as Record<string, string>), MCP_FIXTURE_RELAY: options.serverRelays === false ? '0' : '1' },
    stderr: 'pipe',
  });
  const sent: unknown[] = [];
  const tapped: Transport = transport;
  const send = tapped.send.bind(tapped);
  tapped.send = (message, sendOptions) => {
    sent.push(structuredClone(message));
    return send(message, sendOptions);
  };
  const client = instrumentMcpClient(new Client({ name: 'relay-test', version: '0.0.1' }), { relay: options.relay ?? true });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, sent };
}

/** `eventType` of each event, prefixed with `client`/`server`/`nested` by the run it is in. */
function outline(events: readonly StreamEvent[], runs: Record<string, string>): string[] {
  return events.map((e) => `${runs[e.runId] ?? e.runId} ${e.eventType}${e.eventType.startsWith('agent.tool.') ? ` ${(e.data as { toolName: string }).toolName}` : ''}`);
}

/** The relayed runs the client bus saw, by their `run.started`. */
function relayedRuns(events: readonly StreamEvent[]): StreamEvent[] {
  return events.filter((e) => e.eventType === 'run.started' && (e.data as { relayedFrom?: unknown }).relayedFrom !== undefined);
}

describe('relay over stdio (server in a child process)', () => {
  it("puts the server's run on the client bus as the child run of the step, live, inside the step, with its nested run", async () => {
    const { client } = await stdioClient();
    const seen = record();
    const result = await runContext(() => client.callTool({ name: 'work', arguments: { city: 'Paris' } }), { runId: 'client-run' });
    expect(result.content).toEqual([{ type: 'text', text: 'sunny in Paris' }]);

    const [serverStart, nestedStart] = relayedRuns(seen);
    const step = seen.find((e) => e.eventType === 'agent.tool.started' && e.runId === 'client-run');
    expect(serverStart?.data).toEqual({ name: 'mcp tools/call', parentRunId: 'client-run', parentSpanId: step?.spanId, traceparent: undefined, tracestate: undefined, relayedFrom: 'mcp:relay-server' });
    expect(nestedStart?.data).toMatchObject({ name: 'nested', parentRunId: serverStart?.runId, relayedFrom: 'mcp:relay-server' });
    const runs = { 'client-run': 'client', [serverStart?.runId as string]: 'server', [nestedStart?.runId as string]: 'nested' };
    expect(outline(seen, runs)).toEqual([
      'client run.started',
      'client agent.tool.started work',
      'server run.started',
      'server agent.tool.started work',
      'server agent.tool.started lookup',
      'nested run.started',
      'nested fixture.nested',
      'nested run.completed',
      'server agent.tool.completed lookup',
      'server agent.tool.completed work',
      'server run.completed',
      'client agent.tool.completed work',
      'client run.completed',
    ]);
    // The server's run nests under the client's step, its steps under its own root step.
    const serverSteps = seen.filter((e) => e.runId === serverStart?.runId && e.eventType === 'agent.tool.started');
    expect(serverSteps[1]?.parentSpanId).toBe(serverSteps[0]?.spanId);
    // Closed on the client bus once complete; the bus numbered them as its own.
    const bus = getEventBus();
    expect(bus.isClosed(serverStart?.runId as string)).toBe(true);
    expect(bus.history(serverStart?.runId as string).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors).toEqual([]);
  });

  it("asks with `agentbus/relay` in `_meta` only inside a run and only when told to; a server that does not relay sends nothing", async () => {
    const { client, sent } = await stdioClient({ serverRelays: false });
    const seen = record();
    await client.callTool({ name: 'work', arguments: { city: 'Oslo' } });
    await runContext(() => client.callTool({ name: 'work', arguments: { city: 'Rome' } }), { runId: 'asks' });
    const calls = sent.filter((m) => (m as { method?: string }).method === 'tools/call') as Array<{ params: { _meta?: Record<string, unknown> } }>;
    expect(calls[0]?.params._meta).toBeUndefined();
    const step = seen.find((e) => e.eventType === 'agent.tool.started');
    expect(calls[1]?.params._meta?.['agentbus/relay']).toBe((step?.data as { toolCallId: string }).toolCallId);
    expect(relayedRuns(seen)).toEqual([]);
    expect(errors).toEqual([]);

    const plain = await stdioClient({ relay: false });
    await runContext(() => plain.client.callTool({ name: 'work', arguments: { city: 'Rome' } }));
    const plainCall = plain.sent.find((m) => (m as { method?: string }).method === 'tools/call') as { params: { _meta: Record<string, unknown> } };
    // The link only (no OpenTelemetry here, so no traceparent), no relay key.
    expect(Object.keys(plainCall.params._meta)).toEqual(['baggage']);
  });

  it("keeps a caller's own `agentbus/relay` key, and then relays nothing for that call", async () => {
    const { client, sent } = await stdioClient();
    const seen = record();
    await runContext(() => client.callTool({ name: 'work', arguments: { city: 'Rome' }, _meta: { 'agentbus/relay': 'theirs' } }));
    const call = sent.find((m) => (m as { method?: string }).method === 'tools/call') as { params: { _meta: Record<string, unknown> } };
    expect(call.params._meta['agentbus/relay']).toBe('theirs');
    expect(relayedRuns(seen)).toEqual([]);
    // The server relayed under the caller's token: no call of ours has it.
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.message).toMatch(/^instrumentMcpClient: refused a relayed event with token "theirs", which names no call in flight/);
  });

  it('closes a relayed run once, as an error, when the server is killed mid-call; the caller gets the error it would get anyway', async () => {
    const { client, transport } = await stdioClient();
    const seen = record();
    const error = await runContext(async () => {
      const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(transport.pid as number, 'SIGKILL');
      return rejection(call);
    }, { runId: 'killed' });
    expect((error as { code?: unknown }).code).toBe(-32000);
    const [serverStart] = relayedRuns(seen);
    const serverEvents = seen.filter((e) => e.runId === serverStart?.runId);
    expect(serverEvents.map((e) => e.eventType)).toEqual(['run.started', 'agent.tool.started', 'agent.tool.started', 'run.completed']);
    expect(serverEvents.at(-1)?.data).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^the server's run sent no run\.completed before its MCP call ended: McpError: MCP error -32000: Connection closed/),
      errorType: '-32000',
    });
    // After the server's last word, the client's step closes.
    expect(outline(seen.slice(-3), { killed: 'client', [serverStart?.runId as string]: 'server' })).toEqual([
      'server run.completed',
      'client agent.tool.completed slow',
      'client run.completed',
    ]);
    expect(getEventBus().isClosed(serverStart?.runId as string)).toBe(true);
  });

  it('closes a relayed run as aborted when the caller aborts (the server sends nothing after the cancel)', async () => {
    const { client } = await stdioClient();
    const seen = record();
    const controller = new AbortController();
    await runContext(async () => {
      const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 300));
      controller.abort();
      return rejection(call);
    }, { runId: 'aborted' });
    const [serverStart] = relayedRuns(seen);
    const completed = seen.filter((e) => e.runId === serverStart?.runId && e.eventType === 'run.completed');
    expect(completed).toHaveLength(1);
    // The same error type as the client's step: the SDK's McpError that the abort became.
    const step = seen.find((e) => e.runId === 'aborted' && e.eventType === 'agent.tool.completed');
    expect(step?.data).toMatchObject({ success: false, errorType: 'McpError' });
    expect(completed[0]?.data).toMatchObject({ status: 'aborted', errorType: 'McpError' });
  });

  describe('a server that lies', () => {
    // What the client says, in order (the last pattern for every later refusal).
    const expected: Record<(typeof FORGERIES)[number], RegExp | RegExp[]> = {
      'wrong-token': /refused a relayed event with token "not-the-token", which names no call in flight/,
      'no-params': /refused a relayed event with no token/,
      malformed: /refused a relayed event from mcp:relay-server: invalid stream event: eventId: /,
      'bad-payload': /refused a relayed event from mcp:relay-server: invalid stream event: data\.argKeys: /,
      'callers-run': [
        /refused a relayed event from mcp:relay-server: run callers-run already exists on this bus/,
        /refused a relayed event from mcp:relay-server: agent\.tool\.started of run callers-run, which did not start in this call/,
      ],
      'orphan-run': /refused a relayed event from mcp:relay-server: run orphan-run is neither the child run of the calling step/,
      'not-started': /refused a relayed event from mcp:relay-server: fixture\.forged of run never-started, which did not start in this call/,
      'after-completed': /refused a relayed event from mcp:relay-server: fixture\.forged of run [0-9a-f-]{36} after its run\.completed/,
      'named-run': /refused a relayed event from mcp:relay-server: run session-42 is not a random UUID/,
      'many-runs': /refused a relayed event from mcp:relay-server: more than 64 runs in one call/,
      flood: /refused a relayed event from mcp:relay-server: more than 10000 events in one call/,
      late: /refused a relayed event with token "[^"]+", which names no call in flight \(late, or never asked for\)/,
    };

    for (const how of FORGERIES) {
      it(`gets nothing in by ${how}: refused with a precise error, and the call and the caller's run go on`, async () => {
        const { client } = await stdioClient();
        const seen = record();
        const result = await runContext(() => client.callTool({ name: 'forge', arguments: { how } }), { runId: 'callers-run' });
        expect(result.content).toEqual([{ type: 'text', text: `forged: ${how}` }]);
        if (how === 'late') await new Promise((resolve) => setTimeout(resolve, 500));
        expect(errors.length).toBeGreaterThan(0);
        const patterns = [expected[how]].flat();
        errors.forEach(({ message }, i) => expect(message).toMatch(patterns[Math.min(i, patterns.length - 1)] as RegExp));
        if (how === 'callers-run') expect(errors).toHaveLength(2);
        // The caller's run holds only its own events; no forged run is on the bus.
        expect(getEventBus().history('callers-run').map((e) => e.eventType)).toEqual(['run.started', 'agent.tool.started', 'agent.tool.completed', 'run.completed']);
        for (const runId of ['orphan-run', 'never-started', 'session-42']) expect(getEventBus().hasRun(runId)).toBe(false);
        const relayed = relayedRuns(seen);
        if (how === 'after-completed') {
          expect(relayed.map((e) => (e.data as { parentRunId: string }).parentRunId)).toEqual(['callers-run', relayed[0]?.runId]);
        } else if (how === 'many-runs') {
          expect(relayed).toHaveLength(64);
          expect(errors).toHaveLength(70 - 63);
          // Every relayed run is closed when the call ends: those that never completed, with a run.completed saying so.
          for (const start of relayed.slice(1)) {
            expect(getEventBus().isClosed(start.runId)).toBe(true);
            const end = getEventBus().history(start.runId).at(-1);
            expect([end?.eventType, end?.data]).toEqual(['run.completed', { status: 'ok', durationMs: expect.any(Number) }]);
          }
        } else {
          expect(relayed).toHaveLength(1);
        }
        if (how === 'flood') {
          // Four events of the server's own (its run and its step), then the flood: the bound is per call.
          expect(errors.length).toBe(4 + 10_050 - 10_000);
          expect(getEventBus().history(relayed[0]?.runId as string).length).toBe(500);
        }
      });
    }
  });
});

describe('relay over Streamable HTTP on 127.0.0.1', () => {
  it("puts the server's run, recorded on the server's own bus, on the client bus as the child run of the step", async () => {
    const serverBus = new EventBus();
    const service = await serveMcpOverHttp(() => makeRelayServer(serverBus));
    cleanups.push(() => service.close());
    const client = instrumentMcpClient(new Client({ name: 'relay-test', version: '0.0.1' }), { relay: true });
    await client.connect(new StreamableHTTPClientTransport(service.url));
    cleanups.push(() => client.close());
    const seen = record();
    await runContext(() => client.callTool({ name: 'work', arguments: { city: 'Lima' } }), { runId: 'http-run' });
    const [serverStart, nestedStart] = relayedRuns(seen);
    expect(serverStart?.data).toMatchObject({ parentRunId: 'http-run', relayedFrom: 'mcp:relay-server' });
    expect(nestedStart?.data).toMatchObject({ parentRunId: serverStart?.runId });
    // The same events as the server recorded, in the same order.
    const strip = (events: readonly StreamEvent[]) => events.map(({ eventType, spanId, parentSpanId, timestamp }) => ({ eventType, spanId, parentSpanId, timestamp }));
    expect(strip(getEventBus().history(serverStart?.runId as string))).toEqual(strip(serverBus.history(serverStart?.runId as string)));
    expect(getEventBus().history(serverStart?.runId as string)).toHaveLength(6);
    expect(errors).toEqual([]);
  });
});

describe('relay and the client process', () => {
  it('the OpenTelemetry bridge of the client makes no spans or token metrics of a relayed run (the server exports its own)', async () => {
    const telemetry = makeTelemetry();
    const bridge = instrumentOtel({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });
    cleanups.push(() => bridge.shutdown());
    const bus = getEventBus();
    await runContext(async () => {
      await traceTool({ name: 'local' }, () => 'done');
      bus.publish({ eventId: '', seq: 0, runId: 'relayed-run', eventType: 'run.started', timestamp: Date.now(), data: { relayedFrom: 'mcp:elsewhere' } });
      bus.publish({ eventId: '', seq: 0, runId: 'relayed-run', eventType: 'agent.tool.started', timestamp: Date.now(), spanId: 's1', data: { toolName: 't', toolCallId: 'c', argKeys: [] } });
      bus.publish({ eventId: '', seq: 0, runId: 'relayed-run', eventType: 'agent.tokens.used', timestamp: Date.now(), spanId: 's1', data: { inputTokens: 5, outputTokens: 7, totalTokens: 12, model: 'm', provider: 'p' } });
      bus.publish({ eventId: '', seq: 0, runId: 'relayed-run', eventType: 'agent.tool.completed', timestamp: Date.now(), spanId: 's1', data: { toolName: 't', toolCallId: 'c', success: true, durationMs: 1 } });
      bus.publish({ eventId: '', seq: 0, runId: 'relayed-run', eventType: 'run.completed', timestamp: Date.now(), data: { status: 'ok', durationMs: 1 } });
    }, { runId: 'local-run' });
    expect(new Set(telemetry.spans().map((s) => s.attributes['agentbus.run.id']))).toEqual(new Set(['local-run']));
    expect(telemetry.spans().map((s) => s.name)).not.toContain('execute_tool t');
    await telemetry.collect();
    expect(telemetry.metric('gen_ai.client.token.usage')).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('instrumenting a client with relay that takes no notification handlers is a TypeError at the call; uninstrumenting removes the handler', async () => {
    expect(() => instrumentMcpClient({ request: async () => ({}) } as never, { relay: true })).toThrow(
      /^instrumentMcpClient: relay needs a client that takes notification handlers/,
    );
    const client = instrumentMcpClient(new Client({ name: 'relay-test', version: '0.0.1' }), { relay: true });
    const handlers = (client as unknown as { _notificationHandlers: Map<string, unknown> })._notificationHandlers;
    expect(handlers.has('notifications/agentbus/event')).toBe(true);
    uninstrumentMcpClient(client);
    expect(handlers.has('notifications/agentbus/event')).toBe(false);
  });
});
