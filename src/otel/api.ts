/**
 * `@opentelemetry/api`, the bridge's one required peer, loaded so that its
 * absence is a sentence rather than a bare `Cannot find package`.
 *
 * A static `import` of a missing package fails while the module graph is
 * linked, before any of our code runs, so nothing could explain it; and a
 * top-level `await import()` would make `agentbus/otel` impossible to
 * `require()`. `createRequire` loads the API synchronously and lets us catch
 * the miss. The API keeps its registered providers and context manager on a
 * global, so this copy and the one an application imports share them.
 */
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';

/** The install line for the API, as a user would type it. */
export const API_PACKAGE = '@opentelemetry/api@~1.9.0';

function load(): typeof Api {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as typeof Api;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      `agentbus/otel needs @opentelemetry/api, an optional peer dependency of agentbus: npm install ${API_PACKAGE} (${(error as Error).message.split('\n')[0]})`,
      { cause: error },
    );
  }
}

const api = load();

export const { SpanKind, SpanStatusCode, context, createTraceState, diag, metrics, trace } = api;
export type SpanKind = Api.SpanKind;
export type { Attributes, Context, Counter, Histogram, Meter, MeterProvider, Span, SpanContext, TraceState, Tracer, TracerProvider } from '@opentelemetry/api';
