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
import { emit, traceTool } from '../src/emit.js';
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

  it('escapes control characters from event data, so a stream cannot drive the terminal or forge lines', async () => {
    // Sets the window title, clears the screen, writes the clipboard (OSC 52),
    // forges a line with CR LF, opens a C1 CSI, flips text with a bidi override.
    const evil = '\u001b]0;pwned\u0007\u001b[2J\u001b]52;c;ZXZpbA==\u0007\r\nFORGED\u009b31m\u202eevil\u2028x\u0000\u007f\t';
    const escaped = String.raw`\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07\r\nFORGED\u009b31m\u202eevil\u2028x\x00\x7f\t`;
    const runId = 'tail-run-evil';
    const lookup = defineTool({
      name: 'lookup',
      description: 'Looks a word up',
      input: z.object({ word: z.string() }),
      execute: async () => `out${evil}`,
    });
    const model = new ScriptedModel(
      [
        { reasoning: `think${evil}`, stopReason: `stop${evil}`, toolCalls: [{ name: 'lookup', arguments: { word: 'x' } }], delayMs: 60 },
        { error: `model${evil}` },
      ],
      { name: `m${evil}` },
    );
    const agent = new Agent({ name: `lex${evil}`, model, tools: [lookup] });
    const finished = runContext(async () => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      emit('myapp.note', { text: evil, nested: { list: [evil, 7, null] }, [`key${evil}`]: true });
      await traceTool(`tool${evil}`, { [`key${evil}`]: 1 }, async () => `out${evil}`);
      await traceTool(`bad${evil}`, {}, async () => {
        throw new Error(`err${evil}`);
      }).catch(() => undefined);
      await agent.run('hi');
    }, { runId, name: `demo${evil}` })
      .catch(() => undefined)
      .finally(() => getEventBus().closeStream(runId));
    const { stdout, stderr } = await run(process.execPath, [BIN, 'tail', `${base}/runs/${runId}/events`, '--header', 'Authorization: Bearer letmein'], {
      timeout: 20_000,
    });
    await finished;
    expect(stderr).toBe('');
    // Not a TTY, so colour is off: no ESC at all, and no control but the line ends.
    const controls = [...stdout]
      .filter((c) => c !== '\n' && /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(c))
      .map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
    expect(controls).toEqual([]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`▶ run ${runId} "demo${escaped}"`);
    expect(lines).toContain('  · myapp.note');
    expect(lines).toContain(`  ▶ tool tool${escaped}(key${escaped})`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}✓ tool tool${re(escaped)} \\d+ ms → out${re(escaped)}$`)));
    expect(lines).toContain(`  ▶ tool bad${escaped}()`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}✗ tool bad${re(escaped)} \\d+ ms Error: err${re(escaped)}$`)));
    expect(lines).toContain(`  ▶ agent lex${escaped} (m${escaped})`);
    expect(lines).toContain(`    ▶ model m${escaped} 1 messages, 1 tools`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✓ model \\d+ ms · .*stop${re(escaped)}$`)));
    expect(lines).toContain(`    💭 think${escaped}`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✓ tool lookup \\d+ ms → out${re(escaped)}$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✗ model \\d+ ms · .*error Error: model${re(escaped)}$`)));
    expect(lines.at(-1)).toMatch(new RegExp(`^✗ run error \\d+ ms · .* · Error: model${re(escaped)}$`));
    // run, note, 2 x (tool start, end), agent start, 2 x (model start, end), think, lookup start, end, agent end, run end.
    expect(lines).toHaveLength(16);
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

/** `text` as a literal inside a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
