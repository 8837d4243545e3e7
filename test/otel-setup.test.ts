// setupOtlp against a real HTTP listener on 127.0.0.1 that records what the
// OTLP/HTTP exporters send (JSON encoding), and against a port nobody
// listens on (a collector that is down).
import { metrics, trace } from '@opentelemetry/api';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { traceTool } from '../src/emit.js';
import { traceModel } from '../src/trace.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import { otlpSignalUrl, setupOtlp } from '../src/otel/setup.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

let server: Server;
let endpoint: string;
let received: Received[] = [];

const ENV_KEYS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_SDK_DISABLED',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_METRIC_EXPORT_INTERVAL',
];
const savedEnv = new Map<string, string | undefined>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(body) });
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  received = [];
  resetEventBus({});
  for (const key of ENV_KEYS) {
    savedEnv.set(key, process.env[key]);
    delete process.env[key];
  }
});

afterEach(() => {
  for (const [key, value] of savedEnv) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

type Attr = { key: string; value: { stringValue?: string } };
const attr = (attributes: Attr[], key: string) => attributes.find((a) => a.key === key)?.value.stringValue;

describe('otlpSignalUrl', () => {
  it('prefers the endpoint option, then the per-signal variable, then the base variable, then localhost:4318', () => {
    expect(otlpSignalUrl('traces')).toBe('http://localhost:4318/v1/traces');
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://collector:4318/';
    expect(otlpSignalUrl('metrics')).toBe('http://collector:4318/v1/metrics');
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = 'http://traces.example/custom';
    expect(otlpSignalUrl('traces')).toBe('http://traces.example/custom');
    expect(otlpSignalUrl('metrics')).toBe('http://collector:4318/v1/metrics');
    expect(otlpSignalUrl('traces', 'http://explicit:1234')).toBe('http://explicit:1234/v1/traces');
  });
});

describe('setupOtlp', () => {
  it('exports the bridge spans and metrics over OTLP/HTTP with the service name, resource attributes and headers', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    process.env.OTEL_SERVICE_NAME = 'from-env';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=test,team=agents';
    const otel = await setupOtlp({ serviceName: 'setup-test', headers: { 'x-token': 'secret' } });
    expect(otel.enabled).toBe(true);
    const bridge = instrumentOtel();
    try {
      await runContext(async () => {
        await traceModel({ model: 'm1', provider: 'openai', messageCount: 1, toolCount: 0 }, async () => ({
          stopReason: 'stop',
          toolCallCount: 0,
          content: 'hi',
          usage: { inputTokens: 7, outputTokens: 3 },
        }));
        await traceTool({ name: 'echo', args: {} }, async () => 'ok');
      });
    } finally {
      bridge.shutdown();
      await otel.shutdown();
    }
    const traces = received.filter((r) => r.path === '/v1/traces');
    const metricsPosts = received.filter((r) => r.path === '/v1/metrics');
    expect(traces.length).toBeGreaterThan(0);
    expect(metricsPosts.length).toBeGreaterThan(0);
    expect(traces[0]!.headers['x-token']).toBe('secret');

    const resourceSpans = (traces[0]!.body as { resourceSpans: Array<{ resource: { attributes: Attr[] }; scopeSpans: Array<{ spans: Array<{ name: string }> }> }> }).resourceSpans;
    const resource = resourceSpans[0]!.resource.attributes;
    expect(attr(resource, 'service.name')).toBe('setup-test');
    expect(attr(resource, 'team')).toBe('agents');
    expect(attr(resource, 'deployment.environment.name')).toBe('test');
    const names = resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => sp.name)));
    // Helpers with no agent: the run is their root span.
    expect(names.sort()).toEqual(['chat m1', 'execute_tool echo', 'invoke_workflow']);

    const body = JSON.stringify(metricsPosts.map((m) => m.body));
    expect(body).toContain('gen_ai.client.token.usage');
    expect(body).toContain('gen_ai.client.operation.duration');
    // 2 = AGGREGATION_TEMPORALITY_CUMULATIVE in OTLP.
    expect(body).toContain('"aggregationTemporality":2');
  });

  it('takes the service name from OTEL_SERVICE_NAME when the option is absent, and unregisters on shutdown', async () => {
    process.env.OTEL_SERVICE_NAME = 'env-service';
    const otel = await setupOtlp({ endpoint });
    const bridge = instrumentOtel();
    await runContext(() => traceTool({ name: 'one', args: {} }, () => 1));
    bridge.shutdown();
    await otel.shutdown();
    await otel.shutdown();
    const body = received.find((r) => r.path === '/v1/traces')!.body as { resourceSpans: Array<{ resource: { attributes: Attr[] } }> };
    expect(attr(body.resourceSpans[0]!.resource.attributes, 'service.name')).toBe('env-service');
    expect(trace.getTracer('x').startSpan('after').isRecording()).toBe(false);
  });

  it('with OTEL_SDK_DISABLED=true registers nothing and returns a no-op', async () => {
    process.env.OTEL_SDK_DISABLED = 'true';
    const otel = await setupOtlp({ endpoint });
    expect(otel.enabled).toBe(false);
    expect(otel.tracerProvider).toBeUndefined();
    expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(false);
    expect(metrics.getMeterProvider().getMeter('x')).toBeDefined();
    await otel.shutdown();
    expect(received).toEqual([]);
  });

  it('with the collector down, runs complete without throwing and shutdown still resolves', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const otel = await setupOtlp({ endpoint: `http://127.0.0.1:${deadPort}`, exportTimeoutMillis: 2_000 });
    const bridge = instrumentOtel();
    const results: number[] = [];
    for (let i = 0; i < 20; i++) results.push(await runContext(() => traceTool({ name: 't', args: {} }, () => i)));
    await otel.forceFlush();
    bridge.shutdown();
    await expect(otel.shutdown()).resolves.toBeUndefined();
    expect(results).toHaveLength(20);
  });

  it('exports metrics at OTEL_METRIC_EXPORT_INTERVAL, not after the default minute', async () => {
    process.env.OTEL_METRIC_EXPORT_INTERVAL = '100';
    const otel = await setupOtlp({ endpoint });
    const bridge = instrumentOtel();
    try {
      await runContext(() => traceTool({ name: 't', args: {} }, () => 1));
      // No flush: only the periodic reader can deliver this.
      const deadline = Date.now() + 10_000;
      while (!received.some((r) => r.path === '/v1/metrics') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received.some((r) => r.path === '/v1/metrics')).toBe(true);
    } finally {
      bridge.shutdown();
      await otel.shutdown();
    }
  });

  it('rejects a bad endpoint or interval with a message naming the option', async () => {
    await expect(setupOtlp({ endpoint: 'localhost:4318' })).rejects.toThrow(/setupOtlp: endpoint must use http or https|setupOtlp: endpoint must be an absolute/);
    await expect(setupOtlp({ endpoint: 'not a url' })).rejects.toThrow('setupOtlp: endpoint must be an absolute http(s) URL');
    await expect(setupOtlp({ exportIntervalMillis: 0 })).rejects.toThrow('setupOtlp: exportIntervalMillis must be a positive number of milliseconds, got 0');
    await expect(setupOtlp({ shutdownTimeoutMillis: -1 })).rejects.toThrow('setupOtlp: shutdownTimeoutMillis must be a positive number of milliseconds, got -1');
  });

  it('without the SDK installed, says which packages to install', async () => {
    // A copy of the build next to a node_modules holding only what the bridge needs.
    const root = join(import.meta.dirname, '..');
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-no-sdk-'));
    try {
      cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
      mkdirSync(join(dir, 'node_modules', '@opentelemetry'), { recursive: true });
      symlinkSync(join(root, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'));
      symlinkSync(join(root, 'node_modules', '@opentelemetry', 'api'), join(dir, 'node_modules', '@opentelemetry', 'api'));
      const script = `
        const { setupOtlp, instrumentOtel } = await import('./dist/otel/index.js');
        instrumentOtel().shutdown(); // the bridge itself needs only the API
        try { await setupOtlp(); console.log('no error'); } catch (error) { console.log(error.message); }
      `;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, timeout: 60_000 });
      expect(stdout).toMatch(/^setupOtlp needs the OpenTelemetry SDK, an optional peer dependency of agentbus: npm install @opentelemetry\/sdk-trace-node@2 /);
      expect(stdout).toContain("'@opentelemetry/exporter-metrics-otlp-http@<0.300'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agentbus/otel without @opentelemetry/api', () => {
  it('says which package to install; the core runs without it', async () => {
    const root = join(import.meta.dirname, '..');
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-no-api-'));
    try {
      cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      symlinkSync(join(root, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'));
      const run = promisify(execFile);
      const esm = `try { await import('./dist/otel/index.js'); console.log('no error'); } catch (error) { console.log(error.message); }`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', esm], { cwd: dir, timeout: 60_000 });
      expect(stdout).toMatch(/^agentbus\/otel needs @opentelemetry\/api, an optional peer dependency of agentbus: npm install @opentelemetry\/api@~1\.9\.0 \(Cannot find module '@opentelemetry\/api'/);
      // The core does not need it at all.
      const core = `const { runContext, emit } = await import('./dist/index.js'); await runContext(() => emit('app.ok', {})); console.log('core ok');`;
      expect((await run(process.execPath, ['--input-type=module', '-e', core], { cwd: dir, timeout: 60_000 })).stdout.trim()).toBe('core ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A collector that is down (connection refused) or hung (accepts, never
// answers) must not hold the process: shutdown is bounded and, once it
// returns, no socket or retry keeps the event loop alive. Checked in a child
// process, whose natural exit is the thing to observe.
describe('setupOtlp shutdown with an unreachable collector', () => {
  const root = join(import.meta.dirname, '..');
  const script = (endpointExpr: string, options: string) => `
    import net from 'node:net';
    const { setupOtlp, instrumentOtel } = await import(${JSON.stringify(join(root, 'dist', 'otel', 'index.js'))});
    const { runContext, traceTool } = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
    const hung = net.createServer(() => {});
    await new Promise((r) => hung.listen(0, '127.0.0.1', r));
    hung.unref();
    const otel = await setupOtlp({ endpoint: ${endpointExpr}, ${options} });
    const bridge = instrumentOtel();
    await runContext(() => traceTool({ name: 't', args: {} }, async () => 1));
    bridge.shutdown();
    const started = performance.now();
    await otel.shutdown();
    const shutdownMs = performance.now() - started;
    process.on('exit', () => console.log(JSON.stringify({ shutdownMs, exitMs: performance.now() - started })));
  `;

  async function measure(endpointExpr: string, options: string, env: Record<string, string> = {}): Promise<{ shutdownMs: number; exitMs: number }> {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script(endpointExpr, options)], {
      cwd: root,
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return JSON.parse(stdout.trim()) as { shutdownMs: number; exitMs: number };
  }

  // The exporters' own timeout is 10 s, and the SDK's shutdown waits for it:
  // each bound below is far under that, and far over the timeout asked for.
  it('a hung collector: shutdown returns at shutdownTimeoutMillis and the process exits right after', async () => {
    const { shutdownMs, exitMs } = await measure('`http://127.0.0.1:${hung.address().port}`', 'shutdownTimeoutMillis: 300');
    expect(shutdownMs).toBeGreaterThanOrEqual(250);
    expect(shutdownMs).toBeLessThan(3_000);
    expect(exitMs - shutdownMs).toBeLessThan(1_000);
  });

  it('a hung collector and no option: bounded by default, and OTEL_EXPORTER_OTLP_TIMEOUT is honoured', async () => {
    const byDefault = await measure('`http://127.0.0.1:${hung.address().port}`', '');
    expect(byDefault.shutdownMs).toBeLessThan(5_000);
    expect(byDefault.exitMs).toBeLessThan(6_000);
    const fromEnv = await measure('`http://127.0.0.1:${hung.address().port}`', '', { OTEL_EXPORTER_OTLP_TIMEOUT: '200' });
    expect(fromEnv.shutdownMs).toBeLessThan(1_500);
  });

  it('a collector that refuses connections: bounded too', async () => {
    // A port that was just free: listened on, then closed.
    const refused = `await (async () => {
      const s = net.createServer();
      await new Promise((r) => s.listen(0, '127.0.0.1', r));
      const { port } = s.address();
      await new Promise((r) => s.close(r));
      return 'http://127.0.0.1:' + port;
    })()`;
    const { shutdownMs, exitMs } = await measure(refused, 'shutdownTimeoutMillis: 300');
    expect(shutdownMs).toBeLessThan(3_000);
    expect(exitMs).toBeLessThan(7_000);
  });
});
