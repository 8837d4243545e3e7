import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import { ToolArgumentsError, defineTool, parseToolArguments } from '../src/agent/index.js';

describe('defineTool', () => {
  it('describes the tool to models with the JSON Schema of its zod input', () => {
    const tool = defineTool({
      name: 'search',
      description: 'Searches.',
      input: z.object({ query: z.string().describe('What to look for'), limit: z.number().int().optional() }),
      execute: () => [],
    });
    expect(tool.parameters).toEqual({
      type: 'object',
      properties: { query: { type: 'string', description: 'What to look for' }, limit: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 } },
      required: ['query'],
      additionalProperties: false,
    });
    expect(Object.isFrozen(tool)).toBe(true);
  });

  it('rejects unusable definitions with a message naming the field', () => {
    const base = { name: 'ok', description: 'd', input: z.object({}), execute: () => 1 };
    expect(() => defineTool({ ...base, name: 'has space' })).toThrow(`defineTool: name must be 1-64 letters, digits, '_' or '-', got "has space"`);
    expect(() => defineTool({ ...base, input: z.string() })).toThrow('defineTool(ok): input must describe an object (use z.object), got JSON Schema type "string"');
    expect(() => defineTool({ ...base, input: { parse() {} } as never })).toThrow(
      'defineTool(ok): input must be a Standard Schema (zod 4 or 3.24+, valibot, arktype, ...; for example z.object({...})), got an object without a "~standard" property of version 1',
    );
    expect(() => defineTool({ ...base, execute: 'nope' as never })).toThrow('defineTool(ok): execute must be a function, got string');
  });
});

describe('parseToolArguments', () => {
  it('returns the parsed arguments, or throws a ToolArgumentsError listing each bad field', async () => {
    const tool = defineTool({
      name: 'book',
      description: 'Books a trip.',
      input: z.object({ city: z.string(), nights: z.number().int().positive(), extras: z.object({ breakfast: z.boolean() }) }),
      execute: () => 'booked',
    });
    expect(await parseToolArguments(tool, { city: 'Oslo', nights: 2, extras: { breakfast: true } })).toEqual({
      city: 'Oslo',
      nights: 2,
      extras: { breakfast: true },
    });
    let error: unknown;
    try {
      await parseToolArguments(tool, { nights: -1, extras: { breakfast: 'yes' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ToolArgumentsError);
    expect((error as ToolArgumentsError).issues.map((i) => i.path)).toEqual(['city', 'nights', 'extras.breakfast']);
    expect((error as Error).message).toBe(
      'invalid arguments for tool "book": city: Invalid input: expected string, received undefined; ' +
        'nights: Too small: expected number to be >0; extras.breakfast: Invalid input: expected boolean, received string',
    );
  });
});

describe('tools with any Standard Schema', () => {
  it('takes a zod 3 schema (zod/v3) with the JSON Schema given as parameters, and validates with it', async () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const tool = defineTool({ name: 'weather', description: 'Weather.', input: z3.object({ city: z3.string() }), parameters, execute: ({ city }) => city });
    expect(tool.parameters).toEqual(parameters);
    expect(await parseToolArguments(tool, { city: 'Oslo' })).toEqual({ city: 'Oslo' });
    await expect(parseToolArguments(tool, { city: 7 })).rejects.toThrow('invalid arguments for tool "weather": city: Expected string, received number');
  });

  it('says exactly what is missing when a zod 3 schema comes without parameters', () => {
    expect(() => defineTool({ name: 'w', description: '', input: z3.object({ city: z3.string() }), execute: () => 1 })).toThrow(
      'defineTool(w): input (a zod schema) cannot describe itself as JSON Schema, which the model needs: pass parameters (for zod 3: zodToJsonSchema(input) from zod-to-json-schema',
    );
  });

  it('uses a schema that describes itself through Standard JSON Schema, and awaits an async validate', async () => {
    // A library-neutral Standard Schema, as valibot or arktype would hand over.
    const seen: string[] = [];
    const input = {
      '~standard': {
        version: 1 as const,
        vendor: 'handmade',
        validate: async (value: unknown) => {
          const city = (value as { city?: unknown } | null)?.city;
          return typeof city === 'string' ? { value: { city } } : { issues: [{ message: 'city is required', path: [{ key: 'city' }] }] };
        },
        jsonSchema: {
          input: (options: { target: string }) => {
            seen.push(options.target);
            return { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { city: { type: 'string' } } };
          },
        },
        types: undefined as unknown as { input: { city: string }; output: { city: string } },
      },
    };
    const tool = defineTool({ name: 'h', description: '', input, execute: ({ city }) => city.toUpperCase() });
    expect(tool.parameters).toEqual({ type: 'object', properties: { city: { type: 'string' } } });
    expect(seen).toEqual(['draft-2020-12']);
    expect(await parseToolArguments(tool, { city: 'x' })).toEqual({ city: 'x' });
    await expect(parseToolArguments(tool, {})).rejects.toThrow('invalid arguments for tool "h": city: city is required');
  });
});

describe('defineTool with hostile definitions', () => {
  it('refuses a definition that is not an object, naming it', () => {
    expect(() => defineTool(null as never)).toThrow(
      new TypeError('defineTool: definition must be a ToolDefinition object ({ name, description, input, execute }), got null'),
    );
  });

  it('says what a JSON Schema converter threw, even a value without text', () => {
    const input = {
      '~standard': {
        version: 1,
        vendor: 'odd',
        validate: (value: unknown) => ({ value }),
        jsonSchema: { input: () => { throw Object.create(null); } },
      },
    };
    expect(() => defineTool({ name: 'odd', description: 'x', input: input as never, execute: () => 1 })).toThrow(
      'defineTool(odd): input cannot be expressed as JSON Schema: [unprintable object]',
    );
  });

  it('names an argument whose path segment has no text', async () => {
    const input = {
      '~standard': {
        version: 1,
        vendor: 'odd',
        validate: () => ({ issues: [{ message: 'bad', path: [{ key: Object.create(null) }, 'n'] }] }),
      },
    };
    const tool = defineTool({ name: 'odd', description: 'x', input: input as never, parameters: { type: 'object' }, execute: () => 1 });
    await expect(parseToolArguments(tool, {})).rejects.toThrow('invalid arguments for tool "odd": [unprintable object].n: bad');
  });
});

describe('defineTool error messages', () => {
  it('names a BigInt name by its type instead of failing to write it', () => {
    expect(() => defineTool({ name: 10n as never, description: 'x', input: z.object({}), execute: () => 1 })).toThrow(
      new TypeError("defineTool: name must be 1-64 letters, digits, '_' or '-', got bigint"),
    );
  });
});
