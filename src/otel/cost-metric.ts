/**
 * The cost counter, `gen_ai.client.operation.cost` (proposed in
 * semantic-conventions-genai PR #443), shared by both shapes of the
 * conventions as `McpDurations` is: the proposal is the same whichever
 * token metrics the bridge writes.
 *
 * A counter's unit is fixed when it is created, and amounts in two
 * currencies must never be added, so there is one instrument per currency
 * (same name, the currency as its unit), made when that currency is first
 * seen. Every point also carries `gen_ai.usage.cost.currency`.
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

/** Distinct (provider, model, currency, source) attribute sets kept; past this the cache starts over. */
const ATTRIBUTES_CACHED = 256;
/** Currencies given an instrument of their own; a cost in one more is not recorded (a hostile stream could name many). */
const MAX_CURRENCIES = 16;

/** The cost counters on one meter: one per currency. */
export class CostCounters {
  readonly #meter: Meter;
  readonly #counters = new Map<string, Counter>();
  readonly #attributes = new Map<string, Attributes>();

  constructor(meter: Meter) {
    this.#meter = meter;
  }

  /**
   * Adds one model call's cost (a checked `TokenCost`: finite, >= 0, a
   * three-letter currency) with the call's operation, provider and model.
   * A priced call that cost 0 adds 0: the point says it was priced.
   */
  add(provider: string, model: string, cost: TokenCost): void {
    const counter = this.#counterOf(cost.currency);
    if (counter !== undefined) counter.add(cost.amount, this.#attributesOf(provider, model, cost));
  }

  #counterOf(currency: string): Counter | undefined {
    let counter = this.#counters.get(currency);
    if (counter === undefined) {
      if (this.#counters.size >= MAX_CURRENCIES) return undefined;
      counter = this.#meter.createCounter(METRIC_GEN_AI_CLIENT_OPERATION_COST, {
        unit: currency,
        description: 'The cost of GenAI inference operations, in the currency of its unit.',
      });
      this.#counters.set(currency, counter);
    }
    return counter;
  }

  #attributesOf(provider: string, model: string, cost: TokenCost): Attributes {
    const key = `${provider}\u0000${model}\u0000${cost.currency}\u0000${cost.source}`;
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
