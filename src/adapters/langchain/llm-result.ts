/**
 * What a LangChain model call answered: its text, tool calls, finish reason
 * and token usage, read from the `LLMResult` handed to `handleLLMEnd`.
 */
import type { LLMResult } from '@langchain/core/outputs';
import type { ModelAnswer } from '../step-tracker.js';
import { stringOr, tokenCount, tokenUsage } from '../payload.js';

/** The fields of an AI message this reader uses. */
interface MessageLike {
  id?: unknown;
  tool_calls?: unknown[];
  response_metadata?: Record<string, unknown>;
  usage_metadata?: {
    input_tokens?: number;
    output_tokens?: number;
    input_token_details?: { cache_read?: number; cache_creation?: number };
    output_token_details?: { reasoning?: number };
  };
}

/**
 * The answer of the first prompt's generations. Usage is counted once: from
 * the messages' `usage_metadata` when present, else from the provider's
 * `llmOutput.tokenUsage` (never both: providers report it in both places).
 * The model that answered and the response's id come from the message's
 * `response_metadata` (`model_name` as OpenAI's integration names it,
 * `model` as Anthropic's does; `id`), else the message's own id, unless that
 * is a `run-` id LangChain made up for a message the provider did not name.
 */
export function readLLMResult(output: LLMResult): ModelAnswer {
  let text = '';
  let toolCallCount = 0;
  let stopReason: string | undefined;
  let input = 0;
  let outputTokens = 0;
  let cacheRead: number | undefined;
  let cacheCreation: number | undefined;
  let reasoning: number | undefined;
  let fromMessages = false;
  let responseModel: string | undefined;
  let responseId: string | undefined;
  for (const generation of output.generations[0] ?? []) {
    text += generation.text;
    const info = generation.generationInfo as Record<string, unknown> | undefined;
    const message = (generation as { message?: MessageLike }).message;
    toolCallCount += message?.tool_calls?.length ?? 0;
    stopReason ??= stringOr(info?.['finish_reason'], stringOr(message?.response_metadata?.['finish_reason'], undefined));
    const metadata = message?.response_metadata;
    responseModel ??= stringOr(metadata?.['model_name'], stringOr(metadata?.['model'], undefined));
    responseId ??= stringOr(metadata?.['id'], providerId(message?.id));
    const usage = message?.usage_metadata;
    if (usage !== undefined) {
      fromMessages = true;
      input += tokenCount(usage.input_tokens) ?? 0;
      outputTokens += tokenCount(usage.output_tokens) ?? 0;
      const read = tokenCount(usage.input_token_details?.cache_read);
      if (read !== undefined) cacheRead = (cacheRead ?? 0) + read;
      const written = tokenCount(usage.input_token_details?.cache_creation);
      if (written !== undefined) cacheCreation = (cacheCreation ?? 0) + written;
      const thought = tokenCount(usage.output_token_details?.reasoning);
      if (thought !== undefined) reasoning = (reasoning ?? 0) + thought;
    }
  }
  const usage = fromMessages
    ? { inputTokens: input, outputTokens, cacheReadInputTokens: cacheRead, cacheCreationInputTokens: cacheCreation, reasoningOutputTokens: reasoning }
    : providerUsage(output.llmOutput);
  return { stopReason, toolCallCount, text, usage, responseModel, responseId };
}

/** A message id the provider gave; LangChain names a message it got no id for `run-<run id>`. */
function providerId(id: unknown): string | undefined {
  const text = stringOr(id, undefined);
  return text === undefined || text.startsWith('run-') ? undefined : text;
}

/** Usage as a provider reports it in `llmOutput` (`tokenUsage`, or `estimatedTokenUsage` when it could only estimate). */
function providerUsage(llmOutput: LLMResult['llmOutput']) {
  const usage = (llmOutput?.['tokenUsage'] ?? llmOutput?.['estimatedTokenUsage']) as Record<string, unknown> | undefined;
  return tokenUsage(usage?.['promptTokens'], usage?.['completionTokens']);
}
