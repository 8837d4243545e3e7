import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const tsxCli = `${root}node_modules/tsx/dist/cli.mjs`;
const example = 'examples/tutorial-52-observability-basics.ts';

/** The canonical event types of one agent run with one tool call, in order. */
const RUN_WITH_ONE_TOOL = [
  'run.started',
  'agent.invocation.started',
  'agent.model.started',
  'agent.tokens.used',
  'agent.model.completed',
  'agent.think',
  'agent.tool.started',
  'agent.tool.completed',
  'agent.model.started',
  'agent.tokens.used',
  'agent.model.completed',
  'agent.think',
  'agent.terminate',
  'run.completed',
];

/** The event types listed in one part of the output (lines like `   3      agent.model.started   ...`). */
function listedTypes(section: string): string[] {
  return [...section.matchAll(/^ {2}\s*\d+ {2}\s*([a-z]+(?:\.[a-z_]+)+)/gm)].map((m) => m[1] as string);
}

let stdout = '';

beforeAll(async () => {
  // The example imports 'agentbus' and 'agentbus/agent', which resolve to dist/.
  // `npm test` builds it before vitest starts. This file must not rebuild it:
  // test/package.test.ts packs dist/ in a parallel worker, and a file that tsc
  // is rewriting reads as truncated to npm pack (a CI run failed that way).
  if (!existsSync(`${root}dist/index.js`) || !existsSync(`${root}dist/agent/index.js`)) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  const env = { ...process.env };
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // The same Node that runs the tests runs the example (tsx starts its child with process.execPath).
  ({ stdout } = await run(process.execPath, [tsxCli, example], { cwd: root, env, timeout: 60_000 }));
}, 120_000);

describe('tutorial 52 (npm start)', () => {
  it('part 1 runs the agent with no run open and shows the bus was never built', () => {
    const part1 = stdout.split('Part 2')[0] as string;
    expect(part1).toContain('Part 1: no runContext, no telemetry');
    expect(part1).toContain('agent reply: Here is what I found: get_weather says Lisbon: 21°C, sunny.');
    expect(part1).toContain('peekEventBus() is undefined: the bus was never built');
    expect(listedTypes(part1)).toEqual([]);
  });

  it('part 2 prints every event of the run live, nested, through run.completed', () => {
    const part2 = (stdout.split('Part 2')[1] as string).split('Part 3')[0] as string;
    expect(listedTypes(part2)).toEqual(RUN_WITH_ONE_TOOL);
    expect(part2).toMatch(/^ {4}2 {4}agent\.invocation\.started +agent=travel-assistant/m);
    expect(part2).toMatch(/^ {4}7 {6}agent\.tool\.started +get_weather\(city\)/m);
    expect(part2).toMatch(/^ {4}8 {6}agent\.tool\.completed +ok → Paris: 14°C, light rain/m);
    expect(part2).toContain('saw 14 events live; the stream is closed.');
  });

  it('part 3 replays the whole history to a subscriber that arrives after the run, then ends', () => {
    const part3 = stdout.split('Part 3')[1] as string;
    expect(part3).toContain('agent reply: Here is what I found: calculator says 2 + 2 = 4.');
    expect(listedTypes(part3)).toEqual(RUN_WITH_ONE_TOOL);
    expect(part3).toContain('replayed 14 events from history, then the subscription ended (closed).');
  });
});
