/**
 * The bridge's histograms in the released shape: the GenAI conventions'
 * `gen_ai.client.token.usage` per model call and token type and
 * `gen_ai.client.operation.duration` per agent, model and tool step; and the
 * MCP conventions' `mcp.client.operation.duration` and
 * `mcp.server.operation.duration` per step made over MCP (agentbus/mcp),
 * which both shapes share (`McpDurations`). Each with its conventions' unit
 * and bucket boundaries. The latest shape is metrics-latest.ts; what both
 * offer the step tracer is `StepMetrics`.
 */
import { metrics, type Attributes, type Histogram, type Meter, type MeterProvider } from './api.js';
import type { EventData } from '../index.js';
import { VERSION } from '../version.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_MCP,
  GEN_AI_OPERATION,
  GEN_AI_TOKEN_TYPE,
  INSTRUMENTATION_SCOPE,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_MCP_CLIENT_OPERATION_DURATION,
  METRIC_MCP_SERVER_OPERATION_DURATION,
  MCP_OPERATION_DURATION_BUCKETS,
  OPERATION_DURATION_BUCKETS,
  TOKEN_USAGE_BUCKETS,
} from './semconv.js';
import { rpcStatusCode, type McpStep, type StepSpan } from './mapping.js';
import type { SpanEntry } from './span-table.js';
import { CostCounter } from './cost-metric.js';
import type { TokenCost } from '../prices.js';
import { seriesKey } from './series-key.js';
import type { TokenCounts } from './token-counts.js';

/** Distinct (provider, model) pairs whose token attributes are kept; past this the cache starts over. */
const TOKEN_ATTRIBUTES_CACHED = 256;

/**
 * What the step tracer and the bridge ask of the metrics, whichever shape of
 * the conventions they are in (chosen once, when the bridge is created).
 */
export interface StepMetrics {
  /** Looks up the global meter provider again (unless one was given): see `GenAiMetrics.refresh`. */
  refresh(): void;
  /**
   * Records one model call's token usage: the counts of an `agent.tokens.used`
   * payload the bridge took (see token-counts.ts); one left undefined is not recorded.
   */
  recordTokens(usage: EventData<'agent.tokens.used'>, counts: TokenCounts): void;
  /** Records one model call's cost (checked: see `readTokenCost`) on the proposed cost counter. */
  recordCost(usage: EventData<'agent.tokens.used'>, cost: TokenCost): void;
  /**
   * The attributes a step's duration measurement starts with (frozen, shared
   * where they can be), or undefined for a step not measured in this shape.
   * `parent` is the enclosing step's entry while it is open; `runNested`,
   * whether the step's run started inside an invocation (`RunTrace.inInvocation`).
   */
  durationAttributes(spec: StepSpan, parent: SpanEntry | undefined, runNested: boolean): Attributes | undefined;
  /** Records how long a step took, once, when its span ends. */
  recordDuration(entry: SpanEntry, at: number, failure: string | undefined, responseModel: string | undefined): void;
}

/** A histogram with its conventions' unit, description and bucket boundaries. */
export function histogramOf(meter: Meter, name: string, unit: string, description: string, buckets: readonly number[]): Histogram {
  return meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: [...buckets] } });
}

/** The two MCP duration histograms on one meter, shared by both shapes (the MCP conventions did not change). */
export class McpDurations {
  readonly #client: Histogram;
  readonly #server: Histogram;

  constructor(meter: Meter) {
    this.#client = histogramOf(
      meter,
      METRIC_MCP_CLIENT_OPERATION_DURATION,
      's',
      'The duration of the MCP request as observed on the sender from the time it was sent until the response is received.',
      MCP_OPERATION_DURATION_BUCKETS,
    );
    this.#server = histogramOf(
      meter,
      METRIC_MCP_SERVER_OPERATION_DURATION,
      's',
      'MCP request duration as observed on the receiver from the time it was received until the result is sent.',
      MCP_OPERATION_DURATION_BUCKETS,
    );
  }

  /** Records a step made over MCP on its side's histogram, with `error.type` (and the JSON-RPC code) when it failed. */
  record(mcp: McpStep, seconds: number, failure: string | undefined): void {
    const histogram = mcp.side === 'server' ? this.#server : this.#client;
    if (failure === undefined) {
      // The attributes the step started with, as they are: nothing built per measurement.
      histogram.record(seconds, mcp.metricAttributes);
      return;
    }
    const attributes: Attributes = { ...mcp.metricAttributes, [ATTR_ERROR_TYPE]: failure };
    const code = rpcStatusCode(failure);
    if (code !== undefined) attributes[ATTR_MCP.rpcResponseStatusCode] = code;
    histogram.record(seconds, attributes);
  }
}

/** The released shape's histograms on one meter provider: the one given, or the global one as it is at each run start. */
export class GenAiMetrics implements StepMetrics {
  readonly #fixedProvider: MeterProvider | undefined;
  #provider: MeterProvider | undefined;
  #tokens!: Histogram;
  #duration!: Histogram;
  #mcp!: McpDurations;
  #cost!: CostCounter;
  // Token measurements come two per model call with the same few attribute
  // sets: built once per (provider, model), not per measurement.
  readonly #tokenAttributes = new Map<string, readonly [Attributes, Attributes]>();

  constructor(meterProvider: MeterProvider | undefined) {
    this.#fixedProvider = meterProvider;
    this.refresh();
  }

  /**
   * Looks up the global meter provider again (unless one was given). The
   * metrics API has no proxy provider, so one registered after the bridge
   * was attached is only seen this way.
   */
  refresh(): void {
    const provider = this.#fixedProvider ?? metrics.getMeterProvider();
    if (provider === this.#provider) return;
    this.#provider = provider;
    const meter = provider.getMeter(INSTRUMENTATION_SCOPE, VERSION);
    this.#tokens = histogramOf(meter, METRIC_GEN_AI_CLIENT_TOKEN_USAGE, '{token}', 'Number of input and output tokens used.', TOKEN_USAGE_BUCKETS);
    this.#duration = histogramOf(meter, METRIC_GEN_AI_CLIENT_OPERATION_DURATION, 's', 'GenAI operation duration.', OPERATION_DURATION_BUCKETS);
    this.#mcp = new McpDurations(meter);
    this.#cost = new CostCounter(meter);
  }

  /** Records one model call's cost on `gen_ai.client.operation.cost` (proposed). */
  recordCost(usage: EventData<'agent.tokens.used'>, cost: TokenCost): void {
    this.#cost.add(usage.provider, usage.model, cost);
  }

  /** Records one model call's input and output tokens, those that are counts (see token-counts.ts). */
  recordTokens(usage: EventData<'agent.tokens.used'>, counts: TokenCounts): void {
    const [input, output] = this.#tokenAttributesOf(usage.provider, usage.model);
    if (counts.inputTokens !== undefined) this.#tokens.record(counts.inputTokens, input);
    if (counts.outputTokens !== undefined) this.#tokens.record(counts.outputTokens, output);
  }

  /** The attributes mapping.ts gave the step (`StepSpan.durationAttributes`), as they are. */
  durationAttributes(spec: StepSpan): Attributes | undefined {
    return spec.durationAttributes;
  }

  /**
   * Records how long a step took, in seconds on our clock (exact, unlike its
   * span's wall-clock times), with the attributes it started with (see
   * mapping.ts: provider, request model and server of a model call, the
   * provider and model of an agent, the operation alone for a tool), the
   * model that answered (`gen_ai.response.model`) and `error.type` when it
   * failed. Fan-outs and a run's own root are not measured. A step made over
   * MCP is measured by its side's MCP histogram, and as a GenAI operation
   * only when it is one: a `tools/call` (`execute_tool`), not a
   * `resources/read` or `prompts/get`.
   */
  recordDuration(entry: SpanEntry, at: number, failure: string | undefined, responseModel: string | undefined): void {
    const mcp = entry.mcp;
    const started = entry.durationAttributes;
    if (mcp === undefined && started === undefined) return;
    const seconds = Math.max(0, at - entry.startTime) / 1000;
    if (mcp !== undefined) this.#mcp.record(mcp, seconds, failure);
    if (started === undefined) return;
    if (failure === undefined && responseModel === undefined) {
      // The set the step started with, as it is (for tools one shared set): nothing built per measurement.
      this.#duration.record(seconds, started);
      return;
    }
    const attributes: Attributes = { ...started };
    if (responseModel !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
    if (failure !== undefined) attributes[ATTR_ERROR_TYPE] = failure;
    this.#duration.record(seconds, attributes);
  }

  #tokenAttributesOf(provider: string, model: string): readonly [Attributes, Attributes] {
    const key = seriesKey(String(provider), String(model));
    let pair = this.#tokenAttributes.get(key);
    if (pair === undefined) {
      const base = {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
      };
      pair = [
        { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE.input },
        { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE.output },
      ];
      if (this.#tokenAttributes.size >= TOKEN_ATTRIBUTES_CACHED) this.#tokenAttributes.clear();
      this.#tokenAttributes.set(key, pair);
    }
    return pair;
  }
}
