import { describe, expect, it } from 'vitest';
import { z } from 'zod';
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
    expect(() => defineTool({ ...base, input: { parse() {} } as never })).toThrow('defineTool(ok): input must be a zod schema');
    expect(() => defineTool({ ...base, execute: 'nope' as never })).toThrow('defineTool(ok): execute must be a function, got string');
  });
});

describe('parseToolArguments', () => {
  it('returns the parsed arguments, or throws a ToolArgumentsError listing each bad field', () => {
    const tool = defineTool({
      name: 'book',
      description: 'Books a trip.',
      input: z.object({ city: z.string(), nights: z.number().int().positive(), extras: z.object({ breakfast: z.boolean() }) }),
      execute: () => 'booked',
    });
    expect(parseToolArguments(tool, { city: 'Oslo', nights: 2, extras: { breakfast: true } })).toEqual({
      city: 'Oslo',
      nights: 2,
      extras: { breakfast: true },
    });
    let error: unknown;
    try {
      parseToolArguments(tool, { nights: -1, extras: { breakfast: 'yes' } });
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
