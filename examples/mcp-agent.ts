/**
 * An agent whose tool calls an MCP server, with both sides observable.
 *
 *   npm run build && npx tsx examples/mcp-agent.ts [port]     (default 3100; 0 = any free port)
 *   npx agentbus tail http://127.0.0.1:3100/events            (in another terminal)
 *
 * - The MCP server (examples/mcp-weather-server.ts) runs as a child process
 *   over stdio; it is instrumented with `instrumentMcpServer`, and its
 *   `forecast` tool does its work as a nested step.
 * - The MCP client here is instrumented with `instrumentMcpClient`: each
 *   `tools/call` made inside a run is a tool step of that run (with `mcp`
 *   details: method, server name, transport) and sends the step's link
 *   (`traceparent`, `baggage`) to the server in `params._meta`. With
 *   `relay: true` it also asks the server for its run's events (the server
 *   is instrumented with `relay: true` too) and puts them on this bus.
 * - The reference `Agent` (a `ScriptedModel`: offline, no API key) has one
 *   tool, `get_forecast`, that forwards to the server's `forecast`.
 * - The runs are served over SSE on 127.0.0.1: `GET /events` (every run, live)
 *   and `GET /runs/<runId>/events` (one run, with its history).
 *
 * A first run starts 3 s after the server listens (MCP_EXAMPLE_DELAY_MS), then
 * one every 10 s until Ctrl-C. With MCP_EXAMPLE_ONCE=1 it makes one run and
 * exits once that run is over (tests use this).
 *
 * What shows where: `agentbus tail` shows this process's bus: the agent, its
 * model calls, `get_forecast` and, nested in it, the MCP client step
 * `forecast`, and nested in that, relayed live from the server process, the
 * server's own run (the child run of that step) with its `forecast` step and
 * the nested `lookup_forecast`. To see both sides as one trace, add
 * `instrumentOtel()` and `setupOtlp()` (agentbus/otel) to both processes:
 * the server's span is then a child of the client's `tools/call forecast`
 * span (the bridge here makes no spans of the relayed run; the server's own
 * bridge exports them).
 *
 * The SSE routes are public because the example listens on 127.0.0.1 only;
 * a real deployment passes `authorize` instead.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { z } from 'zod';
import { getEventBus, runContext } from 'agentbus';
import { Agent, ScriptedModel, defineTool } from 'agentbus/agent';
import { instrumentMcpClient } from 'agentbus/mcp';
import { createSseHandler, toNodeListener } from 'agentbus/sse';

const port = Number(process.argv[2] ?? process.env.PORT ?? 3100);
const once = process.env.MCP_EXAMPLE_ONCE === '1';
const firstRunDelayMs = Number(process.env.MCP_EXAMPLE_DELAY_MS ?? 3000);
const root = fileURLToPath(new URL('..', import.meta.url));

// --- The MCP client: the weather server as a child process over stdio ---------

const mcp = instrumentMcpClient(new Client({ name: 'mcp-agent-example', version: '1.0.0' }), { relay: true });
await mcp.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', fileURLToPath(new URL('./mcp-weather-server.ts', import.meta.url))],
    cwd: root,
    // The server's own errors, if any, show here.
    stderr: 'inherit',
  }),
);

// --- The agent: its tool forwards to the MCP server ---------------------------

const getForecast = defineTool({
  name: 'get_forecast',
  description: 'Today’s forecast for a city, from the weather MCP server.',
  input: z.object({ city: z.string() }),
  async execute({ city }, { signal }) {
    // Inside the run, this call is a step (`forecast`, nested in get_forecast) and carries its link.
    const result = (await mcp.callTool({ name: 'forecast', arguments: { city } }, undefined, { signal })) as {
      content: Array<{ type: string; text?: string }>;
      isError?: boolean;
    };
    const text = result.content.map((part) => part.text ?? '').join('\n');
    if (result.isError === true) throw new Error(text);
    return text;
  },
});

function weatherAgent(): Agent {
  const model = new ScriptedModel(
    [
      { reasoning: 'Ask the weather server for Paris.', toolCalls: [{ name: 'get_forecast', arguments: { city: 'Paris' } }], delayMs: 300 },
      { content: 'Paris today: 14 °C with light rain. Take an umbrella.', delayMs: 300 },
    ],
    { name: 'scripted-weather', provider: 'scripted' },
  );
  return new Agent({ name: 'mcp-weather-agent', model, tools: [getForecast] });
}

async function oneRun(): Promise<void> {
  const runId = randomUUID();
  console.log(`run ${runId} started`);
  try {
    const result = await runContext(() => weatherAgent().run('What is the weather in Paris?'), { runId, name: 'mcp example' });
    console.log(`run ${runId} finished: ${result.output}`);
  } catch (error) {
    console.log(`run ${runId} failed: ${(error as Error).message}`);
  } finally {
    getEventBus().closeStream(runId);
  }
}

// --- SSE on 127.0.0.1 ----------------------------------------------------------

const sse = toNodeListener(createSseHandler({ public: true, allRuns: true, heartbeatMs: 10_000 }));
const server = http.createServer((req, res) => {
  sse(req, res, () => {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /events or /runs/<runId>/events\n');
  });
});
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`MCP agent example on ${url}`);
console.log(`watch its runs: npx agentbus tail ${url}/events`);
console.log(`first run in ${firstRunDelayMs} ms${once ? ' (MCP_EXAMPLE_ONCE: then exits)' : ', then one every 10 s; Ctrl-C to stop'}`);

let timer: NodeJS.Timeout | undefined;
let stopping: Promise<void> | undefined;
function stop(code = 0): Promise<void> {
  stopping ??= (async () => {
    clearTimeout(timer);
    // Readers get a moment to end their streams themselves; then the rest are closed.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const force = setTimeout(() => server.closeAllConnections(), once ? 2000 : 0);
    await closed;
    clearTimeout(force);
    await mcp.close(); // ends the server's stdin: it exits
    process.exit(code);
  })();
  return stopping;
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

if (once) {
  timer = setTimeout(() => void oneRun().then(() => stop(0)), firstRunDelayMs);
} else {
  const loop = async (): Promise<void> => {
    await oneRun();
    timer = setTimeout(() => void loop(), 10_000);
  };
  timer = setTimeout(() => void loop(), firstRunDelayMs);
}
