// examples/mcp-agent.ts as a user runs it: started as its own process
// (MCP_EXAMPLE_ONCE=1: one run, then it exits), its all-runs SSE stream read
// with subscribeSse until the run completes. The run has the agent's
// get_forecast tool step and, nested in it, the MCP client step `forecast`
// (tools/call over stdio to examples/mcp-weather-server.ts, which prints its
// own run, a child run of that step, to stderr).
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
afterEach(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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

    // The all-runs stream has no history: subscribed before the run starts (it waits 1.5 s).
    const events: StreamEvent[] = [];
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), 20_000);
    for await (const event of subscribeSse(url, { signal: abort.signal })) {
      events.push(event);
      if (event.eventType === 'run.completed' || event.eventType === 'run.failed') break;
    }
    clearTimeout(timeout);
    abort.abort();

    const types = events.map((e) => e.eventType);
    expect(types[0], types.join(', ')).toBe('run.started');
    expect(types.at(-1)).toBe('run.completed');
    const runId = events[0]!.runId;
    expect(events.every((e) => e.runId === runId)).toBe(true);

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

    // It exits on its own after its run, 0.
    const [code] = (await exited) as [number | null];
    expect(code, stderr()).toBe(0);
    expect(stdout()).toContain(`run ${runId} finished: Paris today: 14 °C with light rain.`);
    // The server's own run (on its bus, printed to stderr) is the child run of this one, with its nested step.
    expect(stderr()).toContain(`run.started child run of ${runId}`);
    expect(stderr()).toMatch(/agent\.tool\.completed lookup_forecast ok/);
    expect(stderr()).toMatch(/agent\.tool\.completed forecast ok/);
  }, 45_000);
});
