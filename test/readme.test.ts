/**
 * README examples are tested code: every ```ts block in README.md is written
 * to a file inside the package (so `import ... from 'agentbus'` resolves to
 * the build) and run with tsx. A block must exit 0; blocks assert with
 * node:assert where they claim something.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = join(root, '.readme-examples');
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const run = promisify(execFile);

describe('README examples', () => {
  mkdirSync(dir, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has examples to run', () => {
    expect(blocks.length).toBeGreaterThan(2);
  });

  it.each(blocks.map((code, i) => [i + 1, code.split('\n')[0] ?? '', code] as const))(
    'example %i (%s) runs to completion',
    async (index, _title, code) => {
      const file = join(dir, `example-${index}.ts`);
      writeFileSync(file, code);
      const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
      const { stderr } = await run(process.execPath, [tsx, file], { cwd: root, timeout: 60_000, env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' } });
      expect(stderr).toBe('');
    },
  );
});
