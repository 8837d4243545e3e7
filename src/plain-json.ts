/**
 * Plain JSON data: the check that lets the bus keep a payload as it is.
 *
 * Most payloads are plain objects of strings and numbers. For them a cheap
 * walk that says "plain, and about this big" is enough, and the payload is
 * kept without being written; anything else (a Proxy, a class instance, a
 * cycle, a value JSON drops) is left to {@link boundedJson}. The walk never
 * recurses past {@link MAX_DEPTH} and stops once the budget is spent, so its
 * time is linear in the budget, not in the payload.
 */
import { types } from 'node:util';
import { MAX_DEPTH, type boundedJson } from './bounded-json.js';

const OBJECT_PROTOTYPE = Object.prototype;
const ARRAY_PROTOTYPE = Array.prototype;

/**
 * The size of `value`'s JSON (an estimate: string escapes and number widths
 * are not counted exactly) when `value` is plain data that fits `budget`:
 * only plain objects (prototype `Object.prototype` or `null`, no `toJSON`),
 * arrays, strings, finite numbers, booleans and null, acyclic, at most
 * {@link MAX_DEPTH} deep, and not a Proxy. Otherwise -1: the caller must
 * write it with {@link boundedJson}. Never throws.
 */
export function plainJsonSize(value: unknown, budget: number): number {
  try {
    return sizeOf(value, budget, 0);
  } catch {
    // A getter or a trap threw: not plain.
    return -1;
  }
}

// Cycles need no bookkeeping here: a cycle is a path deeper than MAX_DEPTH,
// which makes the value "not plain" (-1), and boundedJson then writes it
// with its placeholders. Keeping no ancestor list means a nested payload
// allocates nothing to be sized; the walk stays bounded by the budget and
// the depth either way.
function sizeOf(value: unknown, budget: number, depth: number): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'number':
      return Number.isFinite(value) ? 8 : -1;
    case 'boolean':
      return 5;
    case 'object':
      break;
    default:
      // undefined, bigint, symbol, function: JSON drops or refuses them.
      return -1;
  }
  if (value === null) return 4;
  if (depth >= MAX_DEPTH || types.isProxy(value)) return -1;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === ARRAY_PROTOTYPE) return arraySize(value as unknown[], budget, depth);
  if (proto !== OBJECT_PROTOTYPE && proto !== null) return -1;
  return objectSize(value as Record<string, unknown>, budget, depth);
}

function arraySize(array: unknown[], budget: number, depth: number): number {
  let size = 2;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    // Holes and undefined are written as null.
    const s = item === undefined ? 4 : sizeOf(item, budget - size, depth + 1);
    if (s < 0) return -1;
    size += s + 1;
    if (size > budget) return -1;
  }
  return size;
}

function objectSize(object: Record<string, unknown>, budget: number, depth: number): number {
  let size = 2;
  // for-in without an own-property check: only a polluted Object.prototype
  // adds keys, and then this size is an overestimate, which is harmless.
  // Primitives are sized inline (this loop is on the publish path); a
  // function value (a `toJSON` among them) makes the object not plain.
  for (const key in object) {
    const item = object[key];
    let s: number;
    switch (typeof item) {
      case 'string':
        s = item.length + 2;
        break;
      case 'number':
        if (!Number.isFinite(item)) return -1;
        s = 8;
        break;
      case 'boolean':
        s = 5;
        break;
      case 'undefined':
        continue;
      case 'object':
        if (item === null) {
          s = 4;
          break;
        }
        s = sizeOf(item, budget - size, depth + 1);
        if (s < 0) return -1;
        break;
      default:
        return -1;
    }
    size += key.length + 4 + s;
    if (size > budget) return -1;
  }
  return size;
}
