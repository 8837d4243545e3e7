/**
 * The bridge's metrics in the latest shape of the GenAI conventions (the
 * development repository `semantic-conventions-genai`, chosen by
 * `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` or
 * `semconv: 'latest'`): token usage as monotonic counters by
 * `gen_ai.token.modality` plus two per-operation histograms, where the
 * released shape has the one `gen_ai.client.token.usage` histogram; and a
 * duration histogram per kind of step where the released shape has
 * `gen_ai.client.operation.duration` for all of them:
 *
 * - a model call: `gen_ai.client.inference.duration` (`gen_ai.client.operation.duration`
 *   "SHOULD NOT be reported for inference operations" there, and the bridge
 *   measures nothing else it would cover);
 * - an agent invocation, a fan-out and a run's own root (workflows):
 *   `gen_ai.invocation.duration`, with `gen_ai.invocation.is_nested`;
 * - a tool call (a `tools/call` over MCP included): `gen_ai.execute_tool.duration`.
 *
 * The MCP histograms are the same in both shapes (`McpDurations`).
 */
import { metrics, type Attributes, type Counter, type Histogram, type MeterProvider } from './api.js';
import type { EventData } from '../index.js';
import type { TokenCounts } from './token-counts.js';
import { VERSION } from '../version.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_INVOCATION_IS_NESTED,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_MODALITY,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_WORKFLOW_NAME,
  GEN_AI_OPERATION,
  GEN_AI_TOKEN_MODALITY_UNKNOWN,
  GEN_AI_TOOL_TYPE_FUNCTION,
  INSTRUMENTATION_SCOPE,
  INVOCATION_DURATION_BUCKETS,
  METRIC_LATEST,
  OPERATION_DURATION_BUCKETS,
  TOKEN_USAGE_BUCKETS,
} from './semconv.js';
import type { StepSpan } from './mapping.js';
import type { SpanEntry } from './span-table.js';
import { histogramOf, McpDurations, type StepMetrics } from './metrics.js';
import { CostCounter } from './cost-metric.js';
import type { TokenCost } from '../prices.js';
import { seriesKey } from './series-key.js';

/** Distinct (provider, model) pairs, and (tool, agent) pairs, whose attribute sets are kept; past this a cache starts over. */
const ATTRIBUTES_CACHED = 256;

/** The attribute sets of one (provider, model): the counters' (with modality) and the histograms' (without). */
interface TokenAttributes {
  readonly counters: Attributes;
  readonly histograms: Attributes;
}

/** The latest shape's counters and histograms on one meter provider: the one given, or the global one as it is at each run start. */
export class LatestGenAiMetrics implements StepMetrics {
  readonly #fixedProvider: MeterProvider | undefined;
  #provider: MeterProvider | undefined;
  #inputTokens!: Counter;
  #outputTokens!: Counter;
  #cacheReadInputTokens!: Counter;
  #cacheWriteInputTokens!: Counter;
  #reasoningOutputTokens!: Counter;
  #operationInputTokens!: Histogram;
  #operationOutputTokens!: Histogram;
  #inferenceDuration!: Histogram;
  #invocationDuration!: Histogram;
  #toolDuration!: Histogram;
  #mcp!: McpDurations;
  #cost!: CostCounter;
  // As in the released shape: a handful of attribute sets, built once each, not per measurement.
  readonly #tokenAttributes = new Map<string, TokenAttributes>();
  readonly #toolAttributes = new Map<string, Attributes>();

  constructor(meterProvider: MeterProvider | undefined) {
    this.#fixedProvider = meterProvider;
    this.refresh();
  }

  /** Looks up the global meter provider again (unless one was given), as `GenAiMetrics.refresh` does. */
  refresh(): void {
    const provider = this.#fixedProvider ?? metrics.getMeterProvider();
    if (provider === this.#provider) return;
    this.#provider = provider;
    const meter = provider.getMeter(INSTRUMENTATION_SCOPE, VERSION);
    const counter = (name: string, description: string): Counter => meter.createCounter(name, { unit: '{token}', description });
    this.#inputTokens = counter(METRIC_LATEST.usageInputTokens, 'The number of input (prompt) tokens used, including cached tokens.');
    this.#outputTokens = counter(METRIC_LATEST.usageOutputTokens, 'The number of output (completion) tokens used, including reasoning tokens.');
    this.#cacheReadInputTokens = counter(METRIC_LATEST.usageCacheReadInputTokens, 'The number of input tokens served from a provider-managed cache.');
    this.#cacheWriteInputTokens = counter(METRIC_LATEST.usageCacheWriteInputTokens, 'The number of input tokens written to a provider-managed cache.');
    this.#reasoningOutputTokens = counter(
      METRIC_LATEST.usageReasoningOutputTokens,
      'The number of output tokens used for reasoning (e.g. chain-of-thought, extended thinking).',
    );
    this.#operationInputTokens = histogramOf(
      meter,
      METRIC_LATEST.operationInputTokens,
      '{token}',
      'The number of input (prompt) tokens used per inference operation.',
      TOKEN_USAGE_BUCKETS,
    );
    this.#operationOutputTokens = histogramOf(
      meter,
      METRIC_LATEST.operationOutputTokens,
      '{token}',
      'The number of output (completion) tokens used per inference operation.',
      TOKEN_USAGE_BUCKETS,
    );
    this.#inferenceDuration = histogramOf(meter, METRIC_LATEST.inferenceDuration, 's', 'GenAI client inference operation duration.', OPERATION_DURATION_BUCKETS);
    this.#invocationDuration = histogramOf(
      meter,
      METRIC_LATEST.invocationDuration,
      's',
      'The end-to-end duration of an in-process GenAI conversation turn, workflow, or agent invocation.',
      INVOCATION_DURATION_BUCKETS,
    );
    this.#toolDuration = histogramOf(meter, METRIC_LATEST.executeToolDuration, 's', 'The duration of a single tool execution.', OPERATION_DURATION_BUCKETS);
    this.#mcp = new McpDurations(meter);
    this.#cost = new CostCounter(meter);
  }

  /** Records one model call's cost on `gen_ai.client.operation.cost` (proposed; the same counter as the released shape's). */
  recordCost(usage: EventData<'agent.tokens.used'>, cost: TokenCost): void {
    this.#cost.add(usage.provider, usage.model, cost);
  }

  /**
   * Records one model call's tokens: each reported count on its counter, and
   * the input and output counts on the per-operation histograms. Our events
   * carry no modality breakdown (`agent.tokens.used` has totals only), so the
   * counters say `gen_ai.token.modality=unknown`, the conventions' value "when
   * the provider does not break usage down by modality". A cache or reasoning
   * count the event does not carry is not recorded: the provider did not
   * report it, and a 0 would claim it did; nor is one that is no count
   * (see token-counts.ts: a string, a negative, NaN, Infinity, past 2^53-1),
   * which would make the series' sum a string or Infinity for good.
   */
  recordTokens(usage: EventData<'agent.tokens.used'>, counts: TokenCounts): void {
    const { counters, histograms } = this.#tokenAttributesOf(usage.provider, usage.model);
    if (counts.inputTokens !== undefined) {
      this.#inputTokens.add(counts.inputTokens, counters);
      this.#operationInputTokens.record(counts.inputTokens, histograms);
    }
    if (counts.outputTokens !== undefined) {
      this.#outputTokens.add(counts.outputTokens, counters);
      this.#operationOutputTokens.record(counts.outputTokens, histograms);
    }
    if (counts.cacheReadInputTokens !== undefined) this.#cacheReadInputTokens.add(counts.cacheReadInputTokens, counters);
    if (counts.cacheCreationInputTokens !== undefined) this.#cacheWriteInputTokens.add(counts.cacheCreationInputTokens, counters);
    if (counts.reasoningOutputTokens !== undefined) this.#reasoningOutputTokens.add(counts.reasoningOutputTokens, counters);
  }

  /**
   * The attributes each latest duration metric asks for, picked as the step
   * starts: a model call's are the released shape's (provider, request model,
   * server); an agent's, its name, its model when it has one, and whether it
   * runs inside another invocation; a workflow's (fan-out, run root), its name
   * when it has one and the same; a tool's, its name and type and the agent
   * that runs it (one shared set per tool and agent).
   */
  durationAttributes(spec: StepSpan, parent: SpanEntry | undefined, runNested: boolean): Attributes | undefined {
    const span = spec.attributes;
    // Inside an invocation of this run, or, at its top, inside one of the run that started it.
    const nested = parent === undefined ? runNested : parent.inInvocation;
    switch (spec.stepKind) {
      case 'model':
        return spec.durationAttributes;
      case 'tool':
        // Undefined for an MCP resources/read or prompts/get: not a tool execution.
        return spec.durationAttributes === undefined ? undefined : this.#toolAttributesOf(span[ATTR_GEN_AI_TOOL_NAME], parent?.agent?.durationAttributes?.[ATTR_GEN_AI_AGENT_NAME]);
      case 'agent': {
        const attributes: Attributes = {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeAgent,
          [ATTR_GEN_AI_INVOCATION_IS_NESTED]: nested,
          [ATTR_GEN_AI_AGENT_NAME]: span[ATTR_GEN_AI_AGENT_NAME],
        };
        // The agent's configured model ("if the library allows only a single model per agent": ours does).
        const model = span[ATTR_GEN_AI_REQUEST_MODEL];
        if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
        return Object.freeze(attributes);
      }
      case 'fanout':
      case 'workflow': {
        const attributes: Attributes = {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeWorkflow,
          [ATTR_GEN_AI_INVOCATION_IS_NESTED]: nested,
        };
        const name = span[ATTR_GEN_AI_WORKFLOW_NAME];
        if (name !== undefined) attributes[ATTR_GEN_AI_WORKFLOW_NAME] = name;
        return Object.freeze(attributes);
      }
    }
  }

  /**
   * Records how long a step took (seconds on our clock, as the released
   * shape does) on its kind's histogram, with `error.type` when it failed and
   * a model call's `gen_ai.response.model`; a step made over MCP on its
   * side's MCP histogram too.
   */
  recordDuration(entry: SpanEntry, at: number, failure: string | undefined, responseModel: string | undefined): void {
    const mcp = entry.mcp;
    const started = entry.durationAttributes;
    if (mcp === undefined && started === undefined) return;
    const seconds = Math.max(0, at - entry.startTime) / 1000;
    if (mcp !== undefined) this.#mcp.record(mcp, seconds, failure);
    if (started === undefined) return;
    const kind = entry.kind;
    const histogram = kind === 'model' ? this.#inferenceDuration : kind === 'tool' ? this.#toolDuration : this.#invocationDuration;
    // Only the inference duration takes the response's model.
    const answered = kind === 'model' ? responseModel : undefined;
    if (failure === undefined && answered === undefined) {
      histogram.record(seconds, started);
      return;
    }
    const attributes: Attributes = { ...started };
    if (answered !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = answered;
    if (failure !== undefined) attributes[ATTR_ERROR_TYPE] = failure;
    histogram.record(seconds, attributes);
  }

  #tokenAttributesOf(provider: string, model: string): TokenAttributes {
    const key = seriesKey(String(provider), String(model));
    let sets = this.#tokenAttributes.get(key);
    if (sets === undefined) {
      const histograms = Object.freeze({
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
      });
      sets = { counters: Object.freeze({ ...histograms, [ATTR_GEN_AI_TOKEN_MODALITY]: GEN_AI_TOKEN_MODALITY_UNKNOWN }), histograms };
      if (this.#tokenAttributes.size >= ATTRIBUTES_CACHED) this.#tokenAttributes.clear();
      this.#tokenAttributes.set(key, sets);
    }
    return sets;
  }

  // `gen_ai.execute_tool.duration`'s attributes: the tool's name (required), its type,
  // and the agent running it "when applicable". One frozen set per (tool, agent).
  #toolAttributesOf(tool: unknown, agent: unknown): Attributes {
    // Without an agent the key starts with NUL, which no seriesKey does: a tool named 'x\0y'
    // never takes the series of tool 'x' run by agent 'y'.
    const name = String(tool);
    const key = agent === undefined ? `\u0000${name}` : seriesKey(name, String(agent));
    let attributes = this.#toolAttributes.get(key);
    if (attributes === undefined) {
      const set: Attributes = { [ATTR_GEN_AI_TOOL_NAME]: String(tool), [ATTR_GEN_AI_TOOL_TYPE]: GEN_AI_TOOL_TYPE_FUNCTION };
      if (agent !== undefined) set[ATTR_GEN_AI_AGENT_NAME] = String(agent);
      attributes = Object.freeze(set);
      if (this.#toolAttributes.size >= ATTRIBUTES_CACHED) this.#toolAttributes.clear();
      this.#toolAttributes.set(key, attributes);
    }
    return attributes;
  }
}
