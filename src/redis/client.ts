/**
 * The Redis client of `agentbus/redis`, one way for both sides: the type of
 * a client of yours, the optional `redis` package loaded on first use, and
 * the clients agentbus makes from a URL.
 *
 * `redis` is an optional peer dependency: it is loaded with `import()` only
 * when a backplane or a source is made from a URL, so importing
 * `agentbus/redis` loads no Redis client, and a missing package is a
 * sentence that names the fix rather than a resolution error.
 *
 * A client made from a URL has no offline queue: a command sent while it is
 * down fails at once instead of waiting in node-redis's unbounded queue (the
 * writer keeps its own bounded outbox, a reader waits for `'ready'`). It
 * reconnects with a bounded backoff, and never gives up once connected: a
 * restarted Redis is waited for.
 */
import type { RedisClientType } from 'redis';
import { errorText } from './report.js';

/**
 * A node-redis v6 client of yours (`await createClient(...).connect()` from
 * `redis`), for the `client` option of `attachRedisBackplane` and
 * `createRedisRunSource`. Cluster clients and pools are not supported.
 */
// Any modules, functions, scripts, RESP version and type mapping: each side
// sends its commands through its own narrow view of the client.
export type RedisClient = RedisClientType<any, any, any, any, any>;

type RedisModule = typeof import('redis');

/** Longest wait between two attempts (reconnections, read retries), in ms. */
const MAX_BACKOFF_MS = 2_000;

/** The delay before retry number `failures` (0-based): 50 ms doubling up to 2 s. */
export function backoff(failures: number): number {
  return Math.min(50 * 2 ** Math.min(failures, 10), MAX_BACKOFF_MS);
}

/**
 * The delay before reconnection attempt `retries`: {@link backoff} plus up
 * to 100 ms of jitter, so that many instances do not reconnect in step.
 */
function reconnectDelay(retries: number): number {
  return backoff(retries) + Math.floor(Math.random() * 100);
}

/**
 * The `redis` package, loaded on first use. Its absence is an Error naming
 * `caller` and the install line; any other failure to load is rethrown.
 */
export async function loadRedis(caller: string): Promise<RedisModule> {
  try {
    return await import('redis');
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      `${caller}({ url }) needs the redis package (node-redis v6), an optional peer dependency of agentbus: npm install redis (${errorText(error).split('\n')[0]})`,
      { cause: error },
    );
  }
}

/** How a client made from a URL connects. */
export interface OwnedClientSettings {
  /** Its name in `CLIENT LIST`. Default: none. */
  readonly name?: string;
  /** Longest wait for one connection attempt, in ms. Default: node-redis's (5 s). */
  readonly connectTimeoutMs?: number;
  /**
   * Attempts the first connection gets before `connect()` rejects, so that a
   * wrong URL is an error rather than a hang. Default: unbounded (the caller
   * bounds its own wait).
   */
  readonly firstConnectAttempts?: number;
}

/**
 * A client for `url` that agentbus owns (connects and closes): no offline
 * queue, reconnecting with a bounded backoff. Not connected yet.
 *
 * @throws {Error} from node-redis, for a URL it cannot parse.
 */
export function createOwnedClient(redis: RedisModule, url: string, settings: OwnedClientSettings): RedisClient {
  const { name, connectTimeoutMs, firstConnectAttempts } = settings;
  let connectedOnce = false;
  const client = redis.createClient({
    url,
    ...(name !== undefined && { name }),
    disableOfflineQueue: true,
    socket: {
      ...(connectTimeoutMs !== undefined && { connectTimeout: connectTimeoutMs }),
      reconnectStrategy: (retries: number, cause: Error) =>
        connectedOnce || firstConnectAttempts === undefined || retries < firstConnectAttempts ? reconnectDelay(retries) : cause,
    },
  });
  if (firstConnectAttempts !== undefined) {
    client.on('ready', () => {
      connectedOnce = true;
    });
  }
  return client;
}

/**
 * The `keyPrefix` option of a client (node-redis puts it in front of every
 * key of its typed commands, and replies name keys with it), or ''.
 */
export function keyPrefixOf(client: { readonly options?: { readonly keyPrefix?: unknown } | undefined }): string {
  const prefix = client.options?.keyPrefix;
  return typeof prefix === 'string' ? prefix : prefix instanceof Uint8Array ? Buffer.from(prefix).toString() : '';
}
