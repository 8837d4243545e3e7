// Smoke test of the e2e infrastructure itself: plain fetch -> collector
// (OTLP/HTTP JSON) -> Jaeger, and OTLP metrics -> the collector's Prometheus
// exporter, then the collector stopped and started again on the same ports.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Backends,
  pollPrometheus,
  queryJaegerTraces,
  scrapePrometheus,
  spanTag,
  startBackends,
} from './backends.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function spanPayload(service: string, traceId: string, spanId: string, name: string) {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            scope: { name: 'agentbus-e2e-smoke' },
            spans: [
              {
                traceId,
                spanId,
                name,
                kind: 1,
                startTimeUnixNano: String(nowNs - 5_000_000n),
                endTimeUnixNano: String(nowNs),
                attributes: [{ key: 'smoke.attr', value: { stringValue: 'yes' } }],
                status: {},
              },
            ],
          },
        ],
      },
    ],
  };
}

async function postOtlp(endpoint: string, path: '/v1/traces' | '/v1/metrics', body: unknown) {
  const res = await fetch(`${endpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe('e2e backends (Jaeger v2 + collector, native)', () => {
  let be: Backends;

  beforeAll(async () => {
    be = await startBackends();
  });
  afterAll(async () => {
    await be?.stop();
  });

  it('a span POSTed to the collector as OTLP/HTTP JSON shows up in Jaeger', async () => {
    const service = `smoke-${hex(4)}`;
    const traceId = hex(16);
    const spanId = hex(8);
    await postOtlp(be.otlpHttpEndpoint, '/v1/traces', spanPayload(service, traceId, spanId, 'smoke-span'));

    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
      until: (ts) => ts.some((t) => t.traceID === traceId),
    });
    const span = traces.find((t) => t.traceID === traceId)?.spans[0];
    expect(span?.operationName).toBe('smoke-span');
    expect(span?.spanID).toBe(spanId);
    expect(span && spanTag(span, 'smoke.attr')).toBe('yes');
  });

  it('the Prometheus exporter answers and exposes metrics sent over OTLP', async () => {
    expect(await scrapePrometheus(be.prometheusMetricsUrl)).toBeTypeOf('string');
    const nowNs = String(BigInt(Date.now()) * 1_000_000n);
    await postOtlp(be.otlpHttpEndpoint, '/v1/metrics', {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'smoke-metrics' } }] },
          scopeMetrics: [
            {
              scope: { name: 'agentbus-e2e-smoke' },
              metrics: [
                {
                  name: 'agentbus_smoke_total',
                  sum: {
                    aggregationTemporality: 2,
                    isMonotonic: true,
                    dataPoints: [{ asInt: '3', startTimeUnixNano: nowNs, timeUnixNano: nowNs }],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    const text = await pollPrometheus(be.prometheusMetricsUrl, (t) => t.includes('agentbus_smoke_total'));
    expect(text).toMatch(/agentbus_smoke_total\{[^}]*job="smoke-metrics"[^}]*\} 3/);
  });

  it('the collector can be stopped and started again on the same ports', async () => {
    const { otlpHttpEndpoint } = be;
    await be.stopCollector();
    await expect(fetch(`${otlpHttpEndpoint}/v1/traces`, { method: 'POST' })).rejects.toThrow();
    await be.startCollector();

    const service = `smoke-restart-${hex(4)}`;
    const traceId = hex(16);
    await postOtlp(otlpHttpEndpoint, '/v1/traces', spanPayload(service, traceId, hex(8), 'after-restart'));
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
      until: (ts) => ts.some((t) => t.traceID === traceId),
    });
    expect(traces[0]?.spans[0]?.operationName).toBe('after-restart');
  });
});

