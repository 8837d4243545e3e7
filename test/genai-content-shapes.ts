// The GenAI conventions' content shapes, as checks for the tests: written
// here from semantic-conventions-genai's JSON schemas
// (`gen-ai-input-messages.json`, `gen-ai-output-messages.json`,
// `gen-ai-system-instructions.json`) and the tool definitions and tool call
// arguments/result of `non-normative/models.py` and its test cases. A part
// whose `type` is one the schemas define must have that part's required
// fields (stricter than the schemas' `anyOf`, whose GenericPart would accept
// a `text` part without its `content`); any other type is a GenericPart.
import { expect } from 'vitest';
import { z } from 'zod';
import type { StreamEvent } from '../src/events.js';

const id = z.string().nullable().optional();
const KNOWN_PARTS = {
  text: z.looseObject({ type: z.literal('text'), content: z.string() }),
  reasoning: z.looseObject({ type: z.literal('reasoning'), content: z.string() }),
  tool_call: z.looseObject({ type: z.literal('tool_call'), id, name: z.string(), arguments: z.unknown().optional() }),
  // `response` is required (any JSON value, null included).
  tool_call_response: z.looseObject({ type: z.literal('tool_call_response'), id }).refine((part) => 'response' in part, 'response is required'),
  uri: z.looseObject({ type: z.literal('uri'), modality: z.string(), uri: z.string() }),
  file: z.looseObject({ type: z.literal('file'), modality: z.string(), file_id: z.string() }),
  blob: z.looseObject({ type: z.literal('blob'), modality: z.string(), content: z.string() }),
} as const;

const part = z.looseObject({ type: z.string() }).superRefine((value, ctx) => {
  const known = (KNOWN_PARTS as Record<string, z.ZodType>)[value.type];
  if (known === undefined) return;
  const result = known.safeParse(value);
  if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});

const chatMessage = z.looseObject({ role: z.string(), parts: z.array(part), name: z.string().nullable().optional() });

/** `gen_ai.input.messages`. */
export const inputMessagesShape = z.array(chatMessage);
/** `gen_ai.output.messages` (finish_reason: required by the schema, deprecated by the newest models; we always write it). */
export const outputMessagesShape = z.array(chatMessage.extend({ finish_reason: z.string() }));
/** `gen_ai.system_instructions`: a list of parts. */
export const systemInstructionsShape = z.array(part);
/** `gen_ai.tool.definitions`: each with `type` and `name`. */
export const toolDefinitionsShape = z.array(z.looseObject({ type: z.string(), name: z.string() }));
/** `gen_ai.tool.call.arguments` (and an object result): a JSON object. */
export const jsonObjectShape = z.record(z.string(), z.unknown());

/** Parses an attribute as JSON and checks it against `shape`; returns the parsed value. */
export function parsedAs<T>(shape: z.ZodType<T>, attribute: unknown): T {
  if (typeof attribute !== 'string') throw new TypeError(`expected a JSON string attribute, got ${typeof attribute}`);
  return shape.parse(JSON.parse(attribute));
}

/** The `content` of a text (or reasoning) part. */
export function textOf(part: { readonly [key: string]: unknown } | undefined): string {
  const content = part?.['content'];
  if (typeof content !== 'string') throw new TypeError('expected a part with a text content');
  return content;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` has no lone surrogate: it encodes to UTF-8 and back unchanged. */
export function wellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * Checks the conversation an agent's model steps carried with content
 * capture: every start has input messages and tool definitions, every end
 * its output messages, all in their shapes; the first answer asked for
 * `firstCall` (a `tool_call` finish), and the last input holds text, that
 * tool call and its response. Returns the starts' payloads and the last input.
 */
export function expectConversation(events: readonly StreamEvent[], firstCall: { name: string; arguments: unknown }) {
  const payloads = (type: string) => events.filter((e) => e.eventType === type).map((e) => e.data as Record<string, unknown>);
  const modelStarts = payloads('agent.model.started');
  const modelEnds = payloads('agent.model.completed');
  expect(modelStarts.length).toBeGreaterThan(1);
  for (const data of modelStarts) {
    expect(inputMessagesShape.parse(data['inputMessages']).length).toBeGreaterThan(0);
    toolDefinitionsShape.parse(data['toolDefinitions']);
  }
  for (const data of modelEnds) outputMessagesShape.parse(data['outputMessages']);
  const lastInput = inputMessagesShape.parse(modelStarts.at(-1)!['inputMessages']);
  expect(lastInput.flatMap((m) => m.parts.map((p) => p.type))).toEqual(expect.arrayContaining(['text', 'tool_call', 'tool_call_response']));
  expect(toolDefinitionsShape.parse(modelStarts[0]!['toolDefinitions']).map((t) => t.name)).toEqual(expect.arrayContaining([firstCall.name]));
  const firstOutput = outputMessagesShape.parse(modelEnds[0]!['outputMessages']);
  expect(firstOutput[0]!.parts).toContainEqual(expect.objectContaining({ type: 'tool_call', ...firstCall }));
  expect(firstOutput[0]!.finish_reason).toBe('tool_call');
  return { modelStarts, lastInput };
}
