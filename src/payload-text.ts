/**
 * The text of payload fields made from values user code hands over: a
 * preview of any value, the text and the class of whatever was thrown, the
 * keys of tool arguments. These values may be anything (a Proxy whose traps
 * throw, a cycle, megabytes of text), so every function here reads a bounded
 * amount, keeps within the catalogue's limits for the field, and never throws:
 * describing a step must not fail the step.
 */
import { boundedJson, thrownMessage } from './bounded-json.js';
import { ERROR_TYPE_MAX, PREVIEW_MAX } from './events.js';

/**
 * Cuts any value to a preview string of at most `max` characters (default
 * {@link PREVIEW_MAX}), ending with `…` when cut. Non-strings are written as
 * bounded JSON (cycles, BigInt, Proxies and throwing getters become
 * placeholders; only about `max` characters of the value are ever read), a
 * function or symbol as its description. Never throws.
 */
export function preview(value: unknown, max: number = PREVIEW_MAX): string {
  let text: string;
  switch (typeof value) {
    case 'string':
      text = value;
      break;
    case 'undefined':
      text = '';
      break;
    case 'number':
      // As JSON writes it (a tool's result is often a number): no writer for a few characters.
      text = Number.isFinite(value) ? String(value) : 'null';
      break;
    case 'boolean':
      text = value ? 'true' : 'false';
      break;
    case 'symbol':
    case 'bigint':
      text = value.toString();
      break;
    case 'function':
      text = `[Function ${safeName(value)}]`;
      break;
    default:
      text = boundedJson(value, 2 * max + 256);
  }
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function safeName(fn: Function): string {
  try {
    return typeof fn.name === 'string' && fn.name !== '' ? fn.name : '(anonymous)';
  } catch {
    return '(anonymous)';
  }
}

/**
 * The text of an error for an event's `error` field: `Name: message` for an
 * Error, the `message` of an error-like object, else its preview; cut to a
 * preview. Never throws, whatever was thrown (a Proxy, a null-prototype
 * object, an object whose `message` getter throws).
 */
export function errorText(error: unknown): string {
  try {
    if (error instanceof Error) return preview(`${String(error.name)}: ${String(error.message)}`);
    const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
    if (typeof message === 'string') return preview(message);
    if (typeof error === 'object' && error !== null) return preview(error);
    return preview(String(error));
  } catch (failure) {
    return preview(`[unreadable error: ${thrownMessage(failure)}]`);
  }
}

const ERROR_TYPE_NAME = /^[A-Za-z_$][\w$.]*$/;
// An integer status or error code as text (`-32602` of JSON-RPC, `500` of HTTP): the
// conventions' own `error.type` examples include codes, and a code is as low-cardinality as a name.
const ERROR_TYPE_CODE = /^-?\d{1,10}$/;

/**
 * @internal True for a value fit for `errorType` (and `error.type`): an
 * identifier-like name (`TypeError`, `tool_error`, `openai.RateLimitError`) of
 * at most {@link ERROR_TYPE_MAX} characters, or an integer code
 * (`-32602`, `500`; see {@link isErrorCode}). Free text is not: it would make
 * a metric series per message.
 */
export function isErrorTypeName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= ERROR_TYPE_MAX && (ERROR_TYPE_NAME.test(value) || ERROR_TYPE_CODE.test(value));
}

/**
 * @internal True for an `errorType` that is an integer code as text
 * (`-32602`): a JSON-RPC error code, for the MCP spans' `rpc.response.status_code`.
 */
export function isErrorCode(value: unknown): value is string {
  return typeof value === 'string' && ERROR_TYPE_CODE.test(value);
}

/**
 * The class of an error for an event's `errorType` field: the `name` of an
 * Error (`TypeError`, `AbortError`, a subclass's own name) when it reads as an
 * identifier of at most {@link ERROR_TYPE_MAX} characters, else `undefined`
 * (a thrown string, a plain object, a name that is free text): the bridge then
 * reports the conventions' `_OTHER`. Never throws.
 */
export function errorTypeOf(error: unknown): string | undefined {
  try {
    if (!(error instanceof Error)) return undefined;
    const name: unknown = error.name;
    return isErrorTypeName(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

/** At most this many keys are listed in `argKeys`. */
export const MAX_ARG_KEYS = 64;

/**
 * The `argKeys` of tool arguments: an object's own keys (at most
 * {@link MAX_ARG_KEYS}, each cut to a preview), else none. Never throws:
 * arguments whose keys cannot be read (a revoked Proxy) have none.
 */
export function argKeys(args: unknown): string[] {
  try {
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return [];
    const keys = Object.keys(args);
    const out = keys.length > MAX_ARG_KEYS ? keys.slice(0, MAX_ARG_KEYS) : keys;
    for (let i = 0; i < out.length; i++) if ((out[i] as string).length > PREVIEW_MAX) out[i] = preview(out[i]);
    return out;
  } catch {
    return [];
  }
}
