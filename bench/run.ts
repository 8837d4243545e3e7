/**
 * Runs every `bench/*.bench.ts` in a fresh Node process (so one benchmark's
 * JIT state and heap do not colour the next) and prints one JSON document.
 *
 *   npm run bench                 all benchmarks
 *   npm run bench -- publish      only those whose file name contains "publish"
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts') && (filter === undefined || f.includes(filter)))
  .sort();

const results: unknown[] = [];
let failed = false;
for (const file of files) {
  // A bench may ask for V8 flags on its first line: `// node-flags: --max-semi-space-size=256`.
  const flags = /^\/\/ node-flags: (.*)$/m.exec(readFileSync(join(here, file), 'utf8').split('\n')[0] ?? '')?.[1]?.split(' ') ?? [];
  const child = spawnSync(process.execPath, ['--expose-gc', ...flags, '--import', 'tsx', join(here, file)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = child.stdout.split('\n').filter((l) => l.startsWith('{'));
  if (child.status !== 0 || lines.length === 0) {
    failed = true;
    results.push({ bench: file, error: `exited with ${child.status ?? child.signal}` });
    continue;
  }
  for (const line of lines) results.push(JSON.parse(line));
}
process.stdout.write(`${JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, results }, null, 2)}\n`);
if (failed) process.exitCode = 1;
