/**
 * The exporter the tracing benches export into: it counts the spans it is
 * handed and reports success at once, so that a real exporter's cost (which
 * is no integration's) stays out of the comparison, and a variant that
 * drops spans shows in the count.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Counts exported spans; exports succeed at once. */
export class CountingExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}
