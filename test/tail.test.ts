// `agentbus tail`, run as the built bin (dist/cli/tail.js, so `npm run build`
// first, as `npm test` does) in a child process against a real server.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ScriptedModel, defineTool } from '../src/agent/index.js';
import { EventBus } from '../src/bus.js';
import { getEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, traceTool } from '../src/emit.js';
import { createSseHandler, toNodeListener } from '../src/sse/index.js';
import { StreamPrinter } from '../src/cli/stream-printer.js';
import { createStyle } from '../src/cli/style.js';
import type { StreamEvent } from '../src/events.js';
import { event, serve } from './sse-harness.js';

const BIN = fileURLToPath(new URL('../dist/cli/tail.js', import.meta.url));
const AUTH = 'Authorization: Bearer letmein';

let server: http.Server;
let base: string;

beforeAll(async () => {
  const listener = toNodeListener(createSseHandler({ authorize: (req) => req.headers.get('authorization') === 'Bearer letmein', allRuns: true }));
  server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** The environment of the CLI: this one without its colour settings, plus `extra`. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['FORCE_COLOR', 'NO_COLOR', 'NODE_DISABLE_COLORS', 'TERM']) delete env[name];
  return { ...env, ...extra };
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end; never rejects on a non-zero exit. */
function tail(args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: cliEnv(env), timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      if (error !== null && code === null) reject(error);
      else resolve({ code, stdout, stderr });
    });
  });
}

/** The CLI following a stream that does not end: read its lines as they come, then Ctrl-C it. */
function follow(args: readonly string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    lines: () => stdout.split('\n').filter((line) => line !== ''),
    stderr: () => stderr,
    /** Resolves once `done(lines)` holds; rejects if the CLI exits first. */
    async until(done: (lines: string[]) => boolean): Promise<void> {
      for (const deadline = Date.now() + 15_000; !done(this.lines()); ) {
        if (child.exitCode !== null) throw new Error(`tail exited ${child.exitCode}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out; tail printed:\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    interrupt(): Promise<number | null> {
      child.kill('SIGINT');
      return exited;
    },
    /** Closes the reading end of the CLI's stdout, as `| head` does when it has enough. */
    stopReading(): Promise<number | null> {
      child.stdout.destroy();
      return exited;
    },
  };
}

/** Resolves once `bus` has more subscribers than `before`: the CLI's stream is live. */
async function subscribed(bus: EventBus, before: number): Promise<void> {
  for (const deadline = Date.now() + 15_000; bus.stats().subscribers <= before; ) {
    if (Date.now() > deadline) throw new Error('tail never subscribed');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function startRun(runId: string, name = 'tail demo'): Promise<unknown> {
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
  return runContext(() => agent.run('what is a tail?'), { runId, name }).finally(() => getEventBus().closeStream(runId));
}

/** Publishes `events` ([type, data]) as one finished run, so that its stream replays them and ends. */
function publishRun(runId: string, events: ReadonlyArray<readonly [string, object]>): void {
  const bus = getEventBus();
  for (const [type, data] of events) bus.publish(event(runId, type, data));
  bus.closeStream(runId);
}

/** An event of a step: `event` with the span ids a step's events carry. */
function spanEvent(runId: string, eventType: string, data: object, spanId?: string, parentSpanId?: string): StreamEvent {
  return { ...event(runId, eventType, data), spanId, parentSpanId };
}

/** A `run.started` naming `parentRunId` (and the step `parentSpanId`) as its parent. */
function childStarted(runId: string, parentRunId: unknown, parentSpanId?: unknown, name?: string): StreamEvent {
  return event(runId, 'run.started', { name, parentRunId, parentSpanId });
}

/** Lines with their durations as `N ms`, so that a whole tree can be compared exactly. */
function timeless(lines: readonly string[]): string[] {
  return lines.map((line) => line.replace(/\b\d+ ms\b|\b\d+\.\d\d s\b/g, 'N ms'));
}

/** A StreamPrinter without colour, and the lines it wrote. */
function printerFor(labelled: boolean) {
  const lines: string[] = [];
  const printer = new StreamPrinter({ style: createStyle(false), labelled, write: (line) => lines.push(line) });
  return { lines, print: (...events: StreamEvent[]) => events.forEach((e) => printer.print(e)), printer };
}

/**
 * A run `nest-parent` whose agent calls the tool `forecast`; the tool serves the
 * call as a child run `nest-child`, whose agent calls `lookup_forecast`, served as
 * a grandchild run `nest-cache`. Each run's model uses its own tokens.
 */
function nestedRuns(bus: EventBus): Promise<unknown> {
  const lookup = defineTool({
    name: 'lookup_forecast',
    description: 'Looks the forecast up',
    input: z.object({ city: z.string() }),
    execute: ({ city }) => runContext(async () => `${city}: sunny`, { runId: 'nest-cache', name: 'cache' }),
  });
  const forecast = defineTool({
    name: 'forecast',
    description: 'Asks the forecast service',
    input: z.object({ city: z.string() }),
    execute: ({ city }) =>
      runContext(async () => {
        const model = new ScriptedModel([
          { toolCalls: [{ name: 'lookup_forecast', arguments: { city } }], usage: { inputTokens: 5, outputTokens: 2 } },
          { content: 'sunny', usage: { inputTokens: 6, outputTokens: 1 } },
        ]);
        return (await new Agent({ name: 'forecaster', model, tools: [lookup] }).run(city)).output;
      }, { runId: 'nest-child', name: 'forecast service' }),
  });
  const model = new ScriptedModel([
    { toolCalls: [{ name: 'forecast', arguments: { city: 'Oslo' } }], usage: { inputTokens: 30, outputTokens: 7 } },
    { content: 'Sunny in Oslo.', usage: { inputTokens: 40, outputTokens: 9 } },
  ]);
  const agent = new Agent({ name: 'planner', model, tools: [forecast] });
  return runContext(() => agent.run('weather in Oslo?'), { runId: 'nest-parent', name: 'nest demo', bus });
}

/** A port on 127.0.0.1 that nothing listens on. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('agentbus tail', () => {
  it('is built as an executable node script', () => {
    expect(existsSync(BIN), `${BIN} is missing: run npm run build`).toBe(true);
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  describe('one run (/runs/:runId/events)', () => {
    it('prints a live run as an indented tree with durations and token totals, and exits 0 when the run ends', async () => {
      const finished = startRun('tail-run-1');
      const { code, stdout, stderr } = await tail(['tail', `${base}/runs/tail-run-1/events`, '--header', AUTH]);
      await finished;
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('▶ run tail-run-1 "tail demo"');
      expect(lines[1]).toBe('  ▶ agent lexicon (scripted)');
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}▶ model scripted 1 message, 1 tool$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ model \d+ ms · 30 in \/ 7 out tokens · tool_calls$/));
      expect(lines).toContainEqual('    💭 Look it up first.');
      expect(lines).toContainEqual('    ▶ tool lookup(word)');
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ tool lookup \d+ ms → tail: a small example$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}▶ model scripted 3 messages, 1 tool$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {2}✓ agent \d+ ms · completed, 2 iterations, 1 tool call$/));
      expect(lines.at(-1)).toMatch(/^✓ run ok \d+ ms · tokens 75 in \/ 16 out \(91 total\)$/);
    });

    it('shows the cost a priced run\'s calls carry on their model lines and the run\'s total per currency; an unpriced call shows none', async () => {
      const model = new ScriptedModel([
        { toolCalls: [{ name: 'noop', arguments: {} }], usage: { inputTokens: 30000, outputTokens: 7000 } },
        { content: 'done', usage: { inputTokens: 45000, outputTokens: 9000 } },
      ]);
      const noop = defineTool({ name: 'noop', description: 'Nothing', input: z.object({}), execute: async () => 'ok' });
      const agent = new Agent({ name: 'priced', model, tools: [noop] });
      await runContext(async () => {
        await agent.run('go');
        // A model the table does not price, and one priced in another currency.
        await runContext(() => new Agent({ name: 'free', model: new ScriptedModel([{ content: 'x', usage: { inputTokens: 5, outputTokens: 5 } }]) }).run('x'), {
          prices: { 'other-model': { currency: 'EUR', inputPerMillion: 1, outputPerMillion: 1 } },
        });
        emit('agent.tokens.used', { model: 'eu', provider: 'p', inputTokens: 1_000_000, outputTokens: 0, totalTokens: 1_000_000, cost: { amount: 2, currency: 'EUR', source: 'local' } });
      }, { runId: 'tail-priced', name: 'priced', prices: { scripted: { currency: 'USD', inputPerMillion: 2.5, outputPerMillion: 10 } } });
      getEventBus().closeStream('tail-priced');
      const { code, stdout, stderr } = await tail([`${base}/runs/tail-priced/events`, '-H', AUTH]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const lines = stdout.trimEnd().split('\n');
      // 30000 x 2.5 + 7000 x 10 per million = 0.145; 45000 x 2.5 + 9000 x 10 per million = 0.2025.
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ model \d+ ms · 30000 in \/ 7000 out tokens · 0\.1450 USD · tool_calls$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}✓ model \d+ ms · 45000 in \/ 9000 out tokens · 0\.2025 USD · stop$/));
      expect(lines.at(-1)).toMatch(/^✓ run ok \d+ ms · tokens 1075000 in \/ 16000 out \(1091000 total\) · cost 0\.3475 USD \+ 2\.00 EUR$/);
    });

    it('never shows a cost total of Infinity: a sum too large to be finite is shown as unknown', () => {
      const { lines, print } = printerFor(false);
      const tokens = (currency: string) => event('huge', 'agent.tokens.used', { model: 'm', provider: 'p', inputTokens: 1, outputTokens: 0, totalTokens: 1, cost: { amount: 1e308, currency, source: 'provider' } });
      print(event('huge', 'run.started', { name: 'huge' }), tokens('USD'), tokens('USD'), tokens('EUR'), event('huge', 'run.completed', { status: 'ok', durationMs: 1 }));
      expect(lines.at(-1)).not.toContain('Infinity');
      expect(lines.at(-1)).toMatch(/ · cost \? USD \+ 1e\+308 EUR$/);
    });

    it('shows no cost at all for a run whose events carry none', async () => {
      const finished = startRun('tail-unpriced');
      const { stdout } = await tail([`${base}/runs/tail-unpriced/events`, '-H', AUTH]);
      await finished;
      expect(stdout).not.toMatch(/USD|cost/);
    });

    it('writes a count of one in the singular and every other count in the plural', async () => {
      const model = { model: 'm', provider: 'p' };
      publishRun('tail-plural', [
        ['run.started', { name: 'plural' }],
        ['agent.model.started', { ...model, messageCount: 1, toolCount: 1 }],
        ['agent.model.started', { ...model, messageCount: 2, toolCount: 0 }],
        ['agent.terminate', { reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' }],
        ['agent.terminate', { reason: 'completed', iterationsUsed: 2, totalToolCalls: 0, finalMessagePreview: '' }],
        ['multiagent.fanout.started', { agentCount: 1, mergeStrategy: 'all' }],
        ['multiagent.fanout.started', { agentCount: 3, mergeStrategy: 'all' }],
        ['stream.dropped', { count: 1 }],
        ['stream.dropped', { count: 2 }],
        ['run.completed', { status: 'ok', durationMs: 3 }],
      ]);
      const { code, stdout } = await tail([`${base}/runs/tail-plural/events`, '-H', AUTH]);
      expect(code).toBe(0);
      expect(stdout.trimEnd().split('\n')).toEqual([
        '▶ run tail-plural "plural"',
        '  ▶ model m 1 message, 1 tool',
        '  ▶ model m 2 messages, 0 tools',
        '  ✓ agent 0 ms · completed, 1 iteration, 1 tool call',
        '  ✓ agent 0 ms · completed, 2 iterations, 0 tool calls',
        '  ▶ fan-out 1 agent all',
        '  ▶ fan-out 3 agents all',
        '  ⚠ 1 event lost (the terminal fell behind)',
        '  ⚠ 2 events lost (the terminal fell behind)',
        '✓ run ok 3 ms · tokens 0 in / 0 out (0 total)',
      ]);
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
        await traceTool({ name: `tool${evil}`, args: { [`key${evil}`]: 1 } }, async () => `out${evil}`);
        await traceTool({ name: `bad${evil}`, args: {} }, async () => {
          throw new Error(`err${evil}`);
        }).catch(() => undefined);
        await agent.run('hi');
      }, { runId, name: `demo${evil}` })
        .catch(() => undefined)
        .finally(() => getEventBus().closeStream(runId));
      const { stdout, stderr } = await tail(['tail', `${base}/runs/${runId}/events`, '--header', AUTH]);
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
      expect(lines).toContain(`    ▶ model m${escaped} 1 message, 1 tool`);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✓ model \\d+ ms · .*stop${re(escaped)}$`)));
      expect(lines).toContain(`    💭 think${escaped}`);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✓ tool lookup \\d+ ms → out${re(escaped)}$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ {4}✗ model \\d+ ms · .*error Error: model${re(escaped)}$`)));
      expect(lines.at(-1)).toMatch(new RegExp(`^✗ run error \\d+ ms · .* · Error: model${re(escaped)}$`));
      // run, note, 2 x (tool start, end), agent start, 2 x (model start, end), think, lookup start, end, agent end, run end.
      expect(lines).toHaveLength(16);
    });
  });

  describe('every run (/events)', () => {
    it('draws interleaved runs as separate trees, each line labelled with its run and each run with its own token totals', async () => {
      const bus = getEventBus();
      const before = bus.stats().subscribers;
      const cli = follow(['tail', `${base}/events`, '--header', AUTH]);
      await subscribed(bus, before);
      // Started together, so their events interleave; each run uses 75 + 16 tokens.
      await Promise.all([startRun('tail-all-a', 'alpha'), startRun('tail-all-b', 'bravo')]);
      await cli.until((lines) => lines.filter((line) => / run ok /.test(line)).length === 2);
      expect(await cli.interrupt()).toBe(130);
      expect(cli.stderr()).toBe('');

      const lines = cli.lines();
      const byRun = (label: string) => lines.filter((line) => line.startsWith(`[${label}] `)).map((line) => line.slice(label.length + 3));
      // Every line carries its run's label, and none is lost or shared.
      expect(byRun('alpha').length + byRun('bravo').length).toBe(lines.length);
      for (const [label, runId] of [['alpha', 'tail-all-a'], ['bravo', 'tail-all-b']] as const) {
        const tree = byRun(label);
        expect(tree[0]).toBe(`▶ run ${runId} "${label}"`);
        expect(tree[1]).toBe('  ▶ agent lexicon (scripted)');
        expect(tree).toContainEqual(expect.stringMatching(/^ {4}✓ model \d+ ms · 30 in \/ 7 out tokens · tool_calls$/));
        expect(tree).toContainEqual(expect.stringMatching(/^ {4}✓ tool lookup \d+ ms → tail: a small example$/));
        expect(tree).toContainEqual(expect.stringMatching(/^ {2}✓ agent \d+ ms · completed, 2 iterations, 1 tool call$/));
        // Not 182 for whichever ends second: totals never carry over between runs.
        expect(tree.at(-1)).toMatch(/^✓ run ok \d+ ms · tokens 75 in \/ 16 out \(91 total\)$/);
      }
    });

    it('tells two live runs of the same name apart, and labels a run without a name by its id', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      const uuid = '0c4e6f1a-9b2d-4c3e-8f70-1a2b3c4d5e6f';
      bus.publish(event('twin-1', 'run.started', { name: 'twin' }));
      bus.publish(event('twin-2', 'run.started', { name: 'twin' }));
      bus.publish(event(uuid, 'myapp.step'));
      bus.publish(event('twin-2', 'run.completed', { status: 'ok', durationMs: 1 }));
      bus.publish(event('twin-1', 'run.completed', { status: 'ok', durationMs: 2 }));
      await cli.until((lines) => lines.length === 5);
      expect(await cli.interrupt()).toBe(130);
      // Labels are padded to the widest so far, so the trees line up.
      expect(cli.lines()).toEqual([
        '[twin] ▶ run twin-1 "twin"',
        '[twin#2] ▶ run twin-2 "twin"',
        '[0c4e6f1a…]   · myapp.step',
        '[twin#2]    ✓ run ok 1 ms · tokens 0 in / 0 out (0 total)',
        '[twin]      ✓ run ok 2 ms · tokens 0 in / 0 out (0 total)',
      ]);
    });

    it('follows at most 1000 runs at once: a completed run frees its place, and past the bound the least recently active is let go, saying so', async () => {
      const bus = new EventBus({ maxRuns: 5000 });
      const served = await serve({ bus, public: true, allRuns: true, highWaterMark: 10_000 });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      for (let i = 0; i < 1000; i++) {
        bus.publish(event(`done-${i}`, 'run.started'));
        bus.publish(event(`done-${i}`, 'run.completed', { status: 'ok', durationMs: 1 }));
      }
      for (let i = 0; i < 1000; i++) bus.publish(event(`open-${i}`, 'run.started'));
      bus.publish(event('open-0', 'myapp.step')); // now open-1 is the least recently active
      bus.publish(event('one-too-many', 'run.started'));
      await cli.until((lines) => lines.some((line) => line.includes('one-too-many')));
      expect(await cli.interrupt()).toBe(130);
      const lines = cli.lines();
      expect(lines).toHaveLength(2000 + 1000 + 1 + 2);
      expect(lines.filter((line) => line.includes('no longer followed'))).toEqual([
        expect.stringMatching(/^\[open-1\] +⚠ no longer followed: more than 1000 runs open at once$/),
      ]);
      expect(lines.at(-1)).toMatch(/^\[one-too-many\] +▶ run one-too-many$/);
    });
  });

  describe('nested runs', () => {
    it('draws a child run inside its parent, one level under the step that started it, and a grandchild under the child, each run with its own token totals', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      await nestedRuns(bus);
      await cli.until((lines) => lines.some((line) => line.includes(' run ok ') && line.includes('86 total')));
      expect(await cli.interrupt()).toBe(130);
      expect(cli.stderr()).toBe('');
      // One tree under one label: the child's run line one level under `tool forecast`, its steps under that.
      expect(timeless(cli.lines())).toEqual([
        '[nest demo] ▶ run nest-parent "nest demo"',
        '[nest demo]   ▶ agent planner (scripted)',
        '[nest demo]     ▶ model scripted 1 message, 1 tool',
        '[nest demo]     ✓ model N ms · 30 in / 7 out tokens · tool_calls',
        '[nest demo]     ▶ tool forecast(city)',
        '[nest demo]       ▶ run nest-child "forecast service"',
        '[nest demo]         ▶ agent forecaster (scripted)',
        '[nest demo]           ▶ model scripted 1 message, 1 tool',
        '[nest demo]           ✓ model N ms · 5 in / 2 out tokens · tool_calls',
        '[nest demo]           ▶ tool lookup_forecast(city)',
        '[nest demo]             ▶ run nest-cache "cache"',
        '[nest demo]             ✓ run ok N ms · tokens 0 in / 0 out (0 total)',
        '[nest demo]           ✓ tool lookup_forecast N ms → Oslo: sunny',
        '[nest demo]           ▶ model scripted 3 messages, 1 tool',
        '[nest demo]           ✓ model N ms · 6 in / 1 out tokens · stop',
        '[nest demo]           💭 sunny',
        '[nest demo]         ✓ agent N ms · completed, 2 iterations, 1 tool call',
        '[nest demo]       ✓ run ok N ms · tokens 11 in / 3 out (14 total)',
        '[nest demo]     ✓ tool forecast N ms → sunny',
        '[nest demo]     ▶ model scripted 3 messages, 1 tool',
        '[nest demo]     ✓ model N ms · 40 in / 9 out tokens · stop',
        '[nest demo]     💭 Sunny in Oslo.',
        '[nest demo]   ✓ agent N ms · completed, 2 iterations, 1 tool call',
        '[nest demo] ✓ run ok N ms · tokens 70 in / 16 out (86 total)',
      ]);

      // A run's own stream carries that run only: the parent's tree alone, unlabelled, as before.
      const { code, stdout } = await tail([`${served.base}/runs/nest-parent/events`]);
      expect(code).toBe(0);
      const single = timeless(stdout.trimEnd().split('\n'));
      expect(single[0]).toBe('▶ run nest-parent "nest demo"');
      expect(single.slice(4, 7)).toEqual(['    ▶ tool forecast(city)', '    ✓ tool forecast N ms → sunny', '    ▶ model scripted 3 messages, 1 tool']);
      expect(single).toHaveLength(11);
    });

    it('keeps a child run nested where it started when its step and then its parent run end first, and its label from another tree until it ends', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      const tool = (runId: string, name: string, spanId: string, end = false) =>
        end
          ? spanEvent(runId, 'agent.tool.completed', { toolName: name, toolCallId: spanId, success: true, durationMs: 4 }, spanId)
          : spanEvent(runId, 'agent.tool.started', { toolName: name, toolCallId: spanId, argKeys: [] }, spanId);
      bus.publish(event('svc-outer', 'run.started', { name: 'svc' }));
      bus.publish(tool('svc-outer', 'call', 't1'));
      bus.publish(childStarted('svc-inner', 'svc-outer', 't1', 'inner'));
      bus.publish(tool('svc-outer', 'call', 't1', true)); // the step ends before the child run
      bus.publish(tool('svc-inner', 'work', 'w1'));
      bus.publish(event('svc-outer', 'run.completed', { status: 'ok', durationMs: 9 })); // and so does the parent
      bus.publish(event('svc-other', 'run.started', { name: 'svc' })); // `svc` is still the inner run's
      bus.publish(tool('svc-inner', 'work', 'w1', true));
      bus.publish(event('svc-inner', 'run.completed', { status: 'ok', durationMs: 7 }));
      bus.publish(event('svc-later', 'run.started', { name: 'svc' })); // now free
      await cli.until((lines) => lines.length === 10);
      expect(await cli.interrupt()).toBe(130);
      expect(cli.lines()).toEqual([
        '[svc] ▶ run svc-outer "svc"',
        '[svc]   ▶ tool call()',
        '[svc]     ▶ run svc-inner "inner"',
        '[svc]   ✓ tool call 4 ms',
        '[svc]       ▶ tool work()',
        '[svc] ✓ run ok 9 ms · tokens 0 in / 0 out (0 total)',
        '[svc#2] ▶ run svc-other "svc"',
        '[svc]         ✓ tool work 4 ms',
        '[svc]       ✓ run ok 7 ms · tokens 0 in / 0 out (0 total)',
        '[svc]   ▶ run svc-later "svc"',
      ]);
    });

    it('draws a run that names itself, a run not followed or one that starts later as its parent as a tree of its own, and one naming an unknown step beside its parent\'s top-level steps', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      bus.publish(childStarted('selfish', 'selfish', 'x', 'me')); // itself
      bus.publish(childStarted('cyc-a', 'cyc-b', undefined, 'a')); // cyc-b is not followed yet: a tree of its own
      bus.publish(childStarted('cyc-b', 'cyc-a', undefined, 'b')); // cyc-a is: nested, beside its top-level steps
      bus.publish(childStarted('cyc-a', 'cyc-b', undefined, 'a')); // a followed run does not move
      bus.publish(spanEvent('cyc-a', 'myapp.step', {}, 's1'));
      bus.publish(childStarted('lost', 'cyc-a', 'no-such-step', 'lost')); // step unknown: beside the top-level steps
      bus.publish(childStarted('huge', 'cyc-a', 's'.repeat(100_000), 'huge')); // so is a huge one
      bus.publish(childStarted('under', 'cyc-a', 's1', 'under')); // s1 is open: under it
      bus.publish(childStarted('stray', 'never-seen', 's1', 'stray')); // parent not followed
      await cli.until((lines) => lines.length === 9);
      expect(await cli.interrupt()).toBe(130);
      expect(cli.lines()).toEqual([
        '[me] ▶ run selfish "me"',
        '[a]  ▶ run cyc-a "a"',
        '[a]    ▶ run cyc-b "b"',
        '[a]  ▶ run cyc-a "a"',
        '[a]    · myapp.step',
        '[a]    ▶ run lost "lost"',
        '[a]    ▶ run huge "huge"',
        '[a]      ▶ run under "under"',
        '[stray] ▶ run stray "stray"',
      ]);
    });

    it('indents a chain of nested runs at most 32 levels deep', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true, highWaterMark: 10_000 });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      // Each run is the child of the previous one's step: run i at depth 2i, its step at 2i + 1.
      const levels = 100;
      for (let i = 0; i < levels; i++) {
        bus.publish(i === 0 ? event('deep-0', 'run.started', { name: 'deep' }) : childStarted(`deep-${i}`, `deep-${i - 1}`, `s${i - 1}`));
        bus.publish(spanEvent(`deep-${i}`, 'myapp.step', {}, `s${i}`));
      }
      await cli.until((lines) => lines.length === 2 * levels);
      expect(await cli.interrupt()).toBe(130);
      const expected: string[] = [];
      for (let i = 0; i < levels; i++) {
        expected.push(`[deep] ${'  '.repeat(Math.min(2 * i, 32))}▶ run deep-${i}${i === 0 ? ' "deep"' : ''}`);
        expected.push(`[deep] ${'  '.repeat(Math.min(2 * i + 1, 32))}· myapp.step`);
      }
      expect(cli.lines()).toEqual(expected);
    });

    describe('StreamPrinter', () => {
      it('does not start labelling for a run nested in the first tree, and does once a second tree shows up', () => {
        const { lines, print, printer } = printerFor(false);
        print(
          event('only', 'run.started', { name: 'only' }),
          spanEvent('only', 'myapp.call', {}, 'c1'),
          childStarted('kid', 'only', 'c1', 'kid'),
          event('kid', 'run.completed', { status: 'ok', durationMs: 1 }),
        );
        // A nested run's end is not the stream's run ending.
        expect(printer.sawCompletion).toBe(false);
        print(event('stranger', 'run.started'), event('only', 'run.completed', { status: 'ok', durationMs: 2 }));
        expect(printer.sawCompletion).toBe(true);
        expect(lines).toEqual([
          '▶ run only "only"',
          '  · myapp.call',
          '    ▶ run kid "kid"',
          '    ✓ run ok 1 ms · tokens 0 in / 0 out (0 total)',
          '[stranger] ▶ run stranger',
          '[only]     ✓ run ok 2 ms · tokens 0 in / 0 out (0 total)',
        ]);
      });

      it('indents a chain of nested steps inside one run at most 32 levels deep', () => {
        const { lines, print } = printerFor(false);
        print(event('steps', 'run.started'));
        for (let i = 0; i < 5000; i++) print(spanEvent('steps', 'myapp.step', {}, `s${i}`, i === 0 ? undefined : `s${i - 1}`));
        expect(lines.slice(1, 4)).toEqual(['  · myapp.step', '    · myapp.step', '      · myapp.step']);
        // Step i is at depth i + 1 until the cap.
        expect(lines[31]).toBe(`${'  '.repeat(31)}· myapp.step`);
        expect(lines.slice(32)).toEqual(Array(5000 - 31).fill(`${'  '.repeat(32)}· myapp.step`));
      });

      it('takes garbage parent ids for no parent or an unknown step, and reads them raw, not as printed', () => {
        const { lines, print } = printerFor(true);
        const evil = 'p\u001b[2J';
        print(event(evil, 'run.started', { name: 'p' }), spanEvent(evil, 'myapp.call', {}, 'c\n1'));
        for (const [runId, parentRunId, parentSpanId] of [
          ['n1', 42, 'c\n1'],
          ['n2', { toString: () => evil }, undefined],
          ['n3', null, null],
          ['n4', evil, { spanId: 'c\n1' }],
          ['n5', evil, 'x'.repeat(1_000_000)],
          ['n6', evil, 'c\n1'],
        ] as const) {
          print(childStarted(runId, parentRunId, parentSpanId));
        }
        expect(lines).toEqual([
          '[p] ▶ run p\\x1b[2J "p"',
          '[p]   · myapp.call',
          '[n1] ▶ run n1',
          '[n2] ▶ run n2',
          '[n3] ▶ run n3',
          '[p]    ▶ run n4',
          '[p]    ▶ run n5',
          '[p]      ▶ run n6',
        ]);
      });

      it('draws an evaluation under the step it judges, open or ended, and one of the whole run beside its top-level steps', () => {
        const { lines, print } = printerFor(false);
        print(
          event('ev', 'run.started', { name: 'ev' }),
          spanEvent('ev', 'agent.invocation.started', { agentName: 'planner' }, 'a1'),
          spanEvent('ev', 'agent.tool.started', { toolName: 'search', toolCallId: 'c1', argKeys: ['q'] }, 't1', 'a1'),
          spanEvent('ev', 'agent.evaluation.result', { name: 'relevance', score: 0.9, label: 'relevant' }, undefined, 't1'),
          spanEvent('ev', 'agent.tool.completed', { toolName: 'search', toolCallId: 'c1', success: true, durationMs: 3 }, 't1', 'a1'),
          // After the tool returned: still drawn under it.
          spanEvent('ev', 'agent.evaluation.result', { name: 'freshness', label: 'stale', explanation: 'From 2019.' }, undefined, 't1'),
          spanEvent('ev', 'agent.terminate', { reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' }, 'a1'),
          spanEvent('ev', 'agent.evaluation.result', { name: 'tone', score: 2 }, undefined, 'a1'),
          spanEvent('ev', 'agent.evaluation.result', { name: 'task_success', errorType: 'TimeoutError' }),
          event('ev', 'run.completed', { status: 'ok', durationMs: 5 }),
        );
        expect(timeless(lines)).toEqual([
          '▶ run ev "ev"',
          '  ▶ agent planner',
          '    ▶ tool search(q)',
          '      ⚖ eval relevance 0.9 relevant',
          '    ✓ tool search N ms',
          '      ⚖ eval freshness stale · From 2019.',
          '  ✓ agent N ms · completed, 1 iteration, 1 tool call',
          '    ⚖ eval tone 2',
          '  ⚖ eval task_success ✗ TimeoutError',
          '✓ run ok N ms · tokens 0 in / 0 out (0 total)',
        ]);
      });

      it('releases the label of a tree only when none of its runs is followed, through completions and evictions alike', () => {
        const { lines, print } = printerFor(true);
        // A chain of 3000 nested runs, each under the last one's step: past 1000 the oldest are let go.
        print(event('chain-0', 'run.started', { name: 'chain' }), spanEvent('chain-0', 'myapp.call', {}, 's0'));
        for (let i = 1; i < 3000; i++) print(childStarted(`chain-${i}`, `chain-${i - 1}`, `s${i - 1}`), spanEvent(`chain-${i}`, 'myapp.call', {}, `s${i}`));
        expect(lines.filter((line) => line.includes('no longer followed'))).toHaveLength(2000);
        // No line, however deep its run, is indented past 32 levels.
        expect(Math.max(...lines.map((line) => line.length))).toBe('[chain] '.length + 64 + '▶ run chain-2999'.length);
        // 1000 of the chain are followed (chain-2000 to chain-2999) and hold its label.
        print(event('rival', 'run.started', { name: 'chain' }));
        expect(lines.slice(-2)).toEqual(['[chain] ⚠ no longer followed: more than 1000 runs open at once', '[chain#2] ▶ run rival "chain"']);
        // chain-0 was let go long ago: a new child of it is a tree of its own (and chain-2001 is let go).
        print(childStarted('late', 'chain-0', 's0'));
        expect(lines.at(-1)).toBe('[late]    ▶ run late');
        for (let i = 2002; i < 3000; i++) print(event(`chain-${i}`, 'run.completed', { status: 'ok', durationMs: 1 }));
        print(event('again', 'run.started', { name: 'chain' }));
        expect(lines.at(-1)).toBe('[chain]   ▶ run again "chain"');
      });
    });
  });

  describe('failures', () => {
    it('ends quietly with 0 when the reader of its output goes away, as `| head` does', async () => {
      const bus = new EventBus();
      const served = await serve({ bus, public: true, allRuns: true });
      const cli = follow([`${served.base}/events`]);
      await subscribed(bus, 0);
      bus.publish(event('piped', 'run.started'));
      await cli.until((lines) => lines.length === 1);
      const exited = cli.stopReading();
      // Written into a closed pipe: EPIPE.
      for (let i = 0; i < 50 && bus.stats().subscribers > 0; i++) {
        bus.publish(event('piped', 'myapp.step'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await exited).toBe(0);
      expect(cli.stderr()).toBe('');
    });

    it('exits 1 naming the --header flag when the server asks for credentials', async () => {
      await startRun('tail-run-2');
      const { code, stderr } = await tail(['tail', `${base}/runs/tail-run-2/events`]);
      expect(code).toBe(1);
      expect(stderr).toBe(
        `agentbus tail: SSE GET ${base}/runs/tail-run-2/events answered 401: credentials required; send them with --header "authorization: Bearer <token>"\n`,
      );
    });

    it('exits 1 at once naming host, port and cause when nothing listens there', async () => {
      const port = await freePort();
      const { code, stdout, stderr } = await tail([`http://127.0.0.1:${port}/runs/r/events`]);
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toBe(`agentbus tail: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED); is the server running, on that port?\n`);
    });
  });

  describe('a server that sends without end', () => {
    /**
     * A raw server answering every request with `status` and `type`, then `first`,
     * then 64 KiB chunks at the pace the client reads, up to 64 MiB.
     * `written` counts what it sent; `closed` says the client let go.
     */
    async function flooding(status: number, type: string, first: string) {
      const state = { written: 0, closed: false };
      const chunk = Buffer.from('y'.repeat(64 * 1024));
      const floodServer = http.createServer((_req, res) => {
        res.writeHead(status, { 'content-type': type });
        res.write(first);
        res.on('close', () => (state.closed = true));
        const pump = () => {
          while (!res.destroyed && state.written < 64 * 1024 * 1024) {
            state.written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
      });
      await new Promise<void>((resolve) => floodServer.listen(0, '127.0.0.1', resolve));
      const close = () => {
        floodServer.closeAllConnections();
        return new Promise((resolve) => floodServer.close(resolve));
      };
      return { url: `http://127.0.0.1:${(floodServer.address() as AddressInfo).port}/runs/r/events`, state, close };
    }

    it('exits 1 quoting the start of an error body that never ends, having read only its start', async () => {
      const served = await flooding(404, 'text/plain', 'no such run here: ');
      try {
        const { code, stdout, stderr } = await tail([served.url]);
        expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
        expect(stderr).toBe(`agentbus tail: SSE GET ${served.url} answered 404: no such run (or no SSE route at this path) (no such run here: ${'y'.repeat(182)})\n`);
        expect(served.state.closed).toBe(true);
        expect(served.state.written).toBeLessThan(64 * 1024 * 1024);
      } finally {
        await served.close();
      }
    });

    it('exits 1 naming maxEventBytes when the stream sends a line that never ends, instead of holding it all', async () => {
      const served = await flooding(200, 'text/event-stream', 'data: ');
      try {
        const { code, stdout, stderr } = await tail([served.url]);
        expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
        expect(stderr).toBe(
          `agentbus tail: SseProtocolError: SSE GET ${served.url}: an event exceeded maxEventBytes (16777216 bytes), ended or not; stopped reading the stream (raise subscribeSse's maxEventBytes if the server's events are that large)\n`,
        );
        expect(served.state.closed).toBe(true);
        expect(served.state.written).toBeLessThan(64 * 1024 * 1024);
      } finally {
        await served.close();
      }
    });
  });

  it('never prints the password of a URL that carries one', async () => {
    const port = await freePort();
    const { code, stderr } = await tail([`http://reader:s3cr%40t@127.0.0.1:${port}/runs/r/events`]);
    expect(code).toBe(1);
    expect(stderr).toContain(`http://reader:***@127.0.0.1:${port}/runs/r/events`);
    expect(stderr).not.toContain('s3cr');
  });

  describe('command line', () => {
    it.each([
      [['tail'], 'missing <url>'],
      [['tail', 'not a url'], '<url> must be an http(s) URL, got "not a url"'],
      [['tail', 'ftp://host/events'], '<url> must be an http(s) URL, got "ftp://host/events"'],
      [['tail', 'http://a/events', 'http://b/events'], 'unexpected argument "http://b/events" (one <url> only)'],
      [['tail', '--bogus', 'http://a/events'], 'unknown option --bogus'],
      [['tail', '-x', 'http://a/events'], 'unknown option -x'],
      [['tail', 'http://a/events', '--header'], '--header expects a value: "Name: value"'],
      [['tail', 'http://a/events', '-H', 'no colon'], '-H expects "Name: value", got "no colon"'],
      [['tail', 'http://a/events', '--last-event-id'], '--last-event-id expects a sequence number (a non-negative integer), got ""'],
      [['tail', 'http://a/events', '--last-event-id=abc'], '--last-event-id expects a sequence number (a non-negative integer), got "abc"'],
      [['tail', 'http://a/events', '--help=yes'], '--help takes no value'],
    ])('exits 2 on %j with one readable line, the synopsis and where help is', async (args, message) => {
      const { code, stdout, stderr } = await tail(args);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr.split('\n')).toEqual([
        `agentbus tail: ${message}`,
        'usage: agentbus tail <url> [--header "Name: value"]... [--last-event-id N]',
        'Help: agentbus tail --help',
        '',
      ]);
    });

    it('prints the help and exits 0 on -h or --help, even beside a mistake', async () => {
      for (const args of [['-h'], ['tail', '--bogus', '--help']]) {
        const { code, stdout, stderr } = await tail(args);
        expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
        expect(stdout).toMatch(/^usage: agentbus tail <url> /);
        expect(stdout).toContain('Exit status: 0 when the stream ended, 1 on an error, 2 on bad usage, 130 on Ctrl-C.');
      }
    });

    it('takes the option forms parseArgs reads: -Hvalue, --name=value and -- before the url', async () => {
      await startRun('tail-run-3');
      const { code, stdout, stderr } = await tail(['tail', `-H${AUTH}`, '--last-event-id=3', '--', `${base}/runs/tail-run-3/events`]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      // Resumed after event 3: the run's first lines are not replayed.
      expect(stdout).not.toContain('▶ run tail-run-3');
      expect(stdout).not.toContain('▶ agent lexicon');
      expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^✓ run ok \d+ ms · tokens /);
    });
  });

  describe('colour', () => {
    const colourRun = 'tail-colour';
    const plain = ['▶ run tail-colour "colours"', '  ▶ agent lexicon (m1)', '✓ run ok 5 ms · tokens 0 in / 0 out (0 total)'];
    // Byte for byte what every supported Node writes: styleText's SGR codes.
    const coloured = [
      '▶ run tail-colour "colours"',
      '  ▶ \u001b[36magent lexicon\u001b[39m\u001b[2m (m1)\u001b[22m',
      '\u001b[32m✓\u001b[39m run ok \u001b[2m5 ms\u001b[22m · tokens 0 in / 0 out (0 total)',
    ];

    beforeAll(() => {
      publishRun(colourRun, [
        ['run.started', { name: 'colours' }],
        ['agent.invocation.started', { agentName: 'lexicon', model: 'm1' }],
        ['run.completed', { status: 'ok', durationMs: 5 }],
      ]);
    });

    it('into a pipe colours only when FORCE_COLOR asks, and FORCE_COLOR wins over NO_COLOR', async () => {
      const cases: Array<[Record<string, string>, string[]]> = [
        [{}, plain],
        [{ NO_COLOR: '1' }, plain],
        [{ FORCE_COLOR: '1' }, coloured],
        [{ FORCE_COLOR: '' }, coloured],
        [{ FORCE_COLOR: '1', NO_COLOR: '1' }, coloured],
        [{ FORCE_COLOR: '0' }, plain],
        [{ FORCE_COLOR: 'false' }, plain],
      ];
      for (const [env, expected] of cases) {
        const { code, stdout } = await tail([`${base}/runs/${colourRun}/events`, '-H', AUTH], env);
        expect(code).toBe(0);
        expect(stdout.trimEnd().split('\n'), JSON.stringify(env)).toEqual(expected);
      }
    });

    // util-linux `script` runs the CLI on a real pseudo-terminal.
    const hasScript = (() => {
      try {
        return execFileSync('script', ['--version'], { encoding: 'utf8' }).includes('util-linux');
      } catch {
        return false;
      }
    })();

    it.skipIf(!hasScript)('on a terminal colours unless a non-empty NO_COLOR, FORCE_COLOR=0 or TERM=dumb says no', async () => {
      const cases: Array<[Record<string, string>, string[]]> = [
        [{}, coloured],
        [{ NO_COLOR: '1' }, plain],
        [{ NO_COLOR: '' }, coloured],
        [{ FORCE_COLOR: '0' }, plain],
        [{ TERM: 'dumb' }, plain],
      ];
      const command = [process.execPath, BIN, `${base}/runs/${colourRun}/events`, '-H', AUTH].map((arg) => `'${arg}'`).join(' ');
      for (const [env, expected] of cases) {
        const stdout = await new Promise<string>((resolve, reject) => {
          execFile('script', ['-qec', command, '/dev/null'], { env: cliEnv({ TERM: 'xterm-256color', ...env }), timeout: 20_000 }, (error, out) =>
            error === null ? resolve(out) : reject(error),
          );
        });
        // The terminal writes each line end as CR LF.
        expect(stdout.replaceAll('\r\n', '\n').trimEnd().split('\n'), JSON.stringify(env)).toEqual(expected);
      }
    });
  });
});

/** `text` as a literal inside a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
