/**
 * The AI SDK's prompt and answer in the GenAI conventions' shapes: its
 * standardized prompt (`instructions`, `ModelMessage[]`), its prepared tools
 * and its answer's content parts, read structurally (the `ai` package is not
 * loaded). Called only when the run wants content (step-content.ts).
 */
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

interface SdkPart {
  readonly type?: unknown;
  readonly text?: unknown;
  readonly toolCallId?: unknown;
  readonly toolName?: unknown;
  readonly input?: unknown;
  readonly output?: unknown;
}

interface SdkMessage {
  readonly role?: unknown;
  readonly content?: unknown;
}

/** What `onLanguageModelCallStart` sends, in the conventions' shapes. */
export function promptContent(b: ContentBuilder, instructions: unknown, messages: ReadonlyArray<unknown> | undefined, tools: ReadonlyArray<unknown> | undefined): ModelInputContent {
  const inputMessages: ChatMessage[] = [];
  for (const message of messages ?? []) {
    if (b.full) break;
    inputMessages.push(chatMessage(b, message as SdkMessage));
  }
  return {
    systemInstructions: systemParts(b, instructions),
    inputMessages,
    toolDefinitions: tools === undefined || tools.length === 0 ? undefined : definitions(b, tools),
  };
}

// `instructions`: a string, a system message, or a list of them.
function systemParts(b: ContentBuilder, instructions: unknown): MessagePart[] | undefined {
  if (instructions === undefined || instructions === null) return undefined;
  const list = Array.isArray(instructions) ? instructions : [instructions];
  const parts: MessagePart[] = [];
  for (const item of list) {
    if (b.full) break;
    const text = typeof item === 'string' ? item : (item as SdkMessage | null)?.content;
    if (typeof text === 'string' && text !== '') parts.push({ type: 'text', content: b.text(text) });
  }
  return parts.length === 0 ? undefined : parts;
}

function chatMessage(b: ContentBuilder, message: SdkMessage): ChatMessage {
  const role = typeof message?.role === 'string' ? message.role : 'user';
  const content = message?.content;
  if (typeof content === 'string') return textMessage(b, role, content);
  const parts: MessagePart[] = [];
  if (Array.isArray(content)) {
    for (const part of content as SdkPart[]) {
      // Within one message too: a message of a million parts is no reason to read them all.
      if (b.full) break;
      const converted = messagePart(b, part);
      if (converted !== undefined) parts.push(converted);
    }
  }
  return { role, parts };
}

function messagePart(b: ContentBuilder, part: SdkPart): MessagePart | undefined {
  switch (part?.type) {
    case 'text':
      return { type: 'text', content: b.text(part.text) };
    case 'reasoning':
      return { type: 'reasoning', content: b.text(part.text) };
    case 'tool-call':
      return toolCallPart(b, part.toolCallId, part.toolName, part.input);
    case 'tool-result':
      return toolResponsePart(b, part.toolCallId, resultValue(part.output));
    default:
      // Files, images, approvals: not content the conventions' text parts carry.
      return undefined;
  }
}

// A tool result's output: `{ type: 'text' | 'json' | 'error-text' | ..., value }`.
function resultValue(output: unknown): unknown {
  if (typeof output === 'object' && output !== null && 'value' in output) return (output as { value: unknown }).value;
  return output;
}

function definitions(b: ContentBuilder, tools: ReadonlyArray<unknown>): ModelInputContent['toolDefinitions'] {
  const named = toolDefinitions(b, tools.map((tool) => (tool as { name?: unknown } | null)?.name));
  // A provider tool keeps the SDK's type for it; a function tool is `function`.
  for (const [i, definition] of named.entries()) {
    const type = (tools[i] as { type?: unknown } | null)?.type;
    if (typeof type === 'string' && type !== 'function') definition.type = type;
  }
  return named;
}

/** The tool calls and reasoning of an answer's content parts, for its output message. */
export function answerParts(content: ReadonlyArray<SdkPart>): { toolCalls: ToolCallRequest[]; reasoning: string } {
  const toolCalls: ToolCallRequest[] = [];
  let reasoning = '';
  for (const part of content) {
    if (part.type === 'tool-call') {
      toolCalls.push({ id: typeof part.toolCallId === 'string' ? part.toolCallId : undefined, name: String(part.toolName), arguments: part.input });
    } else if (part.type === 'reasoning' && typeof part.text === 'string') {
      reasoning += part.text;
    }
  }
  return { toolCalls, reasoning };
}
