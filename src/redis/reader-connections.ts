/**
 * The two Redis connections of a {@link RedisRunSource}: one for short
 * commands (history pages, lookups, `CLIENT UNBLOCK`) and one that does
 * nothing but block in `XREAD`. A blocking command holds its connection for
 * up to `blockMs`, so it never shares one with commands that must answer now.
 *
 * Clients made from a URL come from `client.ts` (which loads the optional
 * `redis` package only then).
 */
import { maskedUrl } from '../masked-url.js';
import { createOwnedClient, keyPrefixOf, loadRedis, type RedisClient } from './client.js';

/** One stream entry as node-redis returns it. */
export interface StreamMessage {
  readonly id: string;
  readonly message: unknown;
}

/**
 * What the reader uses of a node-redis client. Replies are read with an empty
 * type mapping, so they have the documented shapes whatever the user's
 * client maps (Buffers, Maps).
 */
export interface ReaderClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly socketEpoch: number;
  readonly options?: { readonly keyPrefix?: unknown } | undefined;
  xRange(key: string, start: string, end: string, options?: { COUNT?: number }): Promise<StreamMessage[] | null>;
  xRevRange(key: string, start: string, end: string, options?: { COUNT?: number }): Promise<StreamMessage[] | null>;
  xRead(streams: Array<{ key: string; id: string }>, options?: { BLOCK?: number; COUNT?: number }): Promise<Array<{ name: unknown; messages: StreamMessage[] }> | null>;
  exists(key: string): Promise<number>;
  type(key: string): Promise<unknown>;
  clientId(): Promise<number>;
  sendCommand(args: string[]): Promise<unknown>;
  withTypeMapping(mapping: Record<never, never>): ReaderClient;
  duplicate(overrides?: Record<string, unknown>): ReaderClient;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (arg: unknown) => void): unknown;
  off(event: string, listener: (arg: unknown) => void): unknown;
}

// Once connected a reader never gives up (a restarted Redis is waited for); its first
// connection fails after this many attempts, so that a wrong URL is an error, not a hang.
const FIRST_CONNECT_ATTEMPTS = 3;

/** A URL as it may appear in a message: the password masked. */
function redactUrl(url: string): string {
  try {
    return maskedUrl(new URL(url));
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * One connection: its readiness, a wait that ends early when it becomes
 * ready again, and its error events counted (only on clients we created:
 * an `error` listener on the user's client would change what their process
 * does with errors).
 */
export class ReaderConnection {
  /** Commands go through this view: the user's type mapping does not apply. */
  readonly commands: ReaderClient;
  readonly #client: ReaderClient;
  readonly #owned: boolean;
  readonly #waiters = new Set<() => void>();
  readonly #onReady = () => this.#wakeAll();
  readonly #onError: (error: unknown) => void;
  #closed = false;
  /** The last error the client reported (owned clients only), for messages. */
  lastError: string | undefined;

  constructor(client: ReaderClient, owned: boolean, onError: () => void) {
    this.#client = client;
    this.#owned = owned;
    this.commands = client.withTypeMapping({});
    this.#onError = (error) => {
      this.lastError = error instanceof Error ? error.message : String(error);
      onError();
    };
    client.on('ready', this.#onReady);
    if (owned) client.on('error', this.#onError);
  }

  /** True while commands can be sent and answered. */
  get ready(): boolean {
    return !this.#closed && this.#client.isReady;
  }

  /** Counts reconnections: a value read on one connection (a client id) is stale on the next. */
  get epoch(): number {
    return this.#client.socketEpoch;
  }

  /** The client's key prefix (replies name keys with it), or ''. */
  get keyPrefix(): string {
    return keyPrefixOf(this.#client);
  }

  /** Resolves after `ms`, or sooner when the connection becomes ready or is closed. Never rejects. */
  pause(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Stops listening; a client we created is destroyed (nothing to flush: we only read). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.off('ready', this.#onReady);
    this.#wakeAll();
    if (!this.#owned) return;
    try {
      this.#client.destroy();
    } catch {
      // Already closed: nothing to release.
    }
    // Errors of a destroyed socket may still arrive; keep them counted rather than unhandled.
  }
}

/** How to reach Redis: a URL (clients are created and owned) or the user's connected client. */
export interface ConnectionTarget {
  url?: string | undefined;
  client?: RedisClient | undefined;
}

/** Opens the command and blocking connections. Rejects with a message that names the fix. */
export async function openReaderConnections(
  target: ConnectionTarget,
  onError: () => void,
): Promise<{ commands: ReaderConnection; blocking: ReaderConnection }> {
  if (target.client !== undefined) {
    const client = target.client as unknown as ReaderClient;
    if (typeof client?.duplicate !== 'function' || typeof client.withTypeMapping !== 'function') {
      throw new TypeError('createRedisRunSource: client must be a node-redis v6 client (createClient() from redis); clusters and pools are not supported');
    }
    if (!client.isOpen) throw new TypeError('createRedisRunSource: client is not connected; call await client.connect() first');
    // The blocking connection is ours: commands fail at once while it is down, and we wait for 'ready'.
    const duplicate = client.duplicate({ disableOfflineQueue: true });
    const blocking = new ReaderConnection(duplicate, true, onError);
    try {
      await duplicate.connect();
    } catch (error) {
      blocking.close();
      throw new Error(`createRedisRunSource: cannot open a second connection with the client's options: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    return { commands: new ReaderConnection(client, false, onError), blocking };
  }

  const url = target.url as string;
  const redis = await loadRedis('createRedisRunSource');
  const open = async (): Promise<ReaderConnection> => {
    const client = createOwnedClient(redis, url, { name: 'agentbus-reader', firstConnectAttempts: FIRST_CONNECT_ATTEMPTS }) as unknown as ReaderClient;
    const connection = new ReaderConnection(client, true, onError);
    try {
      await client.connect();
    } catch (error) {
      connection.close();
      throw new Error(`createRedisRunSource: cannot connect to Redis at ${redactUrl(url)}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    return connection;
  };
  const [commands, blocking] = await Promise.allSettled([open(), open()]);
  if (commands.status === 'fulfilled' && blocking.status === 'fulfilled') return { commands: commands.value, blocking: blocking.value };
  if (commands.status === 'fulfilled') commands.value.close();
  if (blocking.status === 'fulfilled') blocking.value.close();
  throw (commands.status === 'rejected' ? commands.reason : (blocking as PromiseRejectedResult).reason) as Error;
}
