// examples/mcp-agent.ts as a user runs it: started as its own process
// (MCP_EXAMPLE_ONCE=1: one run, then it exits), its all-runs SSE stream read
// with subscribeSse until the run completes. The run has the agent's
// get_forecast tool step and, nested in it, the MCP client step `forecast`
// (tools/call over stdio to examples/mcp-weather-server.ts); the server's own
// run, a child run of that step, is relayed from the server process onto the
// example's bus and so is on the same stream.
//
// The example imports 'agentbus' by name, which resolves to dist/ (`npm test`
// builds first).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/events.js';
import { subscribeSse } from '../src/sse/client.js';

const root = fileURLToPath(new URL('..', import.meta.url));

let child: ChildProcess | undefined;
const tails: ChildProcess[] = [];
afterEach(() => {
  for (const proc of [child, ...tails.splice(0)]) {
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  child = undefined;
});

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => (text += chunk));
  return () => text;
}

describe('examples/mcp-agent.ts', () => {
  it('serves a run whose MCP tool call is a step, nested in the agent’s tool, and exits after it', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/mcp-agent.ts', '0'], {
      cwd: root,
      env: { ...process.env, MCP_EXAMPLE_ONCE: '1', MCP_EXAMPLE_DELAY_MS: '1500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const stdout = collect(proc.stdout);
    const stderr = collect(proc.stderr);
    const exited = once(proc, 'exit');

    // The printed tail command names the URL.
    const deadline = Date.now() + 20_000;
    let url: string | undefined;
    while (url === undefined) {
      url = /agentbus tail (http:\/\/127\.0\.0\.1:\d+\/events)/.exec(stdout())?.[1];
      if (proc.exitCode !== null) throw new Error(`the example exited with ${proc.exitCode}: ${stderr()}`);
      if (Date.now() > deadline) throw new Error(`no tail command printed; stdout: ${stdout()} stderr: ${stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    // `agentbus tail` as a user runs it beside the example, started before the run too.
    const env = { ...process.env };
    for (const name of ['FORCE_COLOR', 'NO_COLOR', 'NODE_DISABLE_COLORS', 'TERM']) delete env[name];
    const tail = spawn(process.execPath, [fileURLToPath(new URL('../dist/cli/tail.js', import.meta.url)), url], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    tails.push(tail);
    const tailOut = collect(tail.stdout);
    const tailExited = once(tail, 'exit');

    // The all-runs stream has no history: subscribed before the run starts (it waits 1.5 s).
    const all: StreamEvent[] = [];
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), 20_000);
    for await (const event of subscribeSse(url, { signal: abort.signal })) {
      all.push(event);
      // The agent's run is the first to start; the stream ends for the test with its completion.
      if (event.eventType === 'run.completed' && event.runId === all[0]?.runId) break;
    }
    clearTimeout(timeout);
    abort.abort();

    expect(all[0]?.eventType).toBe('run.started');
    const runId = all[0]!.runId;
    const events = all.filter((e) => e.runId === runId);
    expect(events.at(-1)?.eventType).toBe('run.completed');

    const started = (name: string) =>
      events.find((e) => e.eventType === 'agent.tool.started' && (e.data as { toolName?: string }).toolName === name);
    const agentTool = started('get_forecast');
    const mcpStep = started('forecast');
    expect(agentTool).toBeDefined();
    expect(mcpStep?.data).toMatchObject({
      toolName: 'forecast',
      argKeys: ['city'],
      mcp: { method: 'tools/call', side: 'client', serverName: 'weather-mcp', serverVersion: '1.0.0', transport: 'pipe' },
    });
    // Nested: the MCP step is a child of the agent's tool step.
    expect(mcpStep?.parentSpanId).toBe(agentTool?.spanId);
    const completed = events.find((e) => e.eventType === 'agent.tool.completed' && e.spanId === mcpStep?.spanId);
    expect(completed?.data).toMatchObject({ toolName: 'forecast', success: true, outputPreview: 'Paris: 14 °C, light rain' });

    // The server's own run, relayed from its process: the child run of the MCP step,
    // whole, complete before the step ends, with its forecast step and the nested lookup.
    const server = all.filter((e) => e.runId !== runId);
    expect(server[0]?.data).toMatchObject({ name: 'mcp tools/call', parentRunId: runId, parentSpanId: mcpStep?.spanId, relayedFrom: 'mcp:weather-mcp' });
    expect(server.map((e) => `${e.eventType} ${(e.data as { toolName?: string }).toolName ?? ''}`.trimEnd())).toEqual([
      'run.started',
      'agent.tool.started forecast',
      'agent.tool.started lookup_forecast',
      'agent.tool.completed lookup_forecast',
      'agent.tool.completed forecast',
      'run.completed',
    ]);
    expect(all.indexOf(server.at(-1)!)).toBeLessThan(all.indexOf(completed!));

    // It exits on its own after its run, 0.
    const [code] = (await exited) as [number | null];
    expect(code, stderr()).toBe(0);
    expect(stdout()).toContain(`run ${runId} finished: Paris today: 14 °C with light rain.`);

    // The tail ends with the example's stream, and draws the server's run inside the MCP step.
    await tailExited;
    const drawn = tailOut()
      .trimEnd()
      .split('\n')
      .filter((line) => !/(model|💭)/.test(line))
      .map((line) => line.replace(/\d+ ms/g, 'N ms').replace(server[0]!.runId, '<server run>').replace(runId, '<run>'));
    expect(drawn).toEqual([
      '[mcp example] ▶ run <run> "mcp example"',
      '[mcp example]   ▶ agent mcp-weather-agent (scripted-weather)',
      '[mcp example]     ▶ tool get_forecast(city)',
      '[mcp example]       ▶ tool forecast(city)',
      '[mcp example]         ▶ run <server run> "mcp tools/call"',
      '[mcp example]           ▶ tool forecast(city)',
      '[mcp example]             ▶ tool lookup_forecast(city)',
      '[mcp example]             ✓ tool lookup_forecast N ms → {"celsius":14,"sky":"light rain"}',
      '[mcp example]           ✓ tool forecast N ms → Paris: 14 °C, light rain',
      '[mcp example]         ✓ run ok N ms · tokens 0 in / 0 out (0 total)',
      '[mcp example]       ✓ tool forecast N ms → Paris: 14 °C, light rain',
      '[mcp example]     ✓ tool get_forecast N ms → Paris: 14 °C, light rain',
      '[mcp example]   ✓ agent N ms · completed, 2 iterations, 1 tool call',
      '[mcp example] ✓ run ok N ms · tokens 148 in / 32 out (180 total)',
    ]);
  }, 45_000);
});
