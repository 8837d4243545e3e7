/**
 * What a model's answer says, in the shapes the OpenAI Agents SDK hands
 * over: its text, its tool calls with the model's call ids, and its token
 * usage, from a span (the Responses and Chat Completions APIs' names) or
 * from a `Model`'s answer (the SDK's `Usage`).
 */
import type { TokenUsage } from '../../trace.js';
import { tokenCount, tokenUsage } from '../payload.js';
import type { SdkModelUsage } from './sdk-model.js';

/** A function call of a model's answer: the model's call id for the tool step that runs it. */
export interface FunctionCall {
  readonly callId: string;
  readonly name: string;
  readonly args: string;
}

/** The text, the number of tool calls and the function calls of an answer. */
export interface ModelOutput {
  readonly text: string;
  readonly toolCallCount: number;
  readonly calls: FunctionCall[];
}

/**
 * Reads a model's output items: the SDK's items (`callId`), Responses API
 * items (`call_id`) or Chat Completions messages (`tool_calls`).
 */
export function readOutput(output: unknown): ModelOutput {
  let text = '';
  let toolCallCount = 0;
  const calls: FunctionCall[] = [];
  if (!Array.isArray(output)) return { text, toolCallCount, calls };
  for (const item of output as Array<Record<string, unknown> | null>) {
    if (item === null || typeof item !== 'object') continue;
    if (item['type'] === 'function_call') {
      toolCallCount++;
      addCall(calls, item['callId'] ?? item['call_id'], item['name'], item['arguments']);
    }
    if (Array.isArray(item['tool_calls'])) {
      toolCallCount += item['tool_calls'].length;
      for (const call of item['tool_calls'] as Array<Record<string, unknown> | null>) {
        const fn = call?.['function'] as Record<string, unknown> | undefined;
        addCall(calls, call?.['id'], fn?.['name'], fn?.['arguments']);
      }
    }
    const content = item['content'];
    if (typeof content === 'string') text += content;
    else if (Array.isArray(content)) {
      for (const part of content as Array<Record<string, unknown> | null>) {
        if (part !== null && typeof part === 'object' && typeof part['text'] === 'string') text += part['text'];
      }
    }
  }
  return { text, toolCallCount, calls };
}

function addCall(calls: FunctionCall[], callId: unknown, name: unknown, args: unknown): void {
  if (typeof callId === 'string' && callId !== '' && typeof name === 'string') calls.push({ callId, name, args: typeof args === 'string' ? args : '' });
}

/**
 * The model's call id for a tool run after an answer: the first unclaimed
 * function call with this name (and these arguments, when the span carries
 * them: calls to one tool may differ only in arguments), taken from `calls`.
 */
export function takeCall(calls: FunctionCall[], name: string, input: unknown): string | undefined {
  const args = typeof input === 'string' && input !== '' ? input : undefined;
  const index = calls.findIndex((call) => call.name === name && (args === undefined || call.args === args));
  if (index < 0) return undefined;
  return calls.splice(index, 1)[0]!.callId;
}

/** Usage from a span (`input_tokens`, ... as the Responses and Chat Completions APIs name them). */
export function spanUsage(usage: Record<string, unknown> | null | undefined): TokenUsage | undefined {
  const details = usage?.['details'] as Record<string, unknown> | null | undefined;
  const inputDetails = (usage?.['input_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
  const outputDetails = (usage?.['output_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
  return tokenUsage(usage?.['input_tokens'], usage?.['output_tokens'], inputDetails?.['cached_tokens'], outputDetails?.['reasoning_tokens']);
}

/** Usage from a model's answer (the SDK's `Usage`: details per request, as a record or a list of them). */
export function modelUsage(usage: SdkModelUsage | undefined): TokenUsage | undefined {
  return tokenUsage(
    usage?.inputTokens,
    usage?.outputTokens,
    detail(usage?.inputTokensDetails, 'cached_tokens'),
    detail(usage?.outputTokensDetails, 'reasoning_tokens'),
  );
}

function detail(details: SdkModelUsage['inputTokensDetails'], key: string): number | undefined {
  if (details === undefined) return undefined;
  let sum: number | undefined;
  for (const record of Array.isArray(details) ? details as ReadonlyArray<Readonly<Record<string, number>>> : [details as Readonly<Record<string, number>>]) {
    const value = tokenCount(record?.[key]);
    if (value !== undefined) sum = (sum ?? 0) + value;
  }
  return sum;
}
