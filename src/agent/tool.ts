/**
 * Tools: a name, a description, a schema for the arguments and a function.
 * The schema is any Standard Schema (zod 4 or 3.24+, valibot, arktype, ...)
 * and does double duty: its JSON Schema is what the model is shown, and it
 * validates what the model sends back, so a malformed call becomes an error
 * the model can read and correct instead of a crash.
 *
 * The JSON Schema comes from zod 4 itself, from the schema's Standard JSON
 * Schema (`~standard.jsonSchema`), or, for libraries without one (zod 3,
 * valibot without its converter), from `parameters` given with the tool.
 */
import { z } from 'zod';
import type { ToolSpec } from './model.js';
import { isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';
import { shownValue } from '../options.js';
import { shownJson, thrownText } from './value-text.js';

export type { StandardSchemaV1 } from './standard-schema.js';

/** What a schema validates to. */
export type ToolArgs<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

/** What a tool's `execute` receives besides its arguments. */
export interface ToolContext {
  /** Aborted when the agent run is aborted; pass it on to fetch and friends. */
  signal: AbortSignal;
}

/** Definition accepted by {@link defineTool}. */
export interface ToolDefinition<S extends StandardSchemaV1, O> {
  /** 1-64 characters of letters, digits, `_` and `-` (what model APIs accept). */
  name: string;
  /** What the tool does, for the model. */
  description: string;
  /** Schema of the arguments object: any Standard Schema (zod 4 or 3.24+, valibot, arktype, ...). */
  input: S;
  /**
   * The JSON Schema of the arguments object, shown to the model. Needed only
   * when `input` cannot describe itself (zod 3: `zod-to-json-schema`;
   * valibot: `@valibot/to-json-schema`); zod 4 and schemas with Standard JSON
   * Schema describe themselves, and this, when given, wins.
   */
  parameters?: Record<string, unknown>;
  /** Runs the tool with validated arguments. Its return value is shown to the model (JSON unless a string). */
  execute(args: ToolArgs<S>, context: ToolContext): O | Promise<O>;
}

/** A tool an {@link Agent} can call. Build one with {@link defineTool}. */
export interface Tool<S extends StandardSchemaV1 = StandardSchemaV1, O = unknown> extends ToolSpec {
  /** Schema of the arguments object. */
  readonly input: S;
  /** Runs the tool with validated arguments. */
  execute(args: ToolArgs<S>, context: ToolContext): O | Promise<O>;
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
export function defineTool<S extends StandardSchemaV1, O>(definition: ToolDefinition<S, O>): Tool<S, O> {
  if (typeof definition !== 'object' || definition === null) {
    throw new TypeError(`defineTool: definition must be a ToolDefinition object ({ name, description, input, execute }), got ${shownValue(definition)}`);
  }
  const { name, description, input, execute } = definition;
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new TypeError(`defineTool: name must be 1-64 letters, digits, '_' or '-', got ${shownJson(name)}`);
  }
  if (typeof description !== 'string') {
    throw new TypeError(`defineTool(${name}): description must be a string, got ${typeof description}`);
  }
  if (!isStandardSchema(input)) {
    throw new TypeError(
      `defineTool(${name}): input must be a Standard Schema (zod 4 or 3.24+, valibot, arktype, ...; for example z.object({...})), got ${describe(input)}`,
    );
  }
  if (typeof execute !== 'function') {
    throw new TypeError(`defineTool(${name}): execute must be a function, got ${typeof execute}`);
  }
  const parameters = jsonSchemaOf(name, input, definition.parameters);
  if (parameters.type !== 'object') {
    throw new TypeError(`defineTool(${name}): input must describe an object (use z.object), got JSON Schema type ${shownJson(parameters.type)}`);
  }
  return Object.freeze({ name, description, parameters, input, execute });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return Array.isArray(value) ? 'an array' : 'an object without a "~standard" property of version 1';
}

// `$schema` is noise to model APIs; some reject unknown top-level keys.
function withoutDialect(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}

/** The JSON Schema shown to the model, by the precedence documented on {@link ToolDefinition.parameters}. */
function jsonSchemaOf(name: string, input: StandardSchemaV1, given: Record<string, unknown> | undefined): Record<string, unknown> {
  if (given !== undefined) {
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      throw new TypeError(`defineTool(${name}): parameters must be a JSON Schema object, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`);
    }
    return withoutDialect(given);
  }
  try {
    if (input instanceof z.ZodType) return withoutDialect(z.toJSONSchema(input) as Record<string, unknown>);
    const converter = input['~standard'].jsonSchema;
    if (converter !== undefined) return withoutDialect(converter.input({ target: 'draft-2020-12' }));
  } catch (error) {
    // The converter is a schema library's: what it throws may be anything, and its text never throws.
    throw new TypeError(`defineTool(${name}): input cannot be expressed as JSON Schema: ${thrownText(error)}`);
  }
  throw new TypeError(
    `defineTool(${name}): input (a ${input['~standard'].vendor} schema) cannot describe itself as JSON Schema, which the model needs: ` +
      'pass parameters (for zod 3: zodToJsonSchema(input) from zod-to-json-schema; for valibot: toJsonSchema(input) from @valibot/to-json-schema), ' +
      'or use a schema with Standard JSON Schema (zod 4, arktype)',
  );
}

/**
 * Validates a model's arguments against the tool's schema (asynchronously:
 * a Standard Schema may validate asynchronously).
 *
 * @throws {ToolArgumentsError} naming each offending argument and the problem.
 */
export async function parseToolArguments<S extends StandardSchemaV1>(tool: Tool<S, unknown>, args: unknown): Promise<ToolArgs<S>> {
  const result = await tool.input['~standard'].validate(args);
  if (result.issues === undefined) return result.value as ToolArgs<S>;
  throw new ToolArgumentsError(
    tool.name,
    result.issues.map((issue) => ({ path: pathText(issue.path), message: issue.message })),
  );
}

function pathText(path: StandardSchemaV1.Issue['path']): string {
  if (path === undefined) return '';
  // A schema library's path segments: a key that has no text (a null-prototype object) gets a fixed one.
  return path.map((segment) => thrownText(typeof segment === 'object' && segment !== null ? segment.key : segment)).join('.');
}
