// README examples are tested code: the blocks of one fence info string
// (```ts, or ```ts redis for those needing a redis-server), each written to a
// file inside the package (so `import ... from 'agentbus'` resolves to the
// build) and run with tsx. Shared by test/readme.test.ts and
// test/e2e/readme-redis.e2e.test.ts.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The package's root directory. */
export const root = join(import.meta.dirname, '..');

/** The code of every README block fenced exactly with "```" + `info`, in order. */
export function readmeBlocks(info: string): string[] {
  const fence = new RegExp('```' + info.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\n([\\s\\S]*?)```', 'g');
  return [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(fence)].map((m) => m[1] as string);
}

/** Writes `code` to `dir/example-<index>.ts` and runs it with tsx; resolves with its stderr (rejects on a non-zero exit). */
export async function runReadmeBlock(dir: string, index: number, code: string, env: Record<string, string> = {}): Promise<string> {
  const file = join(dir, `example-${index}.ts`);
  writeFileSync(file, code);
  const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const { stderr } = await promisify(execFile)(process.execPath, [tsx, file], {
    cwd: root,
    timeout: 60_000,
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
  });
  return stderr;
}
