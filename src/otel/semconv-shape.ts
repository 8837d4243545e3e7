/**
 * Which shape of the GenAI conventions the bridge writes, decided once when
 * it is created: the released names (the default), or the development
 * repository's latest under `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`
 * or the bridge's `semconv: 'latest'` option (which wins over the variable).
 *
 * A shape is a pair of objects the step tracer calls without asking which
 * one it has (the metrics, the span usage attributes): nothing per event
 * compares a setting.
 */
import type { Attributes, MeterProvider } from './api.js';
import { latestUsageAttributes, usageAttributes } from './mapping.js';
import { GenAiMetrics, type StepMetrics } from './metrics.js';
import { LatestGenAiMetrics } from './metrics-latest.js';
import { SEMCONV_OPT_IN_GEN_AI_LATEST } from './semconv.js';
import type { SpanEntry } from './span-table.js';

/** The names of the two shapes, as `OtelBridgeOptions.semconv` takes them. */
export type SemconvShapeName = 'released' | 'latest';

/** What a shape gives the step tracer. */
export interface SemconvShape {
  readonly name: SemconvShapeName;
  readonly metrics: StepMetrics;
  /** The `gen_ai.usage.*` attributes a span ends with. */
  readonly usageAttributes: (usage: SpanEntry) => Attributes;
}

/**
 * The shape to write: `option` when given, else `latest` when the
 * comma-separated `OTEL_SEMCONV_STABILITY_OPT_IN` lists
 * `gen_ai_latest_experimental`, else `released`. Other entries of the list
 * (`http`, `database/dup`, ...) are other instrumentations' and ignored; the
 * GenAI conventions define no `/dup` form, so there is no shape with both.
 * @throws {TypeError} `"instrumentOtel: semconv must be 'released' or 'latest', got <value>"`.
 */
export function semconvShapeName(option: unknown, optIn: string | undefined): SemconvShapeName {
  if (option === 'released' || option === 'latest') return option;
  if (option !== undefined) {
    throw new TypeError(`instrumentOtel: semconv must be 'released' or 'latest', got ${typeof option === 'string' ? JSON.stringify(option) : String(option)}`);
  }
  if (optIn === undefined) return 'released';
  return optIn.split(',').some((entry) => entry.trim() === SEMCONV_OPT_IN_GEN_AI_LATEST) ? 'latest' : 'released';
}

/** `OTEL_SEMCONV_STABILITY_OPT_IN` as the process has it, undefined where there is no `process` (edge runtimes). */
export function semconvOptIn(): string | undefined {
  return globalThis.process?.env?.OTEL_SEMCONV_STABILITY_OPT_IN;
}

/** Builds the metrics and usage attributes of a shape on `meterProvider` (or the global one). */
export function createSemconvShape(name: SemconvShapeName, meterProvider: MeterProvider | undefined): SemconvShape {
  if (name === 'latest') return { name, metrics: new LatestGenAiMetrics(meterProvider), usageAttributes: latestUsageAttributes };
  return { name, metrics: new GenAiMetrics(meterProvider), usageAttributes };
}
