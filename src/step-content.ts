/**
 * What a model or tool step puts of its content into its events, and when
 * it calls the run's content hook: the one place the emitters (traceModel,
 * traceTool, the adapters' step tracker) apply a run's content policy.
 *
 * Every function here is reached only when the run captures content or has
 * a hook ({@link wantsContent}); with neither, emitters skip it whole, so
 * the capture-off path does no mapping, copying or serializing. Nothing here
 * throws into the emitter: a mapping that throws leaves the content out.
 */
import {
  boundedContent,
  callContentHook,
  CONTENT_EVENT_MAX,
  fitContent,
  FULL_CONTENT,
  outputMessage,
  plainValue,
  type ContentBuilder,
  type ModelInputContent,
  type OutputMessage,
  type CapturedContent,
  type ContentHook,
  type ToolCallRequest,
} from './content.js';
import { als, type RunScope } from './context.js';

/** Maps a framework's request into the conventions' shapes, with `b` (bounded for events, full for the hook). */
export type InputMapping = (b: ContentBuilder) => ModelInputContent;

/** True when the run wants content: captured into events, or handed to its hook. */
export function wantsContent(run: RunScope | undefined): run is RunScope {
  return run !== undefined && (run.captureContent || run.contentHook !== undefined);
}

/** The input fields of `agent.model.started`, and the full input kept for the hook. */
export interface ModelInput {
  /** Bounded, fitted copies for the start event; undefined unless the run captures content. */
  readonly event: ModelInputContent | undefined;
  /** The full input for the hook; undefined without one. */
  readonly full: ModelInputContent | undefined;
}

const NO_INPUT: ModelInput = Object.freeze({ event: undefined, full: undefined });

/** A model call's input, as the run wants it. */
export function modelInput(run: RunScope, map: InputMapping | undefined): ModelInput {
  if (map === undefined) return NO_INPUT;
  return { event: run.captureContent ? fitted(mapSafely(map, boundedContent())) : undefined, full: run.contentHook !== undefined ? mapSafely(map, FULL_CONTENT) : undefined };
}

function mapSafely(map: InputMapping, b: ContentBuilder): ModelInputContent | undefined {
  try {
    return map(b);
  } catch {
    // A framework object that cannot be read: no content rather than no step.
    return undefined;
  }
}

/** @internal Each input field fitted to {@link CONTENT_EVENT_MAX}, as the start event carries it. */
export function fitted(input: ModelInputContent | undefined): ModelInputContent | undefined {
  if (input === undefined) return undefined;
  return {
    systemInstructions: fitField(input.systemInstructions) as ModelInputContent['systemInstructions'],
    inputMessages: fitField(input.inputMessages) as ModelInputContent['inputMessages'],
    toolDefinitions: fitField(input.toolDefinitions) as ModelInputContent['toolDefinitions'],
  };
}

function fitField(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return fitContent(value, CONTENT_EVENT_MAX).value;
  } catch {
    return undefined;
  }
}

/** What a model call answered, as an emitter knows it. */
export interface ModelOutput {
  readonly text: unknown;
  readonly stopReason: string;
  readonly toolCalls?: readonly ToolCallRequest[] | undefined;
  readonly reasoning?: unknown;
}

/** The content fields of `agent.model.completed`: the output messages (captured) and the hook's reference. */
export interface ModelEndFields {
  outputMessages?: OutputMessage[] | undefined;
  contentRef?: string | undefined;
}

/**
 * The content of a model call's end: its output messages when captured, and
 * the hook's reference (the hook gets the full input and output; `output`
 * undefined: the call failed).
 */
export function modelEnd(run: RunScope, spanId: string, input: ModelInput, output: ModelOutput | undefined): ModelEndFields {
  const fields: ModelEndFields = {};
  if (output !== undefined && run.captureContent) fields.outputMessages = fitField(outputsOf(boundedContent(), output)) as OutputMessage[] | undefined;
  const hook = run.contentHook;
  if (hook !== undefined) {
    const full = input.full;
    fields.contentRef = callHook(hook, {
      operation: 'chat',
      runId: run.runId,
      spanId,
      systemInstructions: full?.systemInstructions,
      inputMessages: full?.inputMessages,
      toolDefinitions: full?.toolDefinitions,
      outputMessages: output === undefined ? undefined : outputsOf(FULL_CONTENT, output),
    });
  }
  return fields;
}

function outputsOf(b: ContentBuilder, output: ModelOutput): OutputMessage[] | undefined {
  try {
    return [outputMessage(b, output.text, output.stopReason, output.toolCalls, output.reasoning)];
  } catch {
    return undefined;
  }
}

/** A tool call's arguments for `agent.tool.started`: plain, bounded data when the run captures content, else undefined. */
export function toolArgs(run: RunScope, args: unknown): unknown {
  return run.captureContent && args !== undefined ? capturedValue(args) : undefined;
}

/** A captured value (arguments, a result) as an event carries it: plain data within {@link CONTENT_EVENT_MAX}, never throwing. */
export function capturedValue(value: unknown): unknown {
  return fitField(plainValue(value));
}

/** The content fields of `agent.tool.completed`. */
export interface ToolEndFields {
  result?: unknown;
  contentRef?: string | undefined;
}

/** The content of a tool call's end: its result when captured, and the hook's reference (`success` false: no result). */
export function toolEnd(run: RunScope, spanId: string, toolName: string, toolCallId: string, args: unknown, success: boolean, result: unknown): ToolEndFields {
  const fields: ToolEndFields = {};
  if (success && run.captureContent) fields.result = capturedValue(result);
  const hook = run.contentHook;
  if (hook !== undefined) {
    fields.contentRef = callHook(hook, {
      operation: 'execute_tool', runId: run.runId, spanId, toolName, toolCallId, arguments: args, result: success ? result : undefined,
    });
  }
  return fields;
}

/**
 * Calls the run's hook with no hook in force while it runs: a step the hook
 * opens (an upload through an instrumented client, a traced tool) would
 * otherwise call the hook again as it closes, which would open another, and
 * so on for as long as the process lives. Steps the hook opens, and what
 * they start after it returned, still go into the run as any other.
 */
function callHook(hook: ContentHook, content: CapturedContent): string | undefined {
  const frame = als.getStore();
  if (frame === undefined || frame.run.contentHook === undefined) return callContentHook(hook, content);
  return als.run({ ...frame, run: { ...frame.run, contentHook: undefined } }, () => callContentHook(hook, content));
}
