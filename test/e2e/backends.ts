// Real backends for e2e suites: Jaeger v2 + an OpenTelemetry Collector run
// natively by scripts/backends.sh (no Docker). Typical use:
//
//   let be: Backends;
//   beforeAll(async () => { be = await startBackends(); });
//   afterAll(async () => { await be?.stop(); });
//
// The first run on a machine builds the jaeger binary (~10 min on 2 cores);
// run `bash scripts/backends.sh build` beforehand (CI does) to keep that out
// of a hook timeout.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const backendsScript = join(repoRoot, 'scripts', 'backends.sh');

/** Contents of $STATE_DIR/backends.json written by `backends.sh start`. */
export interface BackendsState {
  STATE_DIR: string;
  JAEGER_BIN: string;
  JAEGER_VERSION: string;
  JAEGER_PID: number;
  COLLECTOR_PID: number;
  JAEGER_QUERY_URL: string;
  JAEGER_QUERY_GRPC_ENDPOINT: string;
  JAEGER_OTLP_GRPC_ENDPOINT: string;
  JAEGER_OTLP_HTTP_ENDPOINT: string;
  OTLP_HTTP_ENDPOINT: string;
  OTLP_GRPC_ENDPOINT: string;
  PROMETHEUS_METRICS_URL: string;
  COLLECTOR_HEALTH_URL: string;
  [key: string]: string | number;
}

export interface Backends {
  /** Jaeger query API base, e.g. http://127.0.0.1:40123 (append /api/traces...). */
  readonly jaegerQueryUrl: string;
  /** Collector OTLP/HTTP base URL; POST traces to `${otlpHttpEndpoint}/v1/traces`. */
  readonly otlpHttpEndpoint: string;
  /** Collector OTLP/gRPC URL, e.g. http://127.0.0.1:40124. */
  readonly otlpGrpcEndpoint: string;
  /** The collector's Prometheus exporter, full URL including /metrics. */
  readonly prometheusMetricsUrl: string;
  readonly stateDir: string;
  readonly state: BackendsState;
  /** Stop Jaeger and the collector and remove the state dir. Idempotent. */
  stop(): Promise<void>;
  /** Stop only the collector (Jaeger keeps its data). */
  stopCollector(): Promise<void>;
  /** Start the collector again on the same ports; resolves once it is healthy. */
  startCollector(): Promise<void>;
}

function runScript(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [backendsScript, ...args],
      { env, cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`backends.sh ${args.join(' ')} failed: ${error.message}\n${stderr}`.trimEnd()),
          );
        } else {
          resolvePromise({ stdout, stderr });
        }
      },
    );
  });
}

export interface StartBackendsOptions {
  /** Extra environment for the script / collector (e.g. COLLECTOR_DEBUG_VERBOSITY). */
  env?: Record<string, string>;
  /** Timeout for `start` in ms (default 280 s; includes a build if the binary is missing). */
  timeoutMs?: number;
}

export async function startBackends(options: StartBackendsOptions = {}): Promise<Backends> {
  const stateDir = await mkdtemp(join(tmpdir(), 'agentbus-backends-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, STATE_DIR: stateDir };
  const timeoutMs = options.timeoutMs ?? 280_000;
  try {
    await runScript(['start'], env, timeoutMs);
  } catch (err) {
    await runScript(['stop'], env, 30_000).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const readState = async (): Promise<BackendsState> =>
    JSON.parse(await readFile(join(stateDir, 'backends.json'), 'utf8')) as BackendsState;
  let state = await readState();
  let stopped = false;
  const backends: Backends = {
    jaegerQueryUrl: state.JAEGER_QUERY_URL,
    otlpHttpEndpoint: state.OTLP_HTTP_ENDPOINT,
    otlpGrpcEndpoint: state.OTLP_GRPC_ENDPOINT,
    prometheusMetricsUrl: state.PROMETHEUS_METRICS_URL,
    stateDir,
    get state() {
      return state;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await runScript(['stop'], env, 60_000);
      await rm(stateDir, { recursive: true, force: true });
    },
    async stopCollector() {
      await runScript(['stop-collector'], env, 60_000);
    },
    async startCollector() {
      await runScript(['start-collector'], env, timeoutMs);
      state = await readState();
    },
  };
  return backends;
}

// ------------------------------------------------------------ Jaeger query API

export interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  /** µs since epoch */
  startTime: number;
  /** µs */
  duration: number;
  tags: JaegerTag[];
  logs: { timestamp: number; fields: JaegerTag[] }[];
  processID: string;
  warnings?: string[] | null;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
}

export interface QueryJaegerOptions {
  /** Resolve once this holds for the traces found (default: at least one trace). */
  until?: (traces: JaegerTrace[]) => boolean;
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra query parameters (operation, tags, lookback, limit, ...). */
  params?: Record<string, string>;
}

/**
 * Polls `GET {jaegerQueryUrl}/api/traces?service=...` until `until` holds;
 * returns the traces then. Throws on timeout with the last response summarised.
 */
export async function queryJaegerTraces(
  jaegerQueryUrl: string,
  service: string,
  options: QueryJaegerOptions = {},
): Promise<JaegerTrace[]> {
  const until = options.until ?? ((traces) => traces.length > 0);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const url = new URL('/api/traces', jaegerQueryUrl);
  url.searchParams.set('service', service);
  url.searchParams.set('limit', '100');
  url.searchParams.set('lookback', '1h');
  for (const [k, v] of Object.entries(options.params ?? {})) url.searchParams.set(k, v);
  const deadline = Date.now() + timeoutMs;
  let last = 'no response yet';
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) {
        const body = (await res.json()) as { data: JaegerTrace[] | null };
        const traces = body.data ?? [];
        if (until(traces)) return traces;
        last = `${traces.length} trace(s), ${traces.reduce((n, t) => n + t.spans.length, 0)} span(s)`;
      } else {
        // Jaeger answers 404/500 with "service not found" style errors until the
        // first span of that service is stored.
        last = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
      }
    } catch (err) {
      last = String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`queryJaegerTraces(${service}) timed out after ${timeoutMs} ms; last: ${last}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `GET /api/traces/{traceId}` once; undefined when Jaeger does not have it (yet). */
export async function getJaegerTrace(
  jaegerQueryUrl: string,
  traceId: string,
): Promise<JaegerTrace | undefined> {
  const res = await fetch(new URL(`/api/traces/${traceId}`, jaegerQueryUrl));
  if (!res.ok) return undefined;
  const body = (await res.json()) as { data: JaegerTrace[] | null };
  return body.data?.[0];
}

/** Text of the collector's Prometheus exporter (throws on a non-2xx answer). */
export async function scrapePrometheus(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`scrape ${url}: HTTP ${res.status}`);
  return res.text();
}

/** Scrapes until `until(text)` holds (e.g. a metric name appears). */
export async function pollPrometheus(
  url: string,
  until: (text: string) => boolean,
  { timeoutMs = 30_000, intervalMs = 250 } = {},
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      last = await scrapePrometheus(url);
      if (until(last)) return last;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`pollPrometheus timed out after ${timeoutMs} ms; last:\n${last.slice(0, 2000)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Tag value of a Jaeger span by key (undefined when absent). */
export function spanTag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}
