// One process bus, reached one way: registered on globalThis under one
// symbol with the registering copy's version, shared by every copy of
// agentbus whose version is compatible (two installs, a bundle beside the
// package), and not shared, with one warning, by a copy that is not.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEventBus } from '../src/global.js';
import { isCompatibleVersion, VERSION } from '../src/version.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

describe('the package version', () => {
  it('is package.json’s', () => {
    expect(VERSION).toBe((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it.each([
    ['0.1.0', '0.1.0', true],
    ['0.1.0', '0.1.7', true],
    ['0.1.7', '0.1.0', true],
    ['0.1.0', '0.2.0', false],
    ['0.2.0', '0.1.0', false],
    ['1.2.0', '1.3.1', true],
    ['1.3.0', '1.2.9', false],
    ['1.0.0', '2.0.0', false],
    ['2.0.0', '1.9.0', false],
    ['1.0.0-rc.1', '1.0.0-rc.1', true],
    ['1.0.0', '1.0.0-rc.1', false],
    ['1.0.0', 'not a version', false],
  ] as const)('%s can use a bus of %s: %s', (own, other, compatible) => {
    expect(isCompatibleVersion(own, other)).toBe(compatible);
  });
});

describe('the process bus', () => {
  it('is registered on globalThis under one symbol, not enumerable, with this copy’s version', () => {
    const bus = getEventBus();
    const registration = (globalThis as Record<symbol, unknown>)[Symbol.for('agentbus.processBus')];
    expect(registration).toEqual({ version: VERSION, bus });
    expect(Object.getOwnPropertySymbols(globalThis).includes(Symbol.for('agentbus.processBus'))).toBe(true);
    expect(Object.keys(globalThis)).not.toContain(Symbol.for('agentbus.processBus').toString());
    expect(Object.getOwnPropertyDescriptor(globalThis, Symbol.for('agentbus.processBus'))?.enumerable).toBe(false);
  });
});

describe('two copies of the built package in one process', () => {
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    dir = await mkdtemp(join(tmpdir(), 'agentbus-copies-'));
    // Their dependencies (zod, ...) resolve from the repo's node_modules.
    await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const copy of ['a', 'b', 'c']) {
      await cp(join(repoRoot, 'dist'), join(dir, copy, 'dist'), { recursive: true });
      await writeFile(join(dir, copy, 'package.json'), JSON.stringify({ name: `agentbus-copy-${copy}`, type: 'module' }));
    }
    // Copy c claims a major version this one cannot share with.
    const versionFile = join(dir, 'c', 'dist', 'version.js');
    const source = await readFile(versionFile, 'utf8');
    const patched = source.replace(`export const VERSION = '${VERSION}';`, "export const VERSION = '1.0.0';");
    if (patched === source) throw new Error('dist/version.js does not declare VERSION as expected');
    await writeFile(versionFile, patched);
  });

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('share one bus when their versions are compatible, and a copy whose version is not keeps its own and warns once', async () => {
    const entry = (copy: string) => JSON.stringify(pathToFileURL(join(dir, copy, 'dist', 'index.js')).href);
    const script = `
      import { createRequire } from 'node:module';
      const warnings = [];
      process.on('warning', (w) => { if (w.name === 'AgentbusWarning') warnings.push({ code: w.code, message: w.message }); });
      const a = await import(${entry('a')});
      const b = await import(${entry('b')});
      const out = {};
      out.twoCopies = a.EventBus !== b.EventBus && a.runContext !== b.runContext;
      out.sameBus = a.getEventBus() === b.getEventBus();
      // require(esm) of copy b is copy b: the same module, so the same bus.
      out.requiredSameBus = createRequire(import.meta.url)(new URL(${entry('b')}).pathname).getEventBus() === a.getEventBus();

      // A listener added through copy b hears a run recorded through copy a.
      const heard = [];
      b.getEventBus().addListener({ onEvent: (e) => heard.push(e.runId + ' ' + e.eventType) });
      await a.runContext(() => a.emit('app.from_a', {}), { runId: 'from-a' });
      out.heard = heard;

      // A bus made by one copy is a bus to the other.
      const own = new a.EventBus();
      await b.runContext(() => b.emit('app.cross', {}), { runId: 'cross', bus: own });
      out.cross = own.history('cross').map((e) => e.eventType);

      // A reset through one copy replaces the bus of both.
      const fresh = b.resetEventBus({});
      out.resetShared = a.getEventBus() === fresh && a.peekEventBus() === fresh;

      const c = await import(${entry('c')});
      out.cOwnBus = c.getEventBus() !== a.getEventBus() && c.getEventBus() === c.getEventBus();
      await c.runContext(() => c.emit('app.from_c', {}), { runId: 'from-c' });
      out.cApart = c.getEventBus().hasRun('from-c') && !a.getEventBus().hasRun('from-c');
      try {
        await c.runContext(() => 1, { bus: a.getEventBus() });
        out.refused = 'accepted';
      } catch (error) {
        out.refused = error.message;
      }
      await new Promise((r) => setImmediate(r));
      out.warnings = warnings;
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({
      twoCopies: true,
      sameBus: true,
      requiredSameBus: true,
      heard: ['from-a run.started', 'from-a app.from_a', 'from-a run.completed'],
      cross: ['run.started', 'app.cross', 'run.completed'],
      resetShared: true,
      cOwnBus: true,
      cApart: true,
      refused: `runContext: options.bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got an EventBus of agentbus ${VERSION}, a version this one (1.0.0) cannot use`,
      warnings: [
        {
          code: 'AGENTBUS_VERSION_CONFLICT',
          message: `agentbus 1.0.0: the process bus was registered by agentbus ${VERSION}, which this version cannot share it with; this copy records into a bus of its own, which the other copy's listeners, subscribers and SSE handlers do not see. Load one version of agentbus (\`npm ls agentbus\` lists them).`,
        },
      ],
    });
  });
});
