/**
 * Token prices the user supplies, and the cost of one model call under them.
 *
 * agentbus ships no prices: a price is a fact about a contract on a date,
 * and only the user knows it. A table is checked once, where it is given
 * (`runContext`, `instrumentOtel`), and copied into a `Map`, so that a
 * model named `__proto__` or `constructor` is a key like any other and
 * nothing read later can throw or change under the reader.
 *
 * Prices are per MILLION tokens, as providers publish them (and as
 * `agentbus ui --price` takes them).
 */
import { errorText } from './payload-text.js';
import type { TokenUsage } from './trace.js';
import { shownValue } from './options.js';

/**
 * One model's prices, each in `currency` per MILLION tokens. Only `currency`,
 * `inputPerMillion` and `outputPerMillion` are required; a cache or
 * reasoning price left out means those tokens cost what other input
 * (output) tokens cost.
 */
export interface ModelPrice {
  /** ISO 4217 code of the currency the prices are in: three uppercase letters (`USD`, `EUR`). */
  currency: string;
  /** Per million input tokens not priced below (not read from or written to a cache). */
  inputPerMillion: number;
  /** Per million output tokens not priced as reasoning. */
  outputPerMillion: number;
  /** Per million input tokens served from a provider cache (`cacheReadInputTokens`), instead of the input price. */
  cacheReadPerMillion?: number | undefined;
  /** Per million input tokens written to a provider cache (`cacheCreationInputTokens`), instead of the input price. */
  cacheWritePerMillion?: number | undefined;
  /** Per million output tokens spent on reasoning (`reasoningOutputTokens`), instead of the output price. */
  reasoningPerMillion?: number | undefined;
}

/** Prices by model name, as `agent.tokens.used` names the model (`gpt-4o-mini`). */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

/**
 * The cost of one model call, as `agent.tokens.used` carries it and the
 * proposed `gen_ai.usage.cost.*` attributes say it.
 */
export interface TokenCost {
  /** In `currency`; finite, never negative. */
  amount: number;
  /** ISO 4217 code. */
  currency: string;
  /** `local`: computed here from a price table; `provider`: the provider (or a gateway) reported it. */
  source: 'local' | 'provider';
}

/** @internal A checked price table: model name -> its prices, frozen. */
export type Prices = ReadonlyMap<string, Readonly<ModelPrice>>;

/** An ISO 4217 currency code as the conventions want it: three uppercase letters. */
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;

const PRICE_FIELDS = ['inputPerMillion', 'outputPerMillion', 'cacheReadPerMillion', 'cacheWritePerMillion', 'reasoningPerMillion'] as const;
const REQUIRED: ReadonlySet<string> = new Set(['inputPerMillion', 'outputPerMillion']);

/**
 * The price table option checked and copied, or undefined when not given.
 * Every field is read once, here: a getter that throws, a price that is not
 * a finite non-negative number, a currency that is not three uppercase
 * letters is refused with the path to it.
 * `name` is the option as the caller's errors name it (`runContext: options.prices`).
 * @throws {TypeError} `"runContext: options.prices["gpt-4o"].inputPerMillion must be a finite number >= 0 (USD per million tokens), got -1"`.
 */
export function pricesOption(name: string, prices: unknown): Prices | undefined {
  if (prices === undefined) return undefined;
  if (typeof prices !== 'object' || prices === null || Array.isArray(prices)) {
    throw new TypeError(`${name} must be an object of ModelPrice by model name, or undefined, got ${Array.isArray(prices) ? 'an array' : shownValue(prices)}`);
  }
  const table = new Map<string, Readonly<ModelPrice>>();
  let models: string[];
  try {
    models = Object.keys(prices);
  } catch (error) {
    throw new TypeError(`${name} could not be read: ${errorText(error)}`);
  }
  for (const model of models) {
    const where = `${name}[${JSON.stringify(model)}]`;
    let entry: unknown;
    try {
      entry = (prices as Record<string, unknown>)[model];
    } catch (error) {
      throw new TypeError(`${where} could not be read: ${errorText(error)}`);
    }
    table.set(model, modelPrice(where, entry));
  }
  return table;
}

function modelPrice(where: string, entry: unknown): Readonly<ModelPrice> {
  if (typeof entry !== 'object' || entry === null) {
    throw new TypeError(`${where} must be an object { currency, inputPerMillion, outputPerMillion, ... }, got ${shownValue(entry)}`);
  }
  const read = (field: string): unknown => {
    try {
      return (entry as Record<string, unknown>)[field];
    } catch (error) {
      throw new TypeError(`${where}.${field} could not be read: ${errorText(error)}`);
    }
  };
  const currency = read('currency');
  if (typeof currency !== 'string' || !CURRENCY_PATTERN.test(currency)) {
    throw new TypeError(`${where}.currency must be an ISO 4217 code of three uppercase letters ("USD"), got ${shownValue(currency)}`);
  }
  const price: ModelPrice = { currency, inputPerMillion: 0, outputPerMillion: 0 };
  for (const field of PRICE_FIELDS) {
    const value = read(field);
    if (value === undefined && !REQUIRED.has(field)) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`${where}.${field} must be a finite number >= 0 (${currency} per million tokens)${REQUIRED.has(field) ? '' : ' or undefined'}, got ${shownValue(value)}`);
    }
    price[field] = value;
  }
  return Object.freeze(price);
}

function tokens(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/**
 * The cost of one model call's `usage` at `price`, or undefined when it
 * cannot be said (input or output count not a finite number >= 0, or a
 * result too large to be finite). Input tokens include the cached ones and
 * output tokens the reasoning ones (see `TokenUsage`), so:
 *
 * ```
 * amount = ( (input  - cacheRead* - cacheWrite*) × inputPerMillion
 *          +  cacheRead*  × cacheReadPerMillion
 *          +  cacheWrite* × cacheWritePerMillion
 *          + (output - reasoning*) × outputPerMillion
 *          +  reasoning*  × reasoningPerMillion ) / 1,000,000
 * ```
 *
 * where a starred count is counted apart only when its price is given
 * (otherwise those tokens stay at the input or output price), and a
 * difference below zero (counts that do not add up) is taken as zero.
 */
export function costOf(price: Readonly<ModelPrice>, usage: TokenUsage): TokenCost | undefined {
  const input = usage.inputTokens;
  const output = usage.outputTokens;
  if (typeof input !== 'number' || !(input >= 0) || typeof output !== 'number' || !(output >= 0)) return undefined;
  const cacheRead = price.cacheReadPerMillion === undefined ? 0 : tokens(usage.cacheReadInputTokens);
  const cacheWrite = price.cacheWritePerMillion === undefined ? 0 : tokens(usage.cacheCreationInputTokens);
  const reasoning = price.reasoningPerMillion === undefined ? 0 : tokens(usage.reasoningOutputTokens);
  const perMillion =
    Math.max(0, input - cacheRead - cacheWrite) * price.inputPerMillion +
    cacheRead * (price.cacheReadPerMillion ?? 0) +
    cacheWrite * (price.cacheWritePerMillion ?? 0) +
    Math.max(0, output - reasoning) * price.outputPerMillion +
    reasoning * (price.reasoningPerMillion ?? 0);
  const amount = perMillion / 1_000_000;
  // Enormous counts overflow to Infinity (or Infinity - Infinity to NaN): no cost rather than a false one.
  if (!Number.isFinite(amount)) return undefined;
  return { amount, currency: price.currency, source: 'local' };
}

/**
 * The cost of a model call in `prices`, or undefined when the model has no
 * price there (no cost is ever guessed) or the usage cannot be priced.
 */
export function costIn(prices: Prices, model: unknown, usage: TokenUsage): TokenCost | undefined {
  if (typeof model !== 'string') return undefined;
  const price = prices.get(model);
  return price === undefined ? undefined : costOf(price, usage);
}

/**
 * The cost an event carries, read once and copied, or undefined unless it
 * is one: a finite amount >= 0, a three-letter currency and a known source.
 * Events come from user code and the wire; anything else is not used.
 */
export function readTokenCost(value: unknown): TokenCost | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  let amount: unknown;
  let currency: unknown;
  let source: unknown;
  try {
    ({ amount, currency, source } = value as Record<string, unknown>);
  } catch {
    return undefined;
  }
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) return undefined;
  if (typeof currency !== 'string' || !CURRENCY_PATTERN.test(currency)) return undefined;
  if (source !== 'local' && source !== 'provider') return undefined;
  return { amount, currency, source };
}
