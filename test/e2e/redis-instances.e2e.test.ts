// Several instances, one Redis: three separate Node processes, each a copy of
// examples/sse-server.ts started with REDIS_URL, and one real redis-server. A
// run executing in process A is served over SSE by B and C, read with the
// package's client and with the independent `eventsource` package.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamEvent, type StreamEvent } from 'agentbus';
import { subscribeSse } from 'agentbus/sse';
import { startRedis, type RedisServer } from '../redis-harness.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Instance {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

/** Starts one copy of the example server on a free port, sharing runs through `redisUrl`. */
async function startInstance(redisUrl: string): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples/sse-server.ts'), '0'], {
    cwd: repoRoot,
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance did not start within 30 s:\n${output}`)), 30_000);
    const onData = () => {
      const match = /live run viewer on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolveUrl(match[1] as string);
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code}:\n${output}`));
    });
  });
  return { url, child, output: () => output };
}

async function stopInstance(instance: Instance | undefined): Promise<void> {
  if (instance === undefined || instance.child.exitCode !== null) return;
  const exited = new Promise<void>((r) => instance.child.once('exit', () => r()));
  instance.child.kill('SIGTERM');
  const timer = setTimeout(() => instance.child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function startRun(instance: Instance, delayMs: number): Promise<string> {
  const response = await fetch(`${instance.url}/runs`, { method: 'POST', body: JSON.stringify({ delayMs }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { runId: string }).runId;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let redis: RedisServer;
let a: Instance;
let b: Instance;
let c: Instance;

beforeAll(async () => {
  redis = await startRedis();
  [a, b, c] = await Promise.all([startInstance(redis.url), startInstance(redis.url), startInstance(redis.url)]);
});

afterAll(async () => {
  await Promise.all([stopInstance(a), stopInstance(b), stopInstance(c)]);
  await redis?.stop();
});

describe('a run executing in one process, served by the others through Redis Streams', () => {
  it('B serves A\'s run history then live; cut, it resumes on C exactly after the last id; end arrives when A closes the run', async () => {
    const runId = await startRun(a, 300);
    const seen: StreamEvent[] = [];
    // Join mid-run: some history exists in Redis by now, the rest is live.
    await new Promise((r) => setTimeout(r, 500));
    // Leaving the loop cuts the connection.
    for await (const event of subscribeSse(`${b.url}/runs/${runId}/events`)) {
      seen.push(event);
      if (seen.length === 6) break;
    }
    expect(seen.length).toBe(6);
    const lastId = seen.at(-1)!.seq;
    // The connection is gone; a reconnect lands on another instance with Last-Event-ID.
    const resumed: StreamEvent[] = [];
    for await (const event of subscribeSse(`${c.url}/runs/${runId}/events`, { lastEventId: lastId })) resumed.push(event);
    const all = [...seen, ...resumed];
    expect(all.every((e) => e.runId === runId)).toBe(true);
    expect(all.map((e) => e.seq)).toEqual(range(1, all.length));
    expect(resumed[0]!.seq).toBe(lastId + 1);
    expect(all[0]!.eventType).toBe('run.started');
    expect(all.at(-1)!.eventType).toBe('run.completed');
    expect(all.at(-1)!.data).toMatchObject({ status: 'ok' });
    expect(all.filter((e) => e.eventType === 'agent.tool.completed')).toHaveLength(2);
  });

  it('the eventsource package reads A\'s run from B: history then live, no gap or duplicate by id, then event: end', async () => {
    const runId = await startRun(a, 250);
    await new Promise((r) => setTimeout(r, 400));
    const source = new EventSource(`${b.url}/runs/${runId}/events`);
    const ids: string[] = [];
    const types: string[] = [];
    const ended = await new Promise<string>((resolveEnd, reject) => {
      const onMessage = (message: MessageEvent<string>) => {
        const event = parseStreamEvent(JSON.parse(message.data));
        ids.push(message.lastEventId);
        types.push(event.eventType);
      };
      for (const type of ['run.started', 'run.completed', 'agent.invocation.started', 'agent.terminate', 'agent.model.started', 'agent.model.completed', 'agent.think', 'agent.tokens.used', 'agent.tool.started', 'agent.tool.completed']) {
        source.addEventListener(type, onMessage);
      }
      source.addEventListener('end', (message) => {
        source.close();
        resolveEnd(message.data);
      });
      source.addEventListener('error', (error) => {
        if (source.readyState === EventSource.CLOSED) reject(new Error(`EventSource failed: ${error.message}`));
      });
    });
    expect(JSON.parse(ended)).toEqual({ runId, reason: 'closed' });
    expect(ids.map(Number)).toEqual(range(1, ids.length));
    expect(types[0]).toBe('run.started');
    expect(types.at(-1)).toBe('run.completed');
  });

  it('B\'s all-runs stream shows the runs of A and of C, live', async () => {
    const stop = new AbortController();
    const completed = new Set<string>();
    const started = new Set<string>();
    let expected: string[] = [];
    const reading = (async () => {
      for await (const event of subscribeSse(`${b.url}/events`, { signal: stop.signal })) {
        if (event.eventType === 'run.started') started.add(event.runId);
        if (event.eventType === 'run.completed') completed.add(event.runId);
        if (expected.length === 2 && expected.every((id) => completed.has(id))) stop.abort();
      }
    })();
    // Let the all-runs subscription reach Redis before the runs start.
    await new Promise((r) => setTimeout(r, 300));
    expected = await Promise.all([startRun(a, 100), startRun(c, 100)]);
    const timeout = setTimeout(() => stop.abort(), 20_000);
    await reading;
    clearTimeout(timeout);
    for (const runId of expected) {
      expect(started.has(runId), `run.started of ${runId}`).toBe(true);
      expect(completed.has(runId), `run.completed of ${runId}`).toBe(true);
    }
  });

  it('answers 404 for a run no instance has, and 204 for a finished run read to its end', async () => {
    const unknown = await fetch(`${c.url}/runs/no-such-run/events`);
    expect(unknown.status).toBe(404);
    await unknown.body?.cancel();
    const runId = await startRun(a, 0);
    const events: StreamEvent[] = [];
    for await (const event of subscribeSse(`${b.url}/runs/${runId}/events`)) events.push(event);
    const finished = await fetch(`${c.url}/runs/${runId}/events`, { headers: { 'last-event-id': String(events.at(-1)!.seq) } });
    expect(finished.status).toBe(204);
  });
});
