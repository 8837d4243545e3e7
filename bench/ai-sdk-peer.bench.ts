/**
 * A peer row: the same AI SDK `generateText` traced by the SDK's own
 * OpenTelemetry integration and by our adapter + bridge, same provider and
 * exporter; per-call overhead of each over the untraced call. Target: ours
 * at or below the SDK's own. The measuring is `ai-sdk-peer-node22.ts`: the
 * AI SDK 7 needs Node >= 22, so it runs in a child under the Node given by
 * AGENTBUS_BENCH_NODE, else the Node 24 CI installs under the agentbus cache
 * (AGENTBUS_CACHE, default ~/.cache/agentbus). Without one, the row says
 * skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const cache = process.env.AGENTBUS_CACHE ?? join(homedir(), '.cache', 'agentbus');
const node = process.env.AGENTBUS_BENCH_NODE ?? join(cache, 'node24', 'node_modules', '.bin', 'node');

function nodeMajor(binary: string): number | undefined {
  if (!existsSync(binary)) return undefined;
  const out = spawnSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return out.status === 0 ? Number(out.stdout.trim().split('.')[0]) : undefined;
}

const major = nodeMajor(node);
if (major === undefined || major < 22) {
  const found = major === undefined ? 'none there' : `Node ${major} there`;
  report('ai-sdk-peer', { skipped: `no Node >= 22 found (AGENTBUS_BENCH_NODE or ${join(cache, 'node24')}: ${found})` });
} else {
  const child = spawnSync(node, ['--expose-gc', '--import', 'tsx', join(here, 'ai-sdk-peer-node22.ts')], {
    cwd: join(here, '..'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
  if (child.status !== 0 || line === undefined) throw new Error(`ai-sdk-peer: ${node} exited with ${child.status ?? child.signal}`);
  report('ai-sdk-peer', JSON.parse(line) as Record<string, unknown>);
}
