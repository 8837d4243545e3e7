/**
 * agentbus/redis: runs shared by several processes through Redis Streams.
 *
 * - {@link attachRedisBackplane}: the writing side. Every run published on a
 *   bus goes to its Redis stream, without `publish` ever waiting on Redis: a
 *   bounded outbox flushed in pipelined batches, with gap markers for what
 *   was lost while Redis was slow or down.
 * - {@link createRedisRunSource}: the reading side, a `RunSource` for
 *   `createSseHandler({ source })` that serves any run from Redis.
 * - {@link RedisClient}: a node-redis v6 client of yours, which either side
 *   takes as `client` instead of a `url`.
 * - The wire format (`runKey`, `decodeRunEntry`, ...): how runs are laid out
 *   in Redis, for tools that read the streams directly.
 *
 * Importing this module loads no Redis client: the `redis` package (an
 * optional peer dependency) is loaded when a backplane or a source is made
 * from a URL.
 * @packageDocumentation
 */

// Writing side (src/redis/backplane.ts; its writer, batches and outbox stay internal).
export {
  attachRedisBackplane,
  type RedisBackplane,
  type RedisBackplaneOptions,
  type RedisBackplaneStats,
  type RedisBackplaneWaitOptions,
} from './backplane.js';

// Reading side (src/redis/source.ts).
export { createRedisRunSource, RedisRunSource, type RedisRunSourceOptions, type RedisRunSourceStats } from './source.js';

// The client either side takes (src/redis/client.ts).
export type { RedisClient } from './client.js';

// The wire format (src/redis/wire.ts).
export {
  DEFAULT_PREFIX,
  decodeRunEntry,
  endEntryId,
  eventEntryId,
  gapEntryId,
  indexKey,
  runKey,
  type EndMarkerReason,
  type RunEntry,
  type RunIndexState,
} from './wire.js';
