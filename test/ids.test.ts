import { describe, expect, it } from 'vitest';
import { newSpanId } from '../src/ids.js';

describe('newSpanId', () => {
  it('makes 16 lowercase hex characters, a process prefix then a counter, never the same twice', () => {
    const ids = Array.from({ length: 70_000 }, () => newSpanId());
    expect(ids.every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // One prefix for the whole batch (it changes every 2^32 ids), and a counter that counts.
    const first = ids[0] as string;
    const last = ids[ids.length - 1] as string;
    expect(last.slice(0, 8)).toBe(first.slice(0, 8));
    expect(parseInt(last.slice(8), 16) - parseInt(first.slice(8), 16)).toBe(ids.length - 1);
  });
});
