/**
 * The README's Redis examples are tested code too: blocks fenced as
 * ```ts redis need a redis-server, so they run here (the end-to-end suite
 * has one) rather than in test/readme.test.ts. Each runs with tsx against
 * the build, with REDIS_URL set to a fresh server, and must exit 0 with
 * nothing on stderr.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeBlocks, root, runReadmeBlock } from '../readme-blocks.js';
import { startRedis, type RedisServer } from '../redis-harness.js';

const dir = join(root, '.readme-redis-examples');
const blocks = readmeBlocks('ts redis');

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
      expect(await runReadmeBlock(dir, index, code, { REDIS_URL: redis.url })).toBe('');
    },
  );
});
