/**
 * Live run viewer: an HTTP server that starts reference-agent runs and
 * streams them over SSE to a small page that draws the run's timeline as it
 * happens.
 *
 *   npm run build && npx tsx examples/sse-server.ts [port]    (default 3000; 0 = any free port)
 *
 * With REDIS_URL set (e.g. redis://127.0.0.1:6379), the server writes its runs
 * to Redis Streams and serves every run from there: start two copies on two
 * ports and each serves the other's runs, live and resumable.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/sse-server.ts 3001
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/sse-server.ts 3002
 *
 * Routes:
 *   GET  /                    the page (examples/sse-live.html)
 *   POST /runs                starts a run; body {"prompt"?: string, "delayMs"?: number}; answers {"runId"}
 *   GET  /runs/:id/events     the run's events (agentbus SSE)
 *   GET  /events              the live events of every run
 *
 * The SSE routes are public here because the demo listens on 127.0.0.1 only;
 * a real deployment passes `authorize` instead.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { getEventBus, runContext } from 'agentbus';
import { Agent, ScriptedModel, defineTool } from 'agentbus/agent';
import { createSseHandler, toNodeListener } from 'agentbus/sse';
import type { RunSource } from 'agentbus';

/** Options of {@link startLiveServer}. */
export interface LiveServerOptions {
  /** Port to listen on; 0 picks a free one. Default 3000. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Default think time of each scripted model call, in ms (a request may override it). Default 400. */
  delayMs?: number;
  /** Share runs with other instances through this Redis (`agentbus/redis`). Default: none, runs stay in this process. */
  redisUrl?: string;
}

/** A running live server. */
export interface LiveServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Resolves when every run started so far has finished. */
  idle(): Promise<void>;
  /** Stops listening and ends open streams. */
  close(): Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

const getWeather = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city',
  input: z.object({ city: z.string() }),
  async execute({ city }, { signal }) {
    await sleep(250, signal);
    return { city, celsius: 18, sky: 'sunny' };
  },
});

const convertTemperature = defineTool({
  name: 'convert_temperature',
  description: 'Celsius to Fahrenheit',
  input: z.object({ celsius: z.number() }),
  async execute({ celsius }, { signal }) {
    await sleep(120, signal);
    return { fahrenheit: Math.round((celsius * 9) / 5 + 32) };
  },
});

function demoAgent(delayMs: number): Agent {
  const model = new ScriptedModel(
    [
      {
        reasoning: 'The user wants the weather; look it up first.',
        toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
        delayMs,
      },
      {
        reasoning: 'Readers may prefer Fahrenheit; convert the temperature.',
        toolCalls: [{ name: 'convert_temperature', arguments: { celsius: 18 } }],
        delayMs,
      },
      { content: 'It is sunny in Paris: 18 °C (64 °F).', delayMs },
    ],
    { name: 'scripted-weather', provider: 'scripted' },
  );
  return new Agent({ name: 'weather-agent', model, tools: [getWeather, convertTemperature] });
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 64 * 1024) throw new RangeError('request body over 64 KiB');
  }
  if (body.trim() === '') return {};
  const parsed: unknown = JSON.parse(body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** Starts the live server. */
export async function startLiveServer(options: LiveServerOptions = {}): Promise<LiveServer> {
  const page = await readFile(new URL('./sse-live.html', import.meta.url), 'utf8');
  const defaultDelay = options.delayMs ?? 400;
  const runs = new Set<Promise<unknown>>();
  // With Redis, this instance's runs go to Redis and every run (this one's or
  // another instance's) is served from there; the redis client loads only then.
  let source: RunSource | undefined;
  let closeRedis = async (): Promise<void> => {};
  let flushRedis = async (): Promise<void> => {};
  if (options.redisUrl !== undefined) {
    const { attachRedisBackplane, createRedisRunSource } = await import('agentbus/redis');
    const backplane = await attachRedisBackplane({ url: options.redisUrl });
    const redisSource = await createRedisRunSource({ url: options.redisUrl });
    source = redisSource;
    flushRedis = async () => {
      await backplane.flush();
    };
    closeRedis = async () => {
      await redisSource.close();
      await backplane.close();
    };
  }
  const sse = toNodeListener(createSseHandler({ public: true, allRuns: true, heartbeatMs: 10_000, retryMs: 1000, source }));

  async function startRun(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = await readJson(req);
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`bad request: ${(error as Error).message}\n`);
      return;
    }
    const prompt = typeof body.prompt === 'string' ? body.prompt : 'What is the weather in Paris?';
    const delayMs = typeof body.delayMs === 'number' && body.delayMs >= 0 && body.delayMs <= 10_000 ? body.delayMs : defaultDelay;
    const runId = randomUUID();
    // runContext publishes run.started synchronously, so the run exists before we answer.
    const run = runContext(() => demoAgent(delayMs).run(prompt), { runId, name: 'weather demo' })
      .catch(() => undefined) // the failure is in the run's events
      .finally(() => {
        getEventBus().closeStream(runId);
        runs.delete(run);
      });
    runs.add(run);
    // The run is in Redis before we answer, so any instance asked for it next knows it.
    await flushRedis();
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ runId }));
  }

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
      return;
    }
    if (req.method === 'POST' && path === '/runs') {
      void startRun(req, res);
      return;
    }
    sse(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    idle: async () => {
      while (runs.size > 0) await Promise.all([...runs]);
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await closeRedis();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
  const redisUrl = process.env.REDIS_URL || undefined;
  const live = await startLiveServer({ port, redisUrl });
  console.log(`live run viewer on ${live.url}${redisUrl === undefined ? '' : ` (runs shared through ${redisUrl})`}  (tail a run: agentbus tail ${live.url}/runs/<runId>/events)`);
  const stop = () => void live.close().finally(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
