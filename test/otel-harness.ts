// Real OpenTelemetry SDK providers for the bridge's unit tests: spans go
// through a SimpleSpanProcessor into the SDK's InMemorySpanExporter, metrics
// are collected from a real MeterProvider. The only addition is a count of
// `end` calls per span, so "ended exactly once" can be checked even though
// the SDK itself ignores a second end.
import { context, type Context, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { resetEventBus } from '../src/global.js';
import { instrumentOtel, type OtelBridge, type OtelBridgeOptions } from '../src/otel/bridge.js';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface Telemetry {
  exporter: InMemorySpanExporter;
  /** The SDK provider itself. */
  sdkTracerProvider: BasicTracerProvider;
  /** The same provider, counting `end` calls per span id. */
  tracerProvider: TracerProvider;
  endCalls: Map<string, number>;
  meterProvider: MeterProvider;
  spans(): ReadableSpan[];
  metric(name: string): MetricData | undefined;
  /** The instrumentation scope of a collected metric. */
  metricScope(name: string): { name: string; version?: string | undefined } | undefined;
  collect(): Promise<MetricData[]>;
}

export function makeTelemetry(): Telemetry {
  const exporter = new InMemorySpanExporter();
  const sdkTracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const endCalls = new Map<string, number>();
  const tracerProvider: TracerProvider = {
    getTracer(name, version, options) {
      const tracer = sdkTracerProvider.getTracer(name, version, options);
      const counting: Tracer = {
        startSpan(spanName: string, spanOptions?: SpanOptions, ctx?: Context): Span {
          const span = tracer.startSpan(spanName, spanOptions, ctx);
          const end = span.end.bind(span);
          span.end = (time) => {
            const id = span.spanContext().spanId;
            endCalls.set(id, (endCalls.get(id) ?? 0) + 1);
            end(time);
          };
          return span;
        },
        startActiveSpan: tracer.startActiveSpan.bind(tracer) as Tracer['startActiveSpan'],
      };
      return counting;
    },
  };
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  let collected: MetricData[] = [];
  let scopes = new Map<string, { name: string; version?: string | undefined }>();
  return {
    exporter,
    sdkTracerProvider,
    tracerProvider,
    endCalls,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    metric: (name) => collected.find((m) => m.descriptor.name === name),
    metricScope: (name) => scopes.get(name),
    async collect() {
      const { resourceMetrics } = await reader.collect();
      collected = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      scopes = new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => [m.descriptor.name, s.scope] as const)));
      return collected;
    },
  };
}

/** Histogram data points of a collected metric. */
export function histogramPoints(metric: MetricData | undefined) {
  if (metric === undefined) throw new Error('metric not collected');
  if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${metric.descriptor.name} is not a histogram`);
  return metric.dataPoints as Array<{ attributes: Record<string, unknown>; value: Histogram }>;
}

/** Epoch milliseconds of an SDK HrTime. */
export function ms(time: readonly [number, number]): number {
  return time[0] * 1000 + time[1] / 1e6;
}

export function byName(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one span named ${name}, found ${found.length}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0] as ReadableSpan;
}

export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/**
 * Registers an AsyncLocalStorage context manager for the suite (before all
 * its tests, disabled after), so that spans made inside a step see the
 * step's span as active, as under the Node SDK. Returns it, for a test that
 * disables the global context and enables it again.
 */
export function useAsyncContextManager(): AsyncLocalStorageContextManager {
  const contextManager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(() => {
    context.disable();
  });
  return contextManager;
}

/**
 * The bridge under test, one per test: before each, a fresh bus and fresh
 * telemetry; after each, the bridge attached (if any) shut down. `tel` is
 * one object for the whole file, refilled with the current test's telemetry
 * (`renew()` refills it mid-test).
 */
export interface BridgeFixture {
  readonly tel: Telemetry;
  /** The bridge the test attached last, if any. */
  readonly bridge: OtelBridge | undefined;
  /** Attaches the bridge to `tel`'s providers, with `options` on top. */
  attach(options?: OtelBridgeOptions): OtelBridge;
  /** Fresh telemetry in `tel`, for a test that measures twice. */
  renew(): void;
}

/** Registers {@link BridgeFixture}'s hooks in the calling test file and returns it. */
export function useBridge(): BridgeFixture {
  const tel = {} as Telemetry;
  let bridge: OtelBridge | undefined;
  beforeEach(() => {
    resetEventBus({});
    Object.assign(tel, makeTelemetry());
  });
  afterEach(() => {
    bridge?.shutdown();
    bridge = undefined;
  });
  return {
    tel,
    get bridge() {
      return bridge;
    },
    attach(options: OtelBridgeOptions = {}) {
      bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, ...options });
      return bridge;
    },
    renew() {
      Object.assign(tel, makeTelemetry());
    },
  };
}
