/**
 * README examples are tested code: every ```ts block in README.md is written
 * to a file inside the package (so `import ... from 'agentbus'` resolves to
 * the build) and run with tsx. A block must exit 0; blocks assert with
 * node:assert where they claim something.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeBlocks, root, runReadmeBlock } from './readme-blocks.js';

const dir = join(root, '.readme-examples');
const blocks = readmeBlocks('ts');

describe('README examples', () => {
  mkdirSync(dir, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has examples to run', () => {
    expect(blocks.length).toBeGreaterThan(2);
  });

  it.each(blocks.map((code, i) => [i + 1, code.split('\n')[0] ?? '', code] as const))(
    'example %i (%s) runs to completion',
    async (index, _title, code) => {
      expect(await runReadmeBlock(dir, index, code)).toBe('');
    },
  );
});
