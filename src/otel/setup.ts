/**
 * One-call OTLP setup: a tracer provider with a batch processor and the
 * OTLP/HTTP trace exporter, a meter provider with a periodic reader and the
 * OTLP/HTTP metric exporter, registered globally.
 *
 * The SDK packages are loaded here with dynamic `import()`, so importing
 * `agentbus/otel` for the bridge alone pulls in only `@opentelemetry/api`.
 * A collector that is down costs nothing but failed exports, reported
 * through the OpenTelemetry diagnostics logger (silent unless one is set):
 * exports run off the agent's path and never throw into it.
 */
import { diag, metrics, trace, type MeterProvider, type TracerProvider } from './api.js';
import { ClosableAgents } from './closable-agent.js';

/** Options of {@link setupOtlp}. Each falls back to the standard `OTEL_*` environment variable, then to the SDK default. */
export interface OtlpSetupOptions {
  /** `service.name` of the resource. Default: `OTEL_SERVICE_NAME`, then `OTEL_RESOURCE_ATTRIBUTES`, then the SDK's `unknown_service:node`. */
  serviceName?: string;
  /**
   * Base URL of the OTLP/HTTP receiver, e.g. `http://localhost:4318`; `/v1/traces` and `/v1/metrics` are appended.
   * Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as they are),
   * then `OTEL_EXPORTER_OTLP_ENDPOINT`, then `http://localhost:4318`.
   */
  endpoint?: string;
  /** Extra HTTP headers on every export (merged with `OTEL_EXPORTER_OTLP_HEADERS`). */
  headers?: Record<string, string>;
  /** Metric export interval in ms. Default: `OTEL_METRIC_EXPORT_INTERVAL`, then 60000. */
  exportIntervalMillis?: number;
  /** Give up on one export (retries included) after this many ms. Default: `OTEL_EXPORTER_OTLP_TIMEOUT`, then 10000. */
  exportTimeoutMillis?: number;
  /**
   * Longest `shutdown()` waits for the last export, in ms. After it, pending
   * exports are abandoned (their sockets closed, no more retries), so a
   * collector that is down or hung cannot keep the process from exiting.
   * Default: 2000, or the export timeout when that is shorter.
   */
  shutdownTimeoutMillis?: number;
  /** Extra resource attributes (merged over the environment's). */
  resourceAttributes?: Record<string, string | number | boolean>;
}

/** What {@link setupOtlp} built. */
export interface OtlpSetup {
  /** False when `OTEL_SDK_DISABLED=true`: nothing was loaded or registered. */
  readonly enabled: boolean;
  /** The registered tracer provider (undefined when disabled). */
  readonly tracerProvider: TracerProvider | undefined;
  /** The registered meter provider (undefined when disabled). */
  readonly meterProvider: MeterProvider | undefined;
  /** Exports everything buffered now; never rejects. */
  forceFlush(): Promise<void>;
  /**
   * Flushes, shuts both providers down and unregisters the providers this
   * call registered, within `shutdownTimeoutMillis` (see there). Never
   * rejects; idempotent.
   */
  shutdown(): Promise<void>;
}

const DISABLED: OtlpSetup = Object.freeze({
  enabled: false,
  tracerProvider: undefined,
  meterProvider: undefined,
  forceFlush: async () => {},
  shutdown: async () => {},
});

function envValue(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function signalUrl(base: string, path: 'v1/traces' | 'v1/metrics'): string {
  return `${base.endsWith('/') ? base : `${base}/`}${path}`;
}

/** The URL one signal is exported to, by the precedence documented on {@link OtlpSetupOptions.endpoint}. */
export function otlpSignalUrl(signal: 'traces' | 'metrics', endpoint?: string): string {
  const path = signal === 'traces' ? 'v1/traces' : 'v1/metrics';
  if (endpoint !== undefined) return signalUrl(endpoint, path);
  const specific = envValue(signal === 'traces' ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  if (specific !== undefined) return specific;
  return signalUrl(envValue('OTEL_EXPORTER_OTLP_ENDPOINT') ?? 'http://localhost:4318', path);
}

/** Default bound of `shutdown()`: ample for a collector that answers (tens of ms), short for one that does not. */
const DEFAULT_SHUTDOWN_TIMEOUT_MILLIS = 2000;

/** A positive number of milliseconds from the environment; anything else is ignored with a diagnostic, as the SDK does. */
function envMillis(name: string): number | undefined {
  const raw = envValue(name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (Number.isFinite(value) && value > 0) return value;
  diag.warn(`agentbus setupOtlp: ${name} must be a positive number of milliseconds, got ${JSON.stringify(raw)}; ignored`);
  return undefined;
}

function positiveMillis(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`setupOtlp: ${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function checkEndpoint(endpoint: string | undefined): void {
  if (endpoint === undefined) return;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError(`setupOtlp: endpoint must be an absolute http(s) URL such as "http://localhost:4318", got ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`setupOtlp: endpoint must use http or https, got ${JSON.stringify(url.protocol)}`);
  }
}

/** The SDK packages setupOtlp needs, as a user would install them (the 2.x line that runs on Node 20). */
const SDK_PACKAGES = [
  '@opentelemetry/sdk-trace-node@2',
  '@opentelemetry/sdk-metrics@2',
  '@opentelemetry/resources@2',
  "'@opentelemetry/exporter-trace-otlp-http@<0.300'",
  "'@opentelemetry/exporter-metrics-otlp-http@<0.300'",
];

// Optional peer dependencies: a missing one gets a message that says what to install.
async function loadSdk() {
  try {
    return await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      `setupOtlp needs the OpenTelemetry SDK, an optional peer dependency of agentbus: npm install ${SDK_PACKAGES.join(' ')} ` +
        `(${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Builds and registers OTLP/HTTP exporting tracer and meter providers
 * (OpenTelemetry JS SDK 2.x), honouring the standard environment variables:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal `_TRACES_ENDPOINT` /
 * `_METRICS_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
 * `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRIC_EXPORT_INTERVAL`,
 * `OTEL_EXPORTER_OTLP_TIMEOUT`, and
 * `OTEL_SDK_DISABLED=true` (then it loads nothing and returns a no-op).
 * Metrics use cumulative temporality unless
 * `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` says otherwise.
 *
 * Needs the optional peer dependencies `@opentelemetry/sdk-trace-node`,
 * `@opentelemetry/sdk-metrics`, `@opentelemetry/resources`,
 * `@opentelemetry/exporter-trace-otlp-http` and
 * `@opentelemetry/exporter-metrics-otlp-http`.
 *
 * @example
 * ```ts
 * const otel = await setupOtlp({ serviceName: 'my-agent' });
 * const bridge = instrumentOtel();
 * // ... runs ...
 * bridge.shutdown();
 * await otel.shutdown(); // flushes
 * ```
 */
export async function setupOtlp(options: OtlpSetupOptions = {}): Promise<OtlpSetup> {
  checkEndpoint(options.endpoint);
  // Given to the exporters only when set: they read OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_TIMEOUT themselves.
  const exporterTimeoutMillis = positiveMillis('exportTimeoutMillis', options.exportTimeoutMillis);
  const timeoutMillis = exporterTimeoutMillis ?? envMillis('OTEL_EXPORTER_OTLP_TIMEOUT') ?? 10_000;
  const exportIntervalMillis =
    positiveMillis('exportIntervalMillis', options.exportIntervalMillis) ?? envMillis('OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000;
  const shutdownTimeoutMillis =
    positiveMillis('shutdownTimeoutMillis', options.shutdownTimeoutMillis) ?? Math.min(DEFAULT_SHUTDOWN_TIMEOUT_MILLIS, timeoutMillis);
  if (envValue('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return DISABLED;

  const [traceNode, sdkMetrics, resources, traceExporter, metricExporter] = await loadSdk();

  const extra: Record<string, string | number | boolean> = { ...options.resourceAttributes };
  if (options.serviceName !== undefined) extra['service.name'] = options.serviceName;
  // envDetector reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; explicit options win over both.
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
    .merge(resources.resourceFromAttributes(extra));

  const agents = new ClosableAgents();
  const tracerProvider = new traceNode.NodeTracerProvider({
    resource,
    spanProcessors: [
      new traceNode.BatchSpanProcessor(
        new traceExporter.OTLPTraceExporter({
          url: otlpSignalUrl('traces', options.endpoint),
          headers: options.headers,
          timeoutMillis: exporterTimeoutMillis,
          httpAgentOptions: agents.factory,
        }),
      ),
    ],
  });
  const temporalityFromEnv = envValue('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE') !== undefined;
  const meterProvider = new sdkMetrics.MeterProvider({
    resource,
    readers: [
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new metricExporter.OTLPMetricExporter({
          url: otlpSignalUrl('metrics', options.endpoint),
          headers: options.headers,
          timeoutMillis: exporterTimeoutMillis,
          httpAgentOptions: agents.factory,
          temporalityPreference: temporalityFromEnv ? undefined : metricExporter.AggregationTemporalityPreference.CUMULATIVE,
        }),
        exportIntervalMillis,
        // The reader's timeout must not exceed its interval.
        exportTimeoutMillis: Math.min(timeoutMillis, exportIntervalMillis),
      }),
    ],
  });

  // register() also installs the AsyncLocalStorage context manager and the
  // W3C propagators unless the application already did.
  tracerProvider.register();
  const ownsTracing = trace.getTracerProvider() === tracerProvider ||
    (trace.getTracerProvider() as { getDelegate?: () => TracerProvider }).getDelegate?.() === tracerProvider;
  const ownsMetrics = metrics.setGlobalMeterProvider(meterProvider);
  if (!ownsTracing || !ownsMetrics) {
    diag.warn('agentbus setupOtlp: a global OpenTelemetry provider was already registered; it was kept');
  }

  let done: Promise<void> | undefined;
  return {
    enabled: true,
    tracerProvider,
    meterProvider,
    async forceFlush() {
      await Promise.allSettled([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    shutdown() {
      done ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, shutdownTimeoutMillis);
        });
        await Promise.race([Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]), deadline]);
        clearTimeout(timer);
        // Whatever is still in flight is abandoned: nothing may hold the process open.
        agents.close();
        // The context manager and propagators stay: other code may rely on them,
        // and a later setupOtlp works with them as they are.
        if (ownsTracing) trace.disable();
        if (ownsMetrics) metrics.disable();
      })();
      return done;
    },
  };
}
