/**
 * The package as a user gets it: `npm pack` of the build, unpacked into a
 * project outside the repo, then read the way npm, Node (`import` and
 * `require`), TypeScript, publint and arethetypeswrong read it.
 *
 * The tarball is packed with `--ignore-scripts` from the build `npm test`
 * just made (the `prepack` clean build would pull dist/ from under the other
 * suites). The project's node_modules links agentbus's own dependencies, and
 * the peers a program below uses, from the repo's, so nothing is downloaded.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
};

/** What a child process printed, whether or not it succeeded. */
interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string): Promise<Outcome> {
  return new Promise((resolveRun) => {
    execFile(file, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolveRun({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr });
    });
  });
}

/** Runs a dev dependency's command-line tool with the Node running the tests. */
function tool(pkg: string, command: string, args: string[], cwd: string): Promise<Outcome> {
  const pkgDir = join(repoRoot, 'node_modules', pkg);
  const bin = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin[command];
  if (bin === undefined) throw new Error(`${pkg} has no bin named ${command}`);
  return run(process.execPath, [join(pkgDir, bin), ...args], cwd);
}

/** Every file path an `exports` value can resolve to. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

// Node 22.12 (not 20.19, nor 22.13 and later) still calls require(esm) experimental, once per process.
const REQUIRE_ESM_WARNING =
  /^\(node:\d+\) ExperimentalWarning: CommonJS module \S+ is loading ES Module \S+ using require\(\)\.\nSupport for loading ES Module in require\(\) is an experimental feature and might change at any time\n\(Use `node --trace-warnings \.\.\.` to show where the warning was created\)\n/;

const SUBPATHS = ['agentbus', 'agentbus/agent', 'agentbus/sse', 'agentbus/otel', 'agentbus/ai-sdk', 'agentbus/openai-agents', 'agentbus/langchain', 'agentbus/redis', 'agentbus/mcp', 'agentbus/ui'];

// Linked into the project: agentbus's dependencies, and what the programs below import beside it.
const LINKED = [...Object.keys(manifest.dependencies), '@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@langchain/core', '@types/node'];

let dir: string;
let project: string;
let tarball: string;
/** Paths in the tarball, without the leading `package/`. */
let files: Set<string>;

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  dir = await mkdtemp(join(tmpdir(), 'agentbus-package-'));
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repoRoot);
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  tarball = join(dir, filename);

  const listing = await run('tar', ['-tzf', tarball], dir);
  files = new Set(listing.stdout.split('\n').filter(Boolean).map((path) => path.replace(/^package\//, '')));

  project = join(dir, 'project');
  const installed = join(project, 'node_modules', manifest.name);
  await mkdir(installed, { recursive: true });
  await writeFile(join(project, 'package.json'), '{ "name": "agentbus-user", "private": true }\n');
  const unpacked = await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], dir);
  if (unpacked.code !== 0) throw new Error(`tar failed:\n${unpacked.stderr}`);
  for (const name of LINKED) {
    const link = join(project, 'node_modules', name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(join(repoRoot, 'node_modules', name), link, 'dir');
  }
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the license, the readme and the manifest', () => {
    expect([...files].filter((path) => ['LICENSE', 'README.md', 'package.json'].includes(path)).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(readFileSync(join(repoRoot, 'LICENSE'), 'utf8')).toMatch(/^ {33}Apache License\n {27}Version 2\.0, January 2004\n/);
  });

  it('holds no tests, benchmarks, examples, scripts or build configuration', () => {
    const unwanted = [...files].filter(
      (path) =>
        /^(test|bench|examples|scripts|\.ci|\.readme-examples|node_modules)\//.test(path) ||
        /\.(test|e2e\.test|bench)\.[cm]?[jt]s$/.test(path) ||
        /^(tsconfig.*|vitest.*)\.[a-z]+$/.test(path),
    );
    expect(unwanted).toEqual([]);
  });

  it('holds every file that exports, main, types and bin name', () => {
    const targets = [...exportTargets(manifest.exports), manifest.main, manifest.types, ...Object.values(manifest.bin)];
    expect(targets.length).toBeGreaterThan(SUBPATHS.length * 2);
    const missing = targets.map((target) => posix.normalize(target)).filter((path) => !files.has(path));
    expect(missing).toEqual([]);
  });

  it('holds the file every source map points at, and the map every sourceMappingURL names', async () => {
    const missing: string[] = [];
    const maps = [...files].filter((path) => path.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(await readFile(join(project, 'node_modules', manifest.name, map), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const source of sources) {
        const path = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source));
        if (!files.has(path)) missing.push(`${map} -> ${path}`);
      }
    }
    for (const file of [...files].filter((path) => /\.(js|d\.ts)$/.test(path))) {
      const text = await readFile(join(project, 'node_modules', manifest.name, file), 'utf8');
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
      if (url !== undefined && !files.has(posix.join(posix.dirname(file), url))) missing.push(`${file} -> ${url}`);
    }
    // A map whose source is gone is usually a stale build output: `npm pack` (prepack) builds from a clean dist/.
    expect(missing).toEqual([]);
  });

  it('passes publint --strict', async () => {
    const result = await tool('publint', 'publint', ['--strict', '--pack', 'false', join(project, 'node_modules', manifest.name)], dir);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('All good!');
  });

  // esm-only: the package ships ES modules only. CommonJS programs load them through
  // Node's require(esm) (tested below), which arethetypeswrong's node16 model does not
  // know; TypeScript's `module: node16` refuses it too, `module: nodenext` accepts it.
  it('passes arethetypeswrong with the esm-only profile', async () => {
    const result = await tool('@arethetypeswrong/cli', 'attw', [tarball, '--profile', 'esm-only', '--no-color'], dir);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});

describe('the installed package', () => {
  it('a CommonJS program requires every entry and uses it', async () => {
    await writeFile(
      join(project, 'program.cjs'),
      `'use strict';
const assert = require('node:assert/strict');
const { z } = require('zod');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { emit, getEventBus, runContext } = require('agentbus');
const { createSseHandler } = require('agentbus/sse');
const { Agent, ScriptedModel, defineTool } = require('agentbus/agent');
const { instrumentOtel } = require('agentbus/otel');
const { AgentbusTelemetry } = require('agentbus/ai-sdk');
const { AgentbusTraceProcessor } = require('agentbus/openai-agents');
const { AgentbusCallbackHandler } = require('agentbus/langchain');

(async () => {
  const exporter = new InMemorySpanExporter();
  const bridge = instrumentOtel({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }) });
  const add = defineTool({ name: 'add', description: 'Adds.', input: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
  const agent = new Agent({ name: 'cjs', model: new ScriptedModel(), tools: [add] });

  const seen = [];
  let reading;
  const result = await runContext(async (runId) => {
    const sub = getEventBus().subscribe(runId);
    reading = (async () => { for await (const event of sub) seen.push(event.eventType); })();
    emit('cjs.hello', { from: 'require' });
    return agent.run('add 2 and 3');
  }, { runId: 'cjs-run' });
  await reading;
  bridge.shutdown();
  assert.equal(result.reason, 'completed');
  assert.deepEqual(seen.slice(0, 2), ['run.started', 'cjs.hello']);
  assert.ok(seen.includes('agent.tool.completed') && seen.at(-1) === 'run.completed', seen.join(' '));
  assert.deepEqual(exporter.getFinishedSpans().map((span) => span.name).sort(), ['chat scripted', 'chat scripted', 'execute_tool add', 'invoke_agent cjs']);

  const response = await createSseHandler({ public: true })(new Request('http://localhost/runs/cjs-run/events'));
  const frames = await response.text();
  assert.match(frames, /\\nevent: cjs\\.hello\\n/);
  assert.match(frames, /\\nevent: end\\ndata: \\{"runId":"cjs-run","reason":"closed"\\}\\n/);

  for (const Adapter of [AgentbusTelemetry, AgentbusTraceProcessor, AgentbusCallbackHandler]) assert.equal(typeof new Adapter(), 'object');
  console.log('ok');
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
    );
    const result = await run(process.execPath, ['program.cjs'], project);
    expect(result.stderr.replace(REQUIRE_ESM_WARNING, '')).toBe('');
    expect(result.stdout).toBe('ok\n');
    expect(result.code).toBe(0);
  });

  it('an ES module imports every entry', async () => {
    const imports = SUBPATHS.map((subpath, i) => `import * as m${i} from '${subpath}';`).join('\n');
    await writeFile(
      join(project, 'program.mjs'),
      `${imports}\nconsole.log([${SUBPATHS.map((_, i) => `Object.keys(m${i}).length`).join(', ')}].every((n) => n > 0) ? 'ok' : 'empty');\n`,
    );
    const result = await run(process.execPath, ['program.mjs'], project);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  });

  it('serves the console page from its own files (they ship as they are, beside dist/)', async () => {
    expect([...files].filter((path) => path.startsWith('src/ui/page/')).sort()).toEqual([
      'src/ui/page/console.css',
      'src/ui/page/console.js',
      'src/ui/page/favicon.svg',
      'src/ui/page/index.html',
    ]);
    await writeFile(
      join(project, 'console.mjs'),
      `import { createUiHandler } from 'agentbus/ui';
const ui = createUiHandler({ basePath: '/ui', sseBase: '/api' });
const page = await (await ui(new Request('http://x/ui/'))).text();
const script = await ui(new Request('http://x/ui/console.js'));
console.log(page.includes('content="/api"') && script.status === 200 && (await script.text()).includes('class SseReader') ? 'ok' : 'missing');
`,
    );
    const result = await run(process.execPath, ['console.mjs'], project);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  });

  it('type-checks for a CommonJS TypeScript file with module nodenext', async () => {
    await writeFile(
      join(project, 'program.cts'),
      `import agentbus = require('agentbus');
import agent = require('agentbus/agent');
import sse = require('agentbus/sse');
import otel = require('agentbus/otel');
import aiSdk = require('agentbus/ai-sdk');
import openaiAgents = require('agentbus/openai-agents');
import langchain = require('agentbus/langchain');

export const answer: Promise<number> = agentbus.runContext(async (runId: string) => runId.length);
export const model: agent.Model = new agent.ScriptedModel();
export const handler: sse.SseHandler = sse.createSseHandler({ authorize: (request: Request) => request.headers.has('cookie') });
export const bridge: otel.OtelBridge = otel.instrumentOtel();
export const adapters = [new aiSdk.AgentbusTelemetry(), new openaiAgents.AgentbusTraceProcessor(), new langchain.AgentbusCallbackHandler()];
`,
    );
    const result = await tool(
      'typescript',
      'tsc',
      ['--module', 'nodenext', '--target', 'es2022', '--strict', '--noEmit', '--skipLibCheck', '--types', 'node', 'program.cts'],
      project,
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});
