/**
 * The README's Redis examples are tested code too: blocks fenced as
 * ```ts redis need a redis-server, so they run here (the end-to-end suite
 * has one) rather than in test/readme.test.ts. Each runs with tsx against
 * the build, with REDIS_URL set to a fresh server, and must exit 0 with
 * nothing on stderr.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../redis-harness.js';

const root = join(import.meta.dirname, '..', '..');
const dir = join(root, '.readme-redis-examples');
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts redis\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const run = promisify(execFile);

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
  mkdirSync(dir, { recursive: true });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await redis?.stop();
});

describe('README examples that need Redis', () => {
  it('has some', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((code, i) => [i + 1, code.split('\n')[0] ?? '', code] as const))(
    'example %i (%s) runs to completion',
    async (index, _title, code) => {
      const file = join(dir, `example-${index}.ts`);
      writeFileSync(file, code);
      const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
      const { stderr } = await run(process.execPath, [tsx, file], {
        cwd: root,
        timeout: 60_000,
        env: { ...process.env, REDIS_URL: redis.url, OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      });
      expect(stderr).toBe('');
    },
  );
});
