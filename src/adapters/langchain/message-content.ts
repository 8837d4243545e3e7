/**
 * LangChain messages in the GenAI conventions' shapes: a chat model's
 * `BaseMessage[]` (system messages are part of its chat history, so they
 * stay among the input messages, as the conventions ask), a completion
 * model's prompts, the tools of its invocation params, and the tool calls
 * of its answer. Read structurally; called only when the run wants content
 * (step-content.ts).
 */
import type { LLMResult } from '@langchain/core/outputs';
import {
  textMessage,
  toolCallPart,
  toolDefinitions,
  toolResponsePart,
  type ChatMessage,
  type ContentBuilder,
  type MessagePart,
  type ModelInputContent,
  type ToolCallRequest,
} from '../../content.js';

interface MessageLike {
  readonly type?: unknown;
  readonly content?: unknown;
  readonly name?: unknown;
  readonly tool_calls?: ReadonlyArray<{ readonly id?: unknown; readonly name?: unknown; readonly args?: unknown }>;
  readonly tool_call_id?: unknown;
}

// LangChain's message types, as the conventions name the roles.
const ROLES: Readonly<Record<string, string>> = { human: 'user', ai: 'assistant', system: 'system', developer: 'system', tool: 'tool' };

/** A chat model call's messages and tools. */
export function chatContent(b: ContentBuilder, messages: ReadonlyArray<unknown> | undefined, tools: unknown): ModelInputContent {
  const inputMessages: ChatMessage[] = [];
  for (const message of messages ?? []) {
    if (b.full) break;
    inputMessages.push(chatMessage(b, message as MessageLike));
  }
  return { inputMessages, toolDefinitions: definitions(b, tools) };
}

/** A completion model call's prompts, each a user message. */
export function promptsContent(b: ContentBuilder, prompts: ReadonlyArray<unknown>, tools: unknown): ModelInputContent {
  const inputMessages: ChatMessage[] = [];
  for (const prompt of prompts) {
    if (b.full) break;
    inputMessages.push(textMessage(b, 'user', prompt));
  }
  return { inputMessages, toolDefinitions: definitions(b, tools) };
}

function chatMessage(b: ContentBuilder, message: MessageLike): ChatMessage {
  const type = typeof message?.type === 'string' ? message.type : 'generic';
  const role = Object.hasOwn(ROLES, type) ? (ROLES[type] as string) : type;
  const parts: MessagePart[] = role === 'tool' ? [toolResponsePart(b, message.tool_call_id, message.content)] : textParts(b, message.content);
  for (const call of message?.tool_calls ?? []) {
    if (b.full) break;
    parts.push(toolCallPart(b, call?.id, call?.name, call?.args));
  }
  const chat: ChatMessage = { role, parts };
  if (typeof message?.name === 'string' && message.name !== '') chat.name = message.name;
  return chat;
}

// Content: a string, or a list of blocks of which the `text` ones are text.
function textParts(b: ContentBuilder, content: unknown): MessagePart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', content: b.text(content) }];
  const parts: MessagePart[] = [];
  if (Array.isArray(content)) {
    for (const block of content as Array<{ type?: unknown; text?: unknown; reasoning?: unknown }>) {
      // Within one message too: a message of a million blocks is no reason to read them all.
      if (b.full) break;
      if (block?.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', content: b.text(block.text) });
      else if (block?.type === 'reasoning' && typeof block.reasoning === 'string') parts.push({ type: 'reasoning', content: b.text(block.reasoning) });
    }
  }
  return parts;
}

// Invocation params' tools: OpenAI's `{ type: 'function', function: { name } }`, or `{ name }`.
function definitions(b: ContentBuilder, tools: unknown): ModelInputContent['toolDefinitions'] {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return toolDefinitions(b, tools.map((tool: { name?: unknown; function?: { name?: unknown } } | null) => tool?.function?.name ?? tool?.name));
}

/** The tool calls of the first prompt's generations, for the output message. */
export function answerToolCalls(output: LLMResult): ToolCallRequest[] {
  const calls: ToolCallRequest[] = [];
  for (const generation of output.generations[0] ?? []) {
    const message = (generation as { message?: MessageLike }).message;
    for (const call of message?.tool_calls ?? []) {
      calls.push({ id: typeof call?.id === 'string' ? call.id : undefined, name: String(call?.name), arguments: call?.args });
    }
  }
  return calls;
}
