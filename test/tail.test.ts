// `agentbus tail`, run as the built bin (dist/cli/tail.js, so `npm run build`
// first, as `npm test` does) in a child process against a real server.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ScriptedModel, defineTool } from '../src/agent/index.js';
import { getEventBus } from '../src/bus.js';
import { runContext } from '../src/context.js';
import { createNodeSseListener } from '../src/sse/index.js';

const BIN = fileURLToPath(new URL('../dist/cli/tail.js', import.meta.url));
const run = promisify(execFile);

let server: http.Server;
let base: string;

beforeAll(async () => {
  const listener = createNodeSseListener({ authorize: (req) => req.headers.get('authorization') === 'Bearer letmein' });
  server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function startRun(runId: string): Promise<unknown> {
  const lookup = defineTool({
    name: 'lookup',
    description: 'Looks a word up',
    input: z.object({ word: z.string() }),
    execute: async ({ word }) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return `${word}: a small example`;
    },
  });
  const model = new ScriptedModel([
    { reasoning: 'Look it up first.', toolCalls: [{ name: 'lookup', arguments: { word: 'tail' } }], delayMs: 60, usage: { inputTokens: 30, outputTokens: 7 } },
    { content: 'A tail is a small example.', delayMs: 60, usage: { inputTokens: 45, outputTokens: 9 } },
  ]);
  const agent = new Agent({ name: 'lexicon', model, tools: [lookup] });
  return runContext(() => agent.run('what is a tail?'), { runId, name: 'tail demo' }).finally(() => getEventBus().closeStream(runId));
}

describe('agentbus tail', () => {
  it('is built as an executable node script', () => {
    expect(existsSync(BIN), `${BIN} is missing: run npm run build`).toBe(true);
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints a live run as an indented tree with durations and token totals, and exits 0 when the run ends', async () => {
    const finished = startRun('tail-run-1');
    const { stdout, stderr } = await run(
      process.execPath,
      [BIN, 'tail', `${base}/runs/tail-run-1/events`, '--header', 'Authorization: Bearer letmein'],
      { timeout: 20_000 },
    );
    await finished;
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('▶ run tail-run-1 "tail demo"');
    expect(lines[1]).toBe('  ▶ agent lexicon (scripted)');
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}▶ model scripted 1 messages, 1 tools$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ model \d+ ms · 30 in \/ 7 out tokens · tool_calls$/));
    expect(lines).toContainEqual('    💭 Look it up first.');
    expect(lines).toContainEqual('    ▶ tool lookup(word)');
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ tool lookup \d+ ms → tail: a small example$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}✓ agent \d+ ms · completed, 2 iterations, 1 tool calls$/));
    expect(lines.at(-1)).toMatch(/^✓ run ok \d+ ms · tokens 75 in \/ 16 out \(91 total\)$/);
  });

  it('exits 1 with the HTTP status when the server refuses it', async () => {
    await startRun('tail-run-2');
    const failure = await run(process.execPath, [BIN, 'tail', `${base}/runs/tail-run-2/events`], { timeout: 20_000 }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toMatch(/answered 401: credentials required/);
  });

  it('exits 2 with usage on bad arguments', async () => {
    const failure = await run(process.execPath, [BIN, 'tail', 'not a url'], { timeout: 20_000 }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('<url> must be an http(s) URL, got "not a url"');
  });
});
