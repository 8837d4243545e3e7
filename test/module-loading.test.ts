// Zero cost when idle, checked in fresh processes: a whole agent run with no
// run context builds no bus and loads no @opentelemetry/* module; importing
// `agentbus` (and running a run through it) loads no @opentelemetry/* module;
// importing `agentbus/otel` loads only the API until setupOtlp is called. Checked in a fresh Node process against the built
// package (dist/), with a module.register resolve hook that writes every
// resolved URL to a file, plus require.cache for anything loaded as CommonJS.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;

const hooks = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}
`;

const register = `
import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { log: process.env.AGENTBUS_RESOLVE_LOG } });
`;

function run(script: string, log: string): Promise<{ stdout: string; resolved: string[] }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script],
      { cwd: repoRoot, env: { ...process.env, AGENTBUS_RESOLVE_LOG: log }, timeout: 60_000 },
      async (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        const resolved = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
        resolvePromise({ stdout, resolved });
      },
    );
  });
}

// After the imports, list CommonJS modules too (a dependency could require() one).
const listCjs = `
import { createRequire } from 'node:module';
const cjs = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify(cjs.filter((p) => p.includes('@opentelemetry'))));
`;

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'index.js')) || !existsSync(join(repoRoot, 'dist', 'otel', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  dir = await mkdtemp(join(tmpdir(), 'agentbus-import-'));
  await writeFile(join(dir, 'hooks.mjs'), hooks);
  await writeFile(join(dir, 'register.mjs'), register);
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const otel = (urls: string[]) => urls.filter((u) => u.includes('@opentelemetry'));
const redisClient = (urls: string[]) => urls.filter((u) => /\/node_modules\/(?:redis|@redis)\//.test(u));

describe('module loading in a fresh process', () => {
  it('a full agent run with no run context builds no bus and loads no @opentelemetry module', async () => {
    const { stdout, resolved } = await run(
      `
      const { peekEventBus } = await import('agentbus');
      const { Agent, ScriptedModel, defineTool } = await import('agentbus/agent');
      const { z } = await import('zod');
      const add = defineTool({ name: 'add', description: 'Adds.', input: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
      const result = await new Agent({ model: new ScriptedModel(), tools: [add] }).run('add two numbers');
      if (result.toolCalls.length !== 1 || result.reason !== 'completed') throw new Error('the agent did not run its tool');
      if (peekEventBus() !== undefined) throw new Error('the bus was built');
      ${listCjs}
      `,
      join(dir, 'idle.log'),
    );
    expect(resolved.some((u) => u.endsWith('/dist/agent/index.js'))).toBe(true);
    expect(otel(resolved)).toEqual([]);
    expect(JSON.parse(stdout.trim())).toEqual([]);
  });

  it('importing agentbus and running a run loads no @opentelemetry module', async () => {
    const { stdout, resolved } = await run(
      `
      const { runContext, traceTool, getEventBus } = await import('agentbus');
      await runContext(() => traceTool({ name: 'add', args: { a: 1 } }, () => 2));
      if (getEventBus().stats().published !== 4) throw new Error('the run was not recorded');
      ${listCjs}
      `,
      join(dir, 'core.log'),
    );
    expect(resolved.some((u) => u.endsWith('/dist/index.js'))).toBe(true);
    expect(otel(resolved)).toEqual([]);
    expect(redisClient(resolved)).toEqual([]);
    expect(JSON.parse(stdout.trim())).toEqual([]);
  });

  // Subpaths whose optional peer loads only when asked for: importing them and running a run loads none of it.
  it.each([
    ['agentbus/redis', 'redis', ['attachRedisBackplane', 'createRedisRunSource'], redisClient],
    ['agentbus/mcp', 'mcp', ['instrumentMcpClient', 'instrumentMcpServer'], (urls: string[]) => urls.filter((u) => u.includes('@modelcontextprotocol'))],
  ] as const)('importing %s and running a run loads nothing of its peer package', async (subpath, name, exports, peer) => {
    const { resolved } = await run(
      `
      const entry = await import('${subpath}');
      for (const name of ${JSON.stringify(exports)}) if (typeof entry[name] !== 'function') throw new Error('${subpath} exports changed: ' + name);
      const { runContext, traceTool, getEventBus } = await import('agentbus');
      await runContext(() => traceTool({ name: 'add', args: { a: 1 } }, () => 2));
      if (getEventBus().stats().published !== 4) throw new Error('the run was not recorded');
      `,
      join(dir, `${name}.log`),
    );
    expect(resolved.some((u) => u.endsWith(`/dist/${name}/index.js`))).toBe(true);
    expect(peer(resolved)).toEqual([]);
  });

  it('importing agentbus/otel and attaching the bridge loads the API and no SDK package', async () => {
    const { stdout, resolved } = await run(
      `
      const { instrumentOtel } = await import('agentbus/otel');
      const { runContext, traceTool } = await import('agentbus');
      const bridge = instrumentOtel();
      await runContext(() => traceTool({ name: 'add', args: { a: 1 } }, () => 2));
      bridge.shutdown();
      ${listCjs}
      `,
      join(dir, 'otel.log'),
    );
    const loaded = [...otel(resolved), ...(JSON.parse(stdout.trim()) as string[])];
    expect(loaded.some((u) => u.includes('@opentelemetry/api/'))).toBe(true);
    expect(loaded.filter((u) => !u.includes('@opentelemetry/api/'))).toEqual([]);
  });
});
