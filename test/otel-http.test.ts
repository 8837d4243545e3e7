// Work done inside a tool through instrumented HTTP clients (node:http via
// @opentelemetry/instrumentation-http, fetch via instrumentation-undici)
// appears as a child of that tool's span. Real server on 127.0.0.1.
import { context, propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import type * as Http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetEventBus } from '../src/bus.js';
import { runContext } from '../src/context.js';
import { startStep, traceTool } from '../src/emit.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import { byName, makeTelemetry, parentOf, type Telemetry } from './otel-harness.js';

const tel: Telemetry = makeTelemetry();
let httpInstrumentation: HttpInstrumentation;
let undiciInstrumentation: UndiciInstrumentation;
let http: typeof Http;
let server: Http.Server;
let baseUrl: string;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // Constructed enabled (undici's only records spans when configured enabled).
  httpInstrumentation = new HttpInstrumentation();
  undiciInstrumentation = new UndiciInstrumentation();
  for (const instrumentation of [httpInstrumentation, undiciInstrumentation]) {
    instrumentation.setTracerProvider(tel.sdkTracerProvider);
  }
  // Loaded after enable() through require, which the instrumentation hooks.
  http = createRequire(import.meta.url)('node:http') as typeof Http;
  server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, traceparent: req.headers.traceparent ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  httpInstrumentation.disable();
  undiciInstrumentation.disable();
  await new Promise((resolve) => server.close(resolve));
  context.disable();
  propagation.disable();
});

beforeEach(() => {
  resetEventBus({});
  tel.exporter.reset();
});

function get(url: string): Promise<{ path: string; traceparent: string | null }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(JSON.parse(body) as { path: string; traceparent: string | null }));
      })
      .on('error', reject);
  });
}

describe('work inside a tool, through instrumented HTTP clients', () => {
  it('an http.get in the tool body is a child of the execute_tool span, and carries its trace downstream', async () => {
    const bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
    try {
      let seen: { traceparent: string | null } | undefined;
      await runContext(async () => {
        const agent = startStep('agent.invocation.started', { agentName: 'browser' });
        await agent.run(() => traceTool('fetch_page', { path: '/page' }, async () => (seen = await get(`${baseUrl}/page`))));
        agent.end('agent.terminate', { reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' });
      });
      await new Promise((r) => setTimeout(r, 20)); // the server span ends after the response is sent
      const spans = tel.spans();
      const tool = byName(spans, 'execute_tool fetch_page');
      const client = spans.find((s) => s.name === 'GET' && s.kind === 2 /* CLIENT */);
      expect(client, spans.map((s) => `${s.name}/${s.kind}`).join(', ')).toBeDefined();
      expect(parentOf(client!)).toBe(tool.spanContext().spanId);
      expect(client!.spanContext().traceId).toBe(tool.spanContext().traceId);
      expect(seen?.traceparent).toContain(tool.spanContext().traceId);
    } finally {
      bridge.shutdown();
    }
  });

  it('a fetch in the tool body is a child of the execute_tool span', async () => {
    const bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
    try {
      await runContext(() => traceTool('fetch_json', {}, async () => (await fetch(`${baseUrl}/json`)).json()));
      const spans = tel.spans();
      const tool = byName(spans, 'execute_tool fetch_json');
      const clients = spans.filter((s) => s.kind === 2 && s.name.startsWith('GET'));
      expect(clients.length, spans.map((s) => `${s.name}/${s.kind}`).join(', ')).toBeGreaterThan(0);
      for (const client of clients) expect(parentOf(client)).toBe(tool.spanContext().spanId);
    } finally {
      bridge.shutdown();
    }
  });

  it('without the bridge the same request has no tool parent', async () => {
    await runContext(() => traceTool('fetch_page', {}, () => get(`${baseUrl}/page`)));
    const client = tel.spans().find((s) => s.name === 'GET' && s.kind === 2);
    expect(client).toBeDefined();
    expect(parentOf(client!)).toBeUndefined();
  });
});
