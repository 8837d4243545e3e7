/**
 * The cost counter, `gen_ai.client.operation.cost` (proposed in
 * semantic-conventions-genai PR #443), shared by both shapes of the
 * conventions as `McpDurations` is: the proposal is the same whichever
 * token metrics the bridge writes.
 *
 * One instrument, its points split by `gen_ai.usage.cost.currency`: amounts
 * in two currencies are never added into one point, and a query sums them
 * by currency as it would by model. Not one instrument per currency with
 * the currency as its unit: the SDK warns of an instrument registered twice
 * under one name with different units, and an OTLP backend would merge or
 * refuse the second.
 */
import type { Attributes, Counter, Meter } from './api.js';
import type { TokenCost } from '../prices.js';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_USAGE_COST,
  GEN_AI_OPERATION,
  METRIC_GEN_AI_CLIENT_OPERATION_COST,
} from './semconv.js';
import { seriesKey } from './series-key.js';

/** Distinct (provider, model, currency, source) attribute sets kept; past this the cache starts over (the SDK bounds its own series). */
const ATTRIBUTES_CACHED = 256;

/** The cost counter on one meter. */
export class CostCounter {
  readonly #counter: Counter;
  readonly #attributes = new Map<string, Attributes>();

  constructor(meter: Meter) {
    this.#counter = meter.createCounter(METRIC_GEN_AI_CLIENT_OPERATION_COST, {
      // UCUM has no currencies: an annotation, and the currency is each point's attribute.
      unit: '{currency}',
      description: 'The cost of GenAI inference operations, in the currency its gen_ai.usage.cost.currency names.',
    });
  }

  /**
   * Adds one model call's cost (a checked `TokenCost`: finite, >= 0, a
   * three-letter currency) with the call's operation, provider and model.
   * A priced call that cost 0 adds 0: the point says it was priced.
   */
  add(provider: string, model: string, cost: TokenCost): void {
    this.#counter.add(cost.amount, this.#attributesOf(provider, model, cost));
  }

  #attributesOf(provider: string, model: string, cost: TokenCost): Attributes {
    // The currency (three capitals) and source (a word) after the model cannot make two keys alike.
    const key = `${seriesKey(String(provider), String(model))}\u0000${cost.currency}\u0000${cost.source}`;
    let attributes = this.#attributes.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze({
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
        [ATTR_GEN_AI_USAGE_COST.currency]: cost.currency,
        [ATTR_GEN_AI_USAGE_COST.source]: cost.source,
      });
      if (this.#attributes.size >= ATTRIBUTES_CACHED) this.#attributes.clear();
      this.#attributes.set(key, attributes);
    }
    return attributes;
  }
}
