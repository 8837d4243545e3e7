/**
 * A deterministic, offline model: the default in examples and tests.
 *
 * Without a script it plays a plausible agent: with tools, it first calls the
 * tool that best matches the prompt (arguments derived from the tool's JSON
 * Schema), then answers from the tool's result; without tools it answers at
 * once. With a script it replays the given steps in order, one per call.
 */
import type { TokenUsage } from '../trace.js';
import type { Message, Model, ModelRequest, ModelResponse, ToolCall, ToolSpec } from './model.js';
import { usageProblem } from './token-usage.js';
import { isAbortError } from '../context.js';
import { shownValue } from '../options.js';

/** A tool call in a script; `id` defaults to `call_<turn>_<index>`. */
export interface ScriptedToolCall {
  id?: string;
  name: string;
  arguments: unknown;
  /** Simulates unparseable arguments (see {@link ToolCall.argumentsError}). */
  argumentsError?: string;
}

/** One scripted reply. Every field is optional. */
export interface ScriptedResponse {
  /** Reply text. Default `''`. */
  content?: string;
  /** Tool calls to request. Default none. */
  toolCalls?: ScriptedToolCall[];
  /** Default `tool_calls` when there are tool calls, else `stop`. */
  stopReason?: string;
  /** Reasoning text (shown in `agent.think`). */
  reasoning?: string;
  /**
   * Token counts, each a non-negative integer (they go into
   * `agent.tokens.used`). Default: about one token per 4 characters of
   * input and output.
   */
  usage?: TokenUsage;
  /** Wait this long first (abortable). */
  delayMs?: number;
  /** Fail the call with this error instead of replying. */
  error?: string | Error;
  /** The model the reply says answered (`gen_ai.response.model`). Default: none. */
  responseModel?: string;
  /** The reply's id (`gen_ai.response.id`). Default: none. */
  responseId?: string;
}

/** One step of a script: a reply, or a function of the request that returns one. */
export type ScriptStep =
  | ScriptedResponse
  | ((request: ModelRequest, call: number) => ScriptedResponse | Promise<ScriptedResponse>);

/** Options of {@link ScriptedModel}. */
export interface ScriptedModelOptions {
  /** Model name reported in events. Default `scripted`. */
  name?: string;
  /** Provider name reported in events. Default `scripted`. */
  provider?: string;
}

function abortError(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  // The reason is the aborter's value: reading it may throw (a Proxy's traps), and then it is no abort error.
  try {
    if (reason instanceof Error && isAbortError(reason)) return reason;
  } catch {
    // See above.
  }
  return new DOMException('The model call was aborted', 'AbortError');
}

/**
 * Checks one scripted reply where it is given (`where` names it: `script[0]`,
 * or `script[1]()` for what a step function returned), so that a bad script
 * fails with the step and field at fault, not with an event that fails the
 * catalogue (`agent.tokens.used`, `agent.tool.started`) or a bare property read.
 * @throws {TypeError} or, for a number out of range, {@link RangeError}.
 */
function checkStep(step: unknown, where: string): asserts step is ScriptedResponse {
  if (typeof step !== 'object' || step === null || Array.isArray(step)) {
    throw new TypeError(`ScriptedModel: ${where} must be a ScriptedResponse object${where.endsWith(')') ? '' : ' or a function'}, got ${shownValue(step)}`);
  }
  const { content, toolCalls, stopReason, reasoning, usage, delayMs } = step as Record<string, unknown>;
  for (const [field, value] of [['content', content], ['stopReason', stopReason], ['reasoning', reasoning]] as const) {
    if (value !== undefined && typeof value !== 'string') throw new TypeError(`ScriptedModel: ${where}.${field} must be a string or undefined, got ${shownValue(value)}`);
  }
  if (delayMs !== undefined && (typeof delayMs !== 'number' || !(delayMs >= 0) || delayMs === Infinity)) {
    const Problem = typeof delayMs === 'number' ? RangeError : TypeError;
    throw new Problem(`ScriptedModel: ${where}.delayMs must be a finite number of milliseconds >= 0 or undefined, got ${shownValue(delayMs)}`);
  }
  if (usage !== undefined) {
    const problem = usageProblem(usage);
    if (problem !== undefined) {
      const Problem = problem.range ? RangeError : TypeError;
      throw new Problem(`ScriptedModel: ${where}.${problem.field} must be ${problem.rule}, got ${problem.got}`);
    }
  }
  if (toolCalls === undefined) return;
  if (!Array.isArray(toolCalls)) throw new TypeError(`ScriptedModel: ${where}.toolCalls must be an array of tool calls or undefined, got ${shownValue(toolCalls)}`);
  for (const [i, call] of toolCalls.entries()) {
    const at = `${where}.toolCalls[${i}]`;
    if (typeof call !== 'object' || call === null) throw new TypeError(`ScriptedModel: ${at} must be a tool call object ({ name, arguments }), got ${shownValue(call)}`);
    const { id, name, argumentsError } = call as Record<string, unknown>;
    // The name and id go into agent.tool.started and agent.tool.completed, which want strings.
    if (typeof name !== 'string') throw new TypeError(`ScriptedModel: ${at}.name must be a string, got ${shownValue(name)}`);
    if (id !== undefined && typeof id !== 'string') throw new TypeError(`ScriptedModel: ${at}.id must be a string or undefined, got ${shownValue(id)}`);
    if (argumentsError !== undefined && typeof argumentsError !== 'string') {
      throw new TypeError(`ScriptedModel: ${at}.argumentsError must be a string or undefined, got ${shownValue(argumentsError)}`);
    }
  }
}

/**
 * A name option (`name`, `provider`), or its default: both go into every
 * model event, where the catalogue wants strings.
 * @throws {TypeError} unless it is a string or undefined.
 */
function nameOption(option: 'name' | 'provider', value: unknown): string {
  if (value === undefined) return 'scripted';
  if (typeof value === 'string') return value;
  throw new TypeError(`ScriptedModel: options.${option} must be a string or undefined, got ${shownValue(value)}`);
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Roughly one token per 4 characters, like the usual rule of thumb. */
function tokens(chars: number): number {
  return Math.ceil(chars / 4);
}

/**
 * The length of a value's JSON, for the token estimate: 0 for what JSON
 * cannot write (scripted arguments with a cycle or a BigInt), since an
 * estimate must not fail the call it estimates.
 */
function jsonChars(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

function messageChars(message: Message): number {
  if (message.role === 'assistant' && message.toolCalls.length > 0) {
    return message.content.length + jsonChars(message.toolCalls);
  }
  return message.content.length;
}

function lastUserIndex(messages: readonly Message[]): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return i;
  return -1;
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length >= 3));
}

type JsonSchema = Record<string, unknown>;

/**
 * Builds arguments that satisfy a JSON Schema, deterministically: strings get
 * the prompt (cut to `maxLength`), numbers a small number within bounds,
 * booleans `true`, enums and `const` their (first) value, arrays one item,
 * objects their required properties.
 */
export function argumentsFromSchema(schema: JsonSchema, prompt: string, root: JsonSchema = schema, depth = 0): unknown {
  if (depth > 16) return null;
  const ref = schema.$ref;
  if (typeof ref === 'string') {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const target = match ? ((root[match[1] as string] as JsonSchema | undefined)?.[match[2] as string] as JsonSchema | undefined) : undefined;
    return target === undefined ? null : argumentsFromSchema(target, prompt, root, depth + 1);
  }
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      // Prefer a non-null branch: `z.string().nullable()` should still get a string.
      const option = (options as JsonSchema[]).find((o) => o.type !== 'null') ?? (options[0] as JsonSchema);
      return argumentsFromSchema(option, prompt, root, depth + 1);
    }
  }
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? schema.type[0]) : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      const out: Record<string, unknown> = {};
      for (const key of required) out[key] = argumentsFromSchema(properties[key] ?? {}, prompt, root, depth + 1);
      return out;
    }
    case 'array': {
      const items = (schema.items ?? {}) as JsonSchema;
      const count = Math.max(1, typeof schema.minItems === 'number' ? schema.minItems : 0);
      return Array.from({ length: count }, () => argumentsFromSchema(items, prompt, root, depth + 1));
    }
    case 'number':
    case 'integer': {
      let value = 2;
      if (typeof schema.minimum === 'number') value = Math.max(value, schema.minimum);
      if (typeof schema.exclusiveMinimum === 'number') value = Math.max(value, schema.exclusiveMinimum + 1);
      if (typeof schema.maximum === 'number') value = Math.min(value, schema.maximum);
      if (typeof schema.exclusiveMaximum === 'number') value = Math.min(value, schema.exclusiveMaximum - (type === 'integer' ? 1 : 0.5));
      return type === 'integer' ? Math.ceil(value) : value;
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default: {
      let text = prompt.trim() || 'example';
      if (typeof schema.maxLength === 'number') text = text.slice(0, schema.maxLength);
      if (typeof schema.minLength === 'number' && text.length < schema.minLength) text = text.padEnd(schema.minLength, '.');
      return text;
    }
  }
}

/**
 * A deterministic offline {@link Model}.
 *
 * `new ScriptedModel()` plays an agent on its own (see the module comment).
 * `new ScriptedModel([step, step, ...])` replies with one step per call, in
 * order; a step is a {@link ScriptedResponse} or a function of the request.
 * A call past the end of the script fails with an error that says so.
 *
 * Each reply is checked where it is given (a step object when the model is
 * built, a step function's reply when it is called): a field of the wrong
 * type or a token count that is not a non-negative integer throws, naming
 * the step and the field.
 */
export class ScriptedModel implements Model {
  readonly name: string;
  readonly provider: string;
  readonly #script: readonly ScriptStep[] | undefined;
  #calls = 0;

  /**
   * @throws {TypeError} (or {@link RangeError} for a number out of range)
   *   naming the step and the field, or the option, that is wrong.
   */
  constructor(script?: readonly ScriptStep[], options: ScriptedModelOptions = {}) {
    if (script !== undefined && !Array.isArray(script)) {
      throw new TypeError(`ScriptedModel: script must be an array of steps, got ${shownValue(script)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`ScriptedModel: options must be a ScriptedModelOptions object ({ name, provider }) or undefined, got ${shownValue(options)}`);
    }
    const steps = script === undefined ? undefined : [...script];
    steps?.forEach((step, i) => {
      if (typeof step !== 'function') checkStep(step, `script[${i}]`);
    });
    this.#script = steps;
    this.name = nameOption('name', options.name);
    this.provider = nameOption('provider', options.provider);
  }

  /** Calls made so far (each consumes one script step). */
  get calls(): number {
    return this.#calls;
  }

  async generate(request: ModelRequest): Promise<ModelResponse> {
    const signal = request.signal;
    if (signal?.aborted) throw abortError(signal);
    const call = ++this.#calls;
    let step: ScriptedResponse;
    if (this.#script === undefined) {
      step = this.#auto(request);
    } else {
      const entry = this.#script[call - 1];
      if (entry === undefined) {
        throw new Error(
          `ScriptedModel: the script ran out: call ${call} but the script has only ${this.#script.length} step(s); add a step for this call`,
        );
      }
      if (typeof entry === 'function') {
        step = await entry(request, call);
        checkStep(step, `script[${call - 1}]()`);
      } else {
        step = entry;
      }
    }
    if (step.delayMs !== undefined && step.delayMs > 0) await delay(step.delayMs, signal);
    if (signal?.aborted) throw abortError(signal);
    if (step.error !== undefined) throw typeof step.error === 'string' ? new Error(step.error) : step.error;
    return this.#respond(request, step);
  }

  #respond(request: ModelRequest, step: ScriptedResponse): ModelResponse {
    const turn = request.messages.filter((m) => m.role === 'assistant').length + 1;
    const toolCalls: ToolCall[] = (step.toolCalls ?? []).map((c, i) => {
      const toolCall: ToolCall = { id: c.id ?? `call_${turn}_${i + 1}`, name: c.name, arguments: c.arguments };
      if (c.argumentsError !== undefined) toolCall.argumentsError = c.argumentsError;
      return toolCall;
    });
    const content = step.content ?? '';
    let usage = step.usage;
    if (usage === undefined) {
      let input = jsonChars(request.tools);
      for (const message of request.messages) input += messageChars(message);
      const output = content.length + (toolCalls.length > 0 ? jsonChars(toolCalls) : 0);
      usage = { inputTokens: tokens(input), outputTokens: tokens(output) };
    }
    return {
      content,
      toolCalls,
      stopReason: step.stopReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
      usage,
      reasoning: step.reasoning,
      responseModel: step.responseModel,
      responseId: step.responseId,
    };
  }

  /** The unscripted behaviour: call the best-matching tool once, then answer. */
  #auto(request: ModelRequest): ScriptedResponse {
    const { messages, tools } = request;
    const userAt = lastUserIndex(messages);
    const prompt = userAt >= 0 ? (messages[userAt] as Message).content : '';
    const results = messages.slice(userAt + 1).filter((m) => m.role === 'tool');
    if (results.length > 0) {
      const found = results.map((r) => (r.isError ? `${r.name} failed (${r.content})` : `${r.name} says ${r.content}`));
      return {
        reasoning: `I have ${results.length} tool result(s); I can answer now.`,
        content: `Here is what I found: ${found.join('; ')}.`,
      };
    }
    const tool = pickTool(tools, prompt);
    if (tool === undefined) {
      return {
        reasoning: 'No tools are needed; I can answer directly.',
        content: `You asked: "${prompt}". This is a scripted reply from ScriptedModel (offline and deterministic).`,
      };
    }
    return {
      reasoning: `To answer "${prompt}" I will call ${tool.name}.`,
      toolCalls: [{ name: tool.name, arguments: argumentsFromSchema(tool.parameters, prompt) }],
    };
  }
}

/** The tool whose name and description share the most words with the prompt; the first on a tie. */
function pickTool(tools: readonly ToolSpec[], prompt: string): ToolSpec | undefined {
  const promptWords = words(prompt);
  let best: ToolSpec | undefined;
  let bestScore = -1;
  for (const tool of tools) {
    let score = 0;
    for (const word of words(`${tool.name} ${tool.description}`)) if (promptWords.has(word)) score++;
    if (score > bestScore) {
      best = tool;
      bestScore = score;
    }
  }
  return best;
}
