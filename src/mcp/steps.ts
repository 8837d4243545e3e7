/**
 * What both sides agree on: which MCP requests are steps, and how a result
 * reads as success or failure.
 */
import { PREVIEW_MAX } from '../events.js';
import { errorTypeOf, preview } from '../payload-text.js';

/** The MCP requests that are steps of a run: a tool call, a resource read, a prompt get. */
export type McpStepMethod = 'tools/call' | 'resources/read' | 'prompts/get';

/** @internal What a step of `method` is called and what it takes, the same on both sides. Never throws. */
export function mcpStepName(method: McpStepMethod, params: Readonly<Record<string, unknown>>) {
  const uri = method === 'resources/read' ? stringOf(params['uri']) : undefined;
  const promptName = method === 'prompts/get' ? stringOf(params['name']) : undefined;
  const toolName = method === 'tools/call'
    ? stringOf(params['name']) ?? method
    : method === 'resources/read' ? `${method} ${preview(uri ?? '')}` : `${method} ${promptName ?? ''}`.trimEnd();
  const args = method === 'resources/read' ? { uri } : params['arguments'];
  return { toolName, args, uri, promptName };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** @internal The default methods of both sides. */
export const MCP_METHOD_STEPS: readonly McpStepMethod[] = Object.freeze(['tools/call', 'resources/read', 'prompts/get']);

/**
 * @internal The `errorType` of a `tools/call` whose result reports `isError: true`:
 * the MCP semantic conventions' `error.type` for a tool that failed without a protocol error.
 */
export const MCP_TOOL_ERROR = 'tool_error';

/** How far up an error's prototype chain `McpError` is looked for (the SDK's subclasses are one level down). */
const MCP_ERROR_DEPTH = 4;

/**
 * @internal The `errorType` of an error a request failed with: for a
 * JSON-RPC error (the SDK's `McpError`, or a subclass, with an integer
 * `code`: `-32602` invalid params, `-32601` method not found, `-32001`
 * request timeout, `-32000` connection closed) its code as a string, as the
 * MCP conventions ask of `error.type`; for anything else (an abort, a
 * network error) its class, as {@link errorTypeOf} gives it. Never throws.
 */
export function mcpErrorType(error: unknown): string | undefined {
  try {
    const code = (error as { code?: unknown } | null)?.code;
    if (Number.isInteger(code) && isMcpError(error)) return String(code);
  } catch {
    // An error that cannot be read (a Proxy whose traps throw): its class, if that can be.
  }
  return errorTypeOf(error);
}

// Matched by class name, not `instanceof`: this module loads no SDK code, and
// a process may hold two copies of the SDK. A numeric `code` alone is not
// enough: a DOMException (an AbortError) has one too.
function isMcpError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  let proto: unknown = Object.getPrototypeOf(error);
  for (let depth = 0; depth < MCP_ERROR_DEPTH && typeof proto === 'object' && proto !== null; depth++) {
    if ((proto as { constructor?: { name?: unknown } }).constructor?.name === 'McpError') return true;
    proto = Object.getPrototypeOf(proto);
  }
  return false;
}

/**
 * @internal The failure a result reports without throwing: a `tools/call`
 * result with `isError: true` failed, its text content is the error.
 * Undefined for a success. Never throws.
 */
export function mcpResultFailure(method: string, result: unknown): string | undefined {
  if (method !== 'tools/call' || typeof result !== 'object' || result === null) return undefined;
  try {
    if ((result as { isError?: unknown }).isError !== true) return undefined;
    return preview(textOf(result) ?? 'tool_error');
  } catch {
    return 'tool_error';
  }
}

/** @internal A preview of a result: its text content when it has some, else the result itself. Never throws. */
export function mcpResultPreview(result: unknown): string {
  try {
    return preview(textOf(result) ?? result);
  } catch {
    return '';
  }
}

/** The text parts of a result's `content` (tools/call) or `contents` (resources/read) or `messages` (prompts/get), joined. */
function textOf(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const r = result as { content?: unknown; contents?: unknown; messages?: unknown };
  const parts = Array.isArray(r.content) ? r.content : Array.isArray(r.contents) ? r.contents : undefined;
  const messages = Array.isArray(r.messages) ? r.messages.map((m) => (m as { content?: unknown } | null)?.content) : undefined;
  const items = parts ?? messages;
  if (items === undefined) return undefined;
  let text = '';
  for (const item of items) {
    const value = (item as { text?: unknown } | null)?.text;
    if (typeof value !== 'string') continue;
    text = text === '' ? value : `${text}\n${value}`;
    if (text.length > PREVIEW_MAX) break;
  }
  return text === '' ? undefined : text;
}
