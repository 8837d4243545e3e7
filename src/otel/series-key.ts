/**
 * The cache key of a metric attribute set built from two names, such as
 * (provider, model) or (tool, agent). Names come from events (user code,
 * the wire) and may hold any character, NUL included, so the first name is
 * spelled with its length in front: ('a', 'b\0c') and ('a\0b', 'c') get two
 * keys, and neither takes the other's series.
 */

/** @internal `first` and `second` as one key that no other pair of names spells. */
export function seriesKey(first: string, second: string): string {
  return `${first.length}:${first}\u0000${second}`;
}
