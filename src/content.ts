/**
 * Content capture as the GenAI conventions shape it: the messages, system
 * instructions, tool definitions, tool arguments and results of a step, in
 * the conventions' JSON shapes (semantic-conventions-genai
 * `gen-ai-input-messages.json`, `gen-ai-output-messages.json`,
 * `gen-ai-system-instructions.json`, the tool definitions of `models.py`).
 *
 * Two ways out, both decided per run (`runContext` options, inherited by
 * nested runs), never per event:
 *
 * - `captureContent` (or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`,
 *   read once per process): a bounded copy rides on the step's events, cut
 *   so that it stays in its shape and its JSON stays valid. The bus bounds
 *   every event's size, and an event over it would lose its other fields, so
 *   content is bounded here, where it is made, not there.
 * - `contentHook`: the conventions' third pattern. The hook gets the FULL
 *   content of each model and tool step as it closes (it runs here, in the
 *   run, because only here does the full content exist: the bus carries
 *   bounded copies), uploads it wherever it likes, and returns a reference
 *   that the closing event carries to the span. It runs whether or not
 *   content is captured, as the conventions ask.
 *
 * With neither, emitters do no content work at all: they check the run's
 * policy first and never call a mapping.
 */
import { writeJson } from './bounded-json.js';
import { warnOnce } from './warnings.js';
import { errorText } from './payload-text.js';
import { isThenable } from './thenable.js';

/** Text sent to or received from the model. */
export interface TextPart {
  type: 'text';
  content: string;
}

/** A tool call the model asked for. */
export interface ToolCallRequestPart {
  type: 'tool_call';
  id?: string | undefined;
  name: string;
  arguments?: unknown;
}

/** A tool's result sent back to the model. */
export interface ToolCallResponsePart {
  type: 'tool_call_response';
  id?: string | undefined;
  response: unknown;
}

/** The model's reasoning (thinking) text. */
export interface ReasoningPart {
  type: 'reasoning';
  content: string;
}

/** One part of a message, as the conventions type it. */
export type MessagePart = TextPart | ToolCallRequestPart | ToolCallResponsePart | ReasoningPart;

/** A message sent to the model (`gen_ai.input.messages` holds a list of them, oldest first). */
export interface ChatMessage {
  /** `system`, `user`, `assistant`, `tool`, or the framework's own role. */
  role: string;
  parts: MessagePart[];
  /** The participant's name, when the framework gives one. */
  name?: string | undefined;
}

/** One answer (choice) of the model (`gen_ai.output.messages`). */
export interface OutputMessage extends ChatMessage {
  /** `stop`, `length`, `content_filter`, `tool_call`, `error`, or the provider's own word. */
  finish_reason: string;
}

/** A tool the model may call (`gen_ai.tool.definitions`): only the required properties, as the conventions recommend by default. */
export interface ToolDefinition {
  type: string;
  name: string;
}

/** What a model call was sent: each field in the shape of its attribute. */
export interface ModelInputContent {
  /** `gen_ai.system_instructions`: instructions given apart from the chat history. */
  systemInstructions?: MessagePart[] | undefined;
  /** `gen_ai.input.messages`. */
  inputMessages?: ChatMessage[] | undefined;
  /** `gen_ai.tool.definitions`. */
  toolDefinitions?: ToolDefinition[] | undefined;
}

/** The full content of a model call, as a {@link ContentHook} receives it. */
export interface ModelCallContent extends ModelInputContent {
  readonly operation: 'chat';
  readonly runId: string;
  /** The step's span id (`agent.model.started`'s `spanId`). */
  readonly spanId: string;
  /** `gen_ai.output.messages`; absent when the call failed. */
  outputMessages?: OutputMessage[] | undefined;
}

/** The full content of a tool call, as a {@link ContentHook} receives it. */
export interface ToolCallContent {
  readonly operation: 'execute_tool';
  readonly runId: string;
  /** The step's span id (`agent.tool.started`'s `spanId`). */
  readonly spanId: string;
  readonly toolName: string;
  readonly toolCallId: string;
  /** The arguments as the tool got them (`gen_ai.tool.call.arguments`). */
  arguments: unknown;
  /** What the tool returned (`gen_ai.tool.call.result`); absent when it failed. */
  result?: unknown;
}

/** Everything a {@link ContentHook} may receive. */
export type CapturedContent = ModelCallContent | ToolCallContent;

/**
 * Gets the full content of each model and tool step of a run as the step
 * closes, and returns a reference to where it stored it (a URI), which goes
 * on the step's span as `agentbus.content.ref`; or undefined for no
 * reference. Called synchronously, in the run, before the closing event:
 * return the reference at once and upload in the background (a promise is
 * not awaited: it is reported, and its rejection caught). A hook that
 * throws, or returns anything but a string of at most
 * {@link CONTENT_REF_MAX} characters, is reported once as a process warning
 * (`AGENTBUS_CONTENT_HOOK`); the step goes on without a reference. Steps
 * the hook opens itself (an instrumented upload) are recorded, but do not
 * call the hook again.
 */
export type ContentHook = (content: CapturedContent) => string | undefined;

/** The longest reference a {@link ContentHook} may return. */
export const CONTENT_REF_MAX = 2048;

/**
 * The most JSON (in characters) one content field of an event carries: the
 * bus's default event bound (256 KiB) holds a model call's three input
 * fields with room to spare.
 */
export const CONTENT_EVENT_MAX = 64 * 1024;

/** The environment variable that turns content capture on for every run and bridge that leave it unset. */
export const CAPTURE_CONTENT_ENV = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';

let envCapture: boolean | undefined;

/**
 * True when {@link CAPTURE_CONTENT_ENV} is `true` (any case). Read once per
 * process, at the first run or bridge that asks, and kept: the default of
 * `runContext`'s and `instrumentOtel`'s `captureContent`, which win when set.
 */
export function captureContentFromEnv(): boolean {
  if (envCapture === undefined) {
    let value: string | undefined;
    try {
      value = process.env[CAPTURE_CONTENT_ENV];
    } catch {
      value = undefined;
    }
    envCapture = typeof value === 'string' && value.trim().toLowerCase() === 'true';
  }
  return envCapture;
}

/** @internal For tests: forget what was read, so the next caller reads the variable again. */
export function resetContentEnv(): void {
  envCapture = undefined;
}

// ---------------------------------------------------------------- building content

/**
 * What a mapping uses to copy a framework's content into the conventions'
 * shape: a bounded builder (for events) cuts texts, makes user values plain
 * bounded JSON data and says when enough was taken; the unbounded one (for
 * the hook) passes everything through as it is.
 */
export interface ContentBuilder {
  /** True once enough was taken: a mapping stops adding messages (the bounded builder only). */
  readonly full: boolean;
  /** A text, cut when bounded. */
  text(value: unknown): string;
  /** A user value (tool arguments, a result), plain and bounded when bounded. */
  value(value: unknown): unknown;
}

/** The builder for the hook: the content as it is. */
export const FULL_CONTENT: ContentBuilder = Object.freeze({
  full: false,
  text: (value: unknown) => (typeof value === 'string' ? value : safeString(value)),
  value: (value: unknown) => value,
});

/** A builder of at most about `budget` characters of content (texts read 4x that, to cut evenly later). */
export function boundedContent(budget: number = CONTENT_EVENT_MAX): ContentBuilder {
  return new BoundedBuilder(budget);
}

class BoundedBuilder implements ContentBuilder {
  readonly #budget: number;
  #taken = 0;

  constructor(budget: number) {
    this.#budget = budget;
  }

  get full(): boolean {
    // Four times the budget: fitting cuts texts before it drops messages, so take more than fits.
    return this.#taken > 4 * this.#budget;
  }

  text(value: unknown): string {
    const text = typeof value === 'string' ? value : safeString(value);
    const cut = cutText(text, this.#budget);
    this.#taken += cut.length + 16;
    return cut;
  }

  value(value: unknown): unknown {
    const { plain, size } = plainSized(value, this.#budget);
    this.#taken += size;
    return plain;
  }
}

function safeString(value: unknown): string {
  try {
    return value === undefined || value === null ? '' : String(value);
  } catch {
    return '';
  }
}

/**
 * `value` as plain JSON data of at most about `budget` characters, never
 * throwing: a string that holds a JSON object or array is parsed (the
 * conventions want arguments and results as objects), any other string is
 * cut; anything else is written once by the bounded writer (cycles, BigInt,
 * throwing getters and Proxies become placeholders) and read back.
 */
export function plainValue(value: unknown, budget: number = CONTENT_EVENT_MAX): unknown {
  return plainSized(value, budget).plain;
}

/** {@link plainValue}, with the length of its JSON (about, for a number). */
function plainSized(value: unknown, budget: number): { plain: unknown; size: number } {
  switch (typeof value) {
    case 'string': {
      const start = value.trimStart()[0];
      if ((start === '{' || start === '[') && value.length <= budget) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value) as unknown;
        } catch {
          // Not JSON after all: the text it is.
        }
        // Written again by the bounded writer, as any other object is: parsed JSON may nest
        // deeper (`[[[[…`) than fitting and JSON.stringify can walk, which would cost a model
        // call all its messages for one such argument.
        if (parsed !== undefined) return writtenPlain(parsed, budget);
      }
      const text = cutText(value, budget);
      return { plain: text, size: text.length + 2 };
    }
    case 'number':
      return { plain: Number.isFinite(value) ? value : null, size: 24 };
    case 'boolean':
      return { plain: value, size: 5 };
    case 'undefined':
      return { plain: null, size: 4 };
    default: {
      if (value === null) return { plain: null, size: 4 };
      return writtenPlain(value, budget);
    }
  }
}

/** `value` written by the bounded writer (cycles, depth, BigInt, throwing getters made placeholders) and read back. */
function writtenPlain(value: unknown, budget: number): { plain: unknown; size: number } {
  const { json } = writeJson(value, budget);
  return { plain: JSON.parse(json) as unknown, size: json.length };
}

/** `text` cut to at most `max` characters ending in `…`, never between the two halves of a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

// ---------------------------------------------------------------- fitting

/** Texts are never cut below this many characters while trailing items can go instead. */
const MIN_TEXT = 32;

/** Content fitted to a budget: its JSON, and whether anything was cut. */
export interface FittedContent {
  readonly json: string;
  readonly value: unknown;
  readonly cut: boolean;
}

/**
 * Fits plain content data into `budget` characters of JSON, keeping its
 * shape: first every text is cut to one common longest length (ending in
 * `…`), as long as it keeps {@link MIN_TEXT} characters; then trailing
 * items of the top-level list (messages, parts, tools) or trailing members
 * of the top-level object go; last, an empty list or object. The JSON is
 * always valid and within `budget`; it never splits a surrogate pair
 * (lone surrogates are escaped by `JSON.stringify`).
 */
export function fitContent(value: unknown, budget: number): FittedContent {
  try {
    return fit(value, budget);
  } catch {
    // Only plain data comes here (made plain where it was made, or by the bus); should anything
    // else slip through (a toJSON that throws), the content is left out rather than the span.
    return { json: '""', value: '', cut: true };
  }
}

function fit(value: unknown, budget: number): FittedContent {
  const whole = JSON.stringify(value) ?? 'null';
  if (whole.length <= budget) return { json: whole, value, cut: false };
  let lo = MIN_TEXT;
  let hi = longestText(value, 0);
  let best: FittedContent | undefined;
  const capped = capTexts(value, MIN_TEXT, 0);
  // When even the shortest texts do not fit, no text length does: straight to dropping items,
  // rather than a search whose every step serializes the whole content to learn just that.
  const shortest = JSON.stringify(capped) ?? 'null';
  if (shortest.length > budget) hi = lo - 1;
  else if (hi <= MIN_TEXT) return { json: shortest, value: capped, cut: true };
  // Largest common text length that fits.
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const capped = capTexts(value, mid, 0);
    const json = JSON.stringify(capped);
    if (json.length <= budget) {
      best = { json, value: capped, cut: true };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (best !== undefined) return best;
  // Most leading items (or members) that fit: counted from each one's JSON, serialized once,
  // then checked by serializing what is kept; the search below only if that count was off.
  if (Array.isArray(capped) || isObject(capped)) {
    const kept = leading(capped, leadingThatFit(capped, budget));
    const json = JSON.stringify(kept);
    if (json.length <= budget) return { json, value: kept, cut: true };
  }
  const size = Array.isArray(capped) ? capped.length : isObject(capped) ? Object.keys(capped).length : 0;
  lo = 0;
  hi = size - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const kept = leading(capped, mid);
    const json = JSON.stringify(kept);
    if (json.length <= budget) {
      best = { json, value: kept, cut: true };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (best !== undefined) return best;
  const empty = Array.isArray(value) ? [] : isObject(value) ? {} : '';
  return { json: JSON.stringify(empty), value: empty, cut: true };
}

/** How many leading items of a list (members of an object) fit in `budget` characters of JSON, from their own JSON's lengths. */
function leadingThatFit(value: object, budget: number): number {
  let length = 2;
  let count = 0;
  let written = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      length += (JSON.stringify(item) ?? 'null').length + (count === 0 ? 0 : 1);
      if (length > budget) return count;
      count++;
    }
    return count;
  }
  for (const key of Object.keys(value)) {
    const json = JSON.stringify((value as Record<string, unknown>)[key]);
    // A member JSON leaves out (undefined) takes no room.
    if (json !== undefined) {
      length += JSON.stringify(key).length + 1 + json.length + (written === 0 ? 0 : 1);
      if (length > budget) return count;
      written++;
    }
    count++;
  }
  return count;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Copies of parsed JSON have no prototype: a member named `__proto__` (JSON.parse
// makes it an own property) stays a member instead of becoming the copy's prototype.
function leading(value: unknown, count: number): unknown {
  if (Array.isArray(value)) return value.slice(0, count);
  const kept: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let i = 0;
  for (const key of Object.keys(value as object)) {
    if (i++ >= count) break;
    kept[key] = (value as Record<string, unknown>)[key];
  }
  return kept;
}

// Plain data is at most 64 levels deep (the bounded writer's limit, and our own shapes are shallow).
const MAX_FIT_DEPTH = 80;

function longestText(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length;
  if (typeof value !== 'object' || value === null || depth > MAX_FIT_DEPTH) return 0;
  let longest = 0;
  for (const item of Array.isArray(value) ? value : Object.values(value)) longest = Math.max(longest, longestText(item, depth + 1));
  return longest;
}

function capTexts(value: unknown, max: number, depth: number): unknown {
  if (typeof value === 'string') return cutText(value, max);
  if (typeof value !== 'object' || value === null || depth > MAX_FIT_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => capTexts(item, max, depth + 1));
  const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, item] of Object.entries(value)) copy[key] = capTexts(item, max, depth + 1);
  return copy;
}

// ---------------------------------------------------------------- the hook

/**
 * Calls `hook` with a step's full content and returns the reference it
 * gave, or undefined. Never throws, never waits: what goes wrong is
 * reported once per kind as a process warning.
 */
export function callContentHook(hook: ContentHook, content: CapturedContent): string | undefined {
  let ref: unknown;
  try {
    ref = hook(content);
  } catch (error) {
    warnHook('threw', `contentHook threw on a ${content.operation} step: ${errorText(error)}; the step has no content reference`);
    return undefined;
  }
  if (ref === undefined) return undefined;
  if (typeof ref === 'string') {
    if (ref.length <= CONTENT_REF_MAX) return ref;
    warnHook('long', `contentHook returned a reference of ${ref.length} characters; at most ${CONTENT_REF_MAX} go on a span, so it was dropped`);
    return undefined;
  }
  if (isThenable(ref)) {
    // Never awaited (a hook that never settles must not hold the step), but never left unhandled either.
    try {
      Promise.resolve(ref).catch((error: unknown) => warnHook('rejected', `contentHook's promise rejected: ${errorText(error)}`));
    } catch {
      // A thenable whose then throws: nothing to wait for.
    }
    warnHook('promise', 'contentHook returned a promise, which is not awaited; return the reference at once (a string) and upload in the background');
    return undefined;
  }
  warnHook('type', `contentHook returned ${ref === null ? 'null' : typeof ref}, not a string reference; the step has no content reference`);
  return undefined;
}

function warnHook(kind: string, message: string): void {
  warnOnce(`content-hook:${kind}`, message, 'AGENTBUS_CONTENT_HOOK');
}

// ---------------------------------------------------------------- shapes

// The conventions' finish reasons, from the words providers and frameworks use.
const FINISH_REASONS: Readonly<Record<string, string>> = {
  tool_calls: 'tool_call',
  tool_use: 'tool_call',
  function_call: 'tool_call',
  'tool-calls': 'tool_call',
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  'content-filter': 'content_filter',
};

/** A provider's stop reason in the conventions' words (`tool_calls` -> `tool_call`, `end_turn` -> `stop`); others as they are. */
export function finishReason(stopReason: string): string {
  return Object.hasOwn(FINISH_REASONS, stopReason) ? (FINISH_REASONS[stopReason] as string) : stopReason;
}

/** A tool call as an emitter knows it: for {@link outputMessage}. */
export interface ToolCallRequest {
  readonly id?: string | undefined;
  readonly name: string;
  readonly arguments?: unknown;
}

/**
 * The one output message of a model call: its reasoning, its text and its
 * tool calls as parts, with its finish reason.
 */
export function outputMessage(
  b: ContentBuilder,
  text: unknown,
  stopReason: string,
  toolCalls?: readonly ToolCallRequest[] | undefined,
  reasoning?: unknown,
): OutputMessage {
  const parts: MessagePart[] = [];
  if (typeof reasoning === 'string' && reasoning !== '') parts.push({ type: 'reasoning', content: b.text(reasoning) });
  if (typeof text === 'string' && text !== '') parts.push({ type: 'text', content: b.text(text) });
  for (const call of toolCalls ?? []) {
    if (b.full) break;
    parts.push(toolCallPart(b, call.id, call.name, call.arguments));
  }
  return { role: 'assistant', parts, finish_reason: finishReason(stopReason) };
}

/** A `tool_call` part. */
export function toolCallPart(b: ContentBuilder, id: unknown, name: unknown, args: unknown): ToolCallRequestPart {
  const part: ToolCallRequestPart = { type: 'tool_call', name: b.text(name) };
  if (typeof id === 'string') part.id = id;
  if (args !== undefined) part.arguments = b.value(args);
  return part;
}

/** A `tool_call_response` part. */
export function toolResponsePart(b: ContentBuilder, id: unknown, response: unknown): ToolCallResponsePart {
  const part: ToolCallResponsePart = { type: 'tool_call_response', response: b.value(response) };
  if (typeof id === 'string') part.id = id;
  return part;
}

/** A message of text parts (one per non-empty text). */
export function textMessage(b: ContentBuilder, role: string, ...texts: unknown[]): ChatMessage {
  const parts: MessagePart[] = [];
  for (const text of texts) if (typeof text === 'string' && text !== '') parts.push({ type: 'text', content: b.text(text) });
  return { role, parts };
}

/** Tool definitions of the named tools: `{ type: 'function', name }` each. */
export function toolDefinitions(b: ContentBuilder, names: Iterable<unknown>): ToolDefinition[] {
  const definitions: ToolDefinition[] = [];
  for (const name of names) {
    if (b.full) break;
    definitions.push({ type: 'function', name: b.text(name) });
  }
  return definitions;
}
