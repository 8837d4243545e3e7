/**
 * Tools: a name, a description, a zod schema for the arguments and a
 * function. The schema does double duty: its JSON Schema (from zod 4's
 * `z.toJSONSchema`) is what the model is shown, and it validates what the
 * model sends back, so a malformed call becomes an error the model can read
 * and correct instead of a crash.
 */
import { z } from 'zod';
import type { ToolSpec } from './model.js';

/** What a tool's `execute` receives besides its arguments. */
export interface ToolContext {
  /** Aborted when the agent run is aborted; pass it on to fetch and friends. */
  signal: AbortSignal;
}

/** Definition accepted by {@link defineTool}. */
export interface ToolDefinition<S extends z.ZodType, O> {
  /** 1-64 characters of letters, digits, `_` and `-` (what model APIs accept). */
  name: string;
  /** What the tool does, for the model. */
  description: string;
  /** Schema of the arguments object. */
  input: S;
  /** Runs the tool with validated arguments. Its return value is shown to the model (JSON unless a string). */
  execute(args: z.output<S>, context: ToolContext): O | Promise<O>;
}

/** A tool an {@link Agent} can call. Build one with {@link defineTool}. */
export interface Tool<S extends z.ZodType = z.ZodType, O = unknown> extends ToolSpec {
  /** Schema of the arguments object. */
  readonly input: S;
  /** Runs the tool with validated arguments. */
  execute(args: z.output<S>, context: ToolContext): O | Promise<O>;
}

/** The model called a tool with arguments that do not match its schema. */
export class ToolArgumentsError extends TypeError {
  /** The tool that was called. */
  readonly toolName: string;
  /** One entry per problem: the path to the argument and what is wrong. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(toolName: string, issues: ReadonlyArray<{ path: string; message: string }>) {
    super(`invalid arguments for tool "${toolName}": ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'ToolArgumentsError';
    this.toolName = toolName;
    this.issues = issues;
  }
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Defines a tool. The model sees `name`, `description` and the JSON Schema of
 * `input`; the agent validates the model's arguments with `input` before
 * calling `execute`.
 *
 * @throws {TypeError} naming the field when the definition is unusable.
 */
export function defineTool<S extends z.ZodType, O>(definition: ToolDefinition<S, O>): Tool<S, O> {
  const { name, description, input, execute } = definition;
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new TypeError(`defineTool: name must be 1-64 letters, digits, '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (typeof description !== 'string') {
    throw new TypeError(`defineTool(${name}): description must be a string, got ${typeof description}`);
  }
  if (!(input instanceof z.ZodType)) {
    throw new TypeError(`defineTool(${name}): input must be a zod schema (for example z.object({...}))`);
  }
  if (typeof execute !== 'function') {
    throw new TypeError(`defineTool(${name}): execute must be a function, got ${typeof execute}`);
  }
  let parameters: Record<string, unknown>;
  try {
    // `$schema` is noise to model APIs; some reject unknown top-level keys.
    const { $schema: _ignored, ...schema } = z.toJSONSchema(input) as Record<string, unknown>;
    parameters = schema;
  } catch (error) {
    throw new TypeError(`defineTool(${name}): input cannot be expressed as JSON Schema: ${(error as Error).message}`);
  }
  if (parameters.type !== 'object') {
    throw new TypeError(`defineTool(${name}): input must describe an object (use z.object), got JSON Schema type ${JSON.stringify(parameters.type)}`);
  }
  return Object.freeze({ name, description, parameters, input, execute });
}

/**
 * Validates a model's arguments against the tool's schema.
 *
 * @throws {ToolArgumentsError} naming each offending argument and the problem.
 */
export function parseToolArguments<S extends z.ZodType>(tool: Tool<S, unknown>, args: unknown): z.output<S> {
  const result = tool.input.safeParse(args);
  if (result.success) return result.data;
  throw new ToolArgumentsError(
    tool.name,
    result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
  );
}
