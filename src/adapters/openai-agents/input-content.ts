/**
 * An OpenAI Agents SDK model request in the GenAI conventions' shapes: its
 * `systemInstructions` (given apart from the conversation), its input items
 * (the Responses API's: messages, `function_call`, `function_call_result`,
 * `reasoning`; or a generation span's Chat Completions messages) and its
 * tools and handoffs. Read structurally; called only when the run wants
 * content (step-content.ts).
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
} from '../../content.js';

type Item = Readonly<Record<string, unknown>> | null;

/** What one model request sends. */
export function requestContent(
  b: ContentBuilder,
  systemInstructions: unknown,
  input: string | ReadonlyArray<unknown> | undefined,
  tools: ReadonlyArray<unknown> | undefined,
  handoffs: ReadonlyArray<unknown> | undefined,
): ModelInputContent {
  // No input yet (a response span gets it only once the model answered): no input messages, rather than none sent.
  let inputMessages: ChatMessage[] | undefined;
  if (typeof input === 'string') inputMessages = [textMessage(b, 'user', input)];
  else if (input !== undefined) {
    inputMessages = [];
    for (const item of input as Item[]) {
      if (b.full) break;
      const message = inputMessage(b, item);
      if (message !== undefined) inputMessages.push(message);
    }
  }
  const offered = [...(tools ?? []), ...(handoffs ?? [])];
  return {
    systemInstructions: typeof systemInstructions === 'string' && systemInstructions !== '' ? [{ type: 'text', content: b.text(systemInstructions) }] : undefined,
    inputMessages,
    // A handoff is offered to the model as a function tool named by its `toolName`.
    toolDefinitions: offered.length === 0 ? undefined : toolDefinitions(b, offered.map((tool) => (tool as Item)?.['name'] ?? (tool as Item)?.['toolName'])),
  };
}

function inputMessage(b: ContentBuilder, item: Item): ChatMessage | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  switch (item['type']) {
    case 'function_call':
      return { role: 'assistant', parts: [toolCallPart(b, item['callId'] ?? item['call_id'], item['name'], item['arguments'])] };
    case 'function_call_result':
    case 'function_call_output':
      return { role: 'tool', parts: [toolResponsePart(b, item['callId'] ?? item['call_id'], outputOf(item['output']))] };
    case 'reasoning':
      return { role: 'assistant', parts: textsOf(b, item['content'], 'reasoning') };
    default: {
      const role = item['role'];
      if (typeof role !== 'string') return undefined;
      // A Chat Completions message (a generation span's input): its tool result, its tool calls.
      if (role === 'tool' && item['tool_call_id'] !== undefined) return { role, parts: [toolResponsePart(b, item['tool_call_id'], item['content'])] };
      const parts = textsOf(b, item['content'], 'text');
      const calls = item['tool_calls'];
      if (Array.isArray(calls)) {
        for (const call of calls as Item[]) {
          if (b.full) break;
          const fn = call?.['function'] as Item | undefined;
          parts.push(toolCallPart(b, call?.['id'], fn?.['name'], fn?.['arguments']));
        }
      }
      return { role, parts };
    }
  }
}

// A function result's output: text, `{ type: 'text', text }`, or structured.
function outputOf(output: unknown): unknown {
  if (typeof output === 'object' && output !== null && (output as Item)?.['type'] === 'text') return (output as Item)?.['text'];
  return output;
}

// Message content: a string, or parts of which those with `text` are text.
function textsOf(b: ContentBuilder, content: unknown, type: 'text' | 'reasoning'): MessagePart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type, content: b.text(content) }];
  const parts: MessagePart[] = [];
  if (Array.isArray(content)) {
    for (const part of content as Item[]) {
      // Within one message too: a message of a million parts is no reason to read them all.
      if (b.full) break;
      const text = part?.['text'];
      if (typeof text === 'string') parts.push({ type, content: b.text(text) });
    }
  }
  return parts;
}
