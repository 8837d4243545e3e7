// The reading half of agentbus/redis against a real redis-server: entries are
// written with a plain node-redis client and the wire.ts encoders (not with the
// backplane), then read through RedisRunSource directly, through the SSE handler
// with the package's client, and with the independent `eventsource` package.
import { EventSource } from 'eventsource';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseStreamEvent, type StreamEvent } from '../../src/events.js';
import type { Subscription } from '../../src/subscription.js';
import { subscribeSse } from '../../src/sse/client.js';
import { createRedisRunSource, type RedisRunSource, type RedisRunSourceOptions } from '../../src/redis/index.js';
import { encodeEnd, encodeEvent, encodeGap, encodeIndexEntry, endEntryId, eventEntryId, gapEntryId, indexKey, runKey } from '../../src/redis/wire.js';
import { startRedis, type RedisServer } from '../redis-harness.js';
import { serve } from '../sse-harness.js';

type Client = ReturnType<typeof createClient>;

let redis: RedisServer;
let writer: Client;
const sources: RedisRunSource[] = [];
const eventSources: EventSource[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
  writer = createClient({ url: redis.url });
  writer.on('error', () => {});
  await writer.connect();
});

afterEach(async () => {
  for (const s of eventSources.splice(0)) s.close();
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  writer?.destroy();
  await redis?.stop();
});

/** A fresh key prefix per test: tests share one server. */
function freshPrefix(): string {
  return `t${++prefixes}`;
}

async function open(options: Partial<RedisRunSourceOptions> & { prefix: string }): Promise<RedisRunSource> {
  const source = await createRedisRunSource({ url: redis.url, ...options });
  sources.push(source);
  return source;
}

function ev(runId: string, seq: number, eventType = 'demo.step', data: object = { seq }): StreamEvent {
  return { eventId: `${runId}:${seq}`, runId, seq, eventType, timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data };
}

async function writeEvents(client: Client, prefix: string, runId: string, from: number, to: number): Promise<void> {
  const adds: Promise<unknown>[] = [];
  for (let seq = from; seq <= to; seq++) adds.push(client.xAdd(runKey(prefix, runId), eventEntryId(seq), encodeEvent(ev(runId, seq))));
  await Promise.all(adds);
}

async function writeEnd(client: Client, prefix: string, runId: string, lastSeq: number, reason: 'closed' | 'dropped' = 'closed'): Promise<void> {
  await client.xAdd(runKey(prefix, runId), endEntryId(lastSeq), encodeEnd(reason));
}

async function writeIndex(client: Client, prefix: string, runId: string, state: 'started' | 'ended'): Promise<void> {
  await client.xAdd(indexKey(prefix), '*', encodeIndexEntry(runId, state, Date.now()));
}

/** Reads `n` events, failing after `ms`. */
async function take(sub: Subscription, n: number, ms = 5_000): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out with ${out.length}/${n} events: ${JSON.stringify(out.map(label))}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      sub.next(),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left))),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') continue;
    if (result.done) throw new Error(`ended (${sub.endReason}) after ${out.length}/${n} events: ${JSON.stringify(out.map(label))}`);
    out.push(result.value);
  }
  return out;
}

/** Reads until the subscription ends, failing after `ms`. */
async function drain(sub: Subscription, ms = 5_000): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  const timer = setTimeout(() => sub.close(), ms);
  for await (const event of sub) out.push(event);
  clearTimeout(timer);
  if (sub.endReason === 'unsubscribed') throw new Error(`did not end within ${ms} ms; got ${JSON.stringify(out.map(label))}`);
  return out;
}

/** `seq` for events, `dropped(from-to)` for loss reports. */
function label(e: StreamEvent): string | number {
  if (e.eventType === 'stream.dropped') {
    const d = e.data as { count: number; fromSeq?: number; toSeq?: number };
    return `dropped(${d.count}:${d.fromSeq}-${d.toSeq})`;
  }
  return e.seq;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('RedisRunSource: one run', () => {
  it('delivers the history (several pages) then live entries, with no gap or duplicate across the switch', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 600);
    const source = await open({ prefix });
    const sub = source.subscribe('r1');
    expect((await take(sub, 600)).map(label)).toEqual(range(1, 600));
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await writeEvents(writer, prefix, 'r1', 601, 700);
    await writeEnd(writer, prefix, 'r1', 700);
    expect((await drain(sub)).map(label)).toEqual(range(601, 700));
    expect(sub.endReason).toBe('closed');
    expect(source.stats().subscribers).toBe(0);
    expect(source.stats().runsFollowed).toBe(0);
  });

  it('has no gap or duplicate when entries are appended between the pages of the history read', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 100);
    const source = await open({ prefix });
    // A queue bound of 16 makes pages of 16, pulled only as the reader makes room, so the
    // appends below land between history pages (and then across the switch to live).
    const sub = source.subscribe('r1', { highWaterMark: 16 });
    const seen: StreamEvent[] = [];
    let written = 100;
    let readsBeforeLive = 0;
    while (written < 400) {
      // Three more entries every seventh read, and whenever the reader has caught up.
      if (seen.length % 7 === 0 || seen.length === written) {
        await writeEvents(writer, prefix, 'r1', written + 1, written + 3);
        written += 3;
      }
      seen.push(...(await take(sub, 1)));
      if (source.stats().runsFollowed === 0) readsBeforeLive++;
    }
    await writeEnd(writer, prefix, 'r1', written);
    seen.push(...(await drain(sub)));
    expect(seen.map(label)).toEqual(range(1, written));
    // The appends did interleave with the history: many reads happened before the switch.
    expect(readsBeforeLive).toBeGreaterThan(100);
  });

  it('gives every subscriber every entry exactly once when subscribers join at random moments while the run is written', async () => {
    const prefix = freshPrefix();
    const source = await open({ prefix });
    const N = 2_000;
    // Seeded interleavings: batches of 1..8 entries, a join now and then, sometimes a pause.
    for (const [round, initialSeed] of [42, 7, 1_234, 99, 2_024, 31_337].entries()) {
      const runId = `r${round}`;
      const results: Promise<Array<string | number>>[] = [];
      let seed = initialSeed;
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      let written = 0;
      while (written < N) {
        const batch = Math.min(N - written, 1 + Math.floor(random() * 8));
        void writeEvents(writer, prefix, runId, written + 1, written + batch); // pipelined, in order on one connection
        written += batch;
        if (random() < 0.1) {
          const sub = source.subscribe(runId);
          results.push(drain(sub, 30_000).then((events) => events.map(label)));
        }
        if (random() < 0.3) await new Promise((r) => setImmediate(r));
        else if (random() < 0.05) await new Promise((r) => setTimeout(r, 2));
      }
      await writeEnd(writer, prefix, runId, N);
      expect(results.length).toBeGreaterThan(30);
      for (const seqs of await Promise.all(results)) expect(seqs).toEqual(range(1, N));
    }
  });

  it('resumes after afterSeq with exactly the later entries, the gap marker in its place and the end marker', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 10);
    await writer.xAdd(runKey(prefix, 'r1'), gapEntryId(15), encodeGap(4, 11, 14));
    await writeEvents(writer, prefix, 'r1', 15, 20);
    await writeEnd(writer, prefix, 'r1', 20, 'closed');
    const source = await open({ prefix });
    const after8 = source.subscribe('r1', { afterSeq: 8 });
    expect((await drain(after8)).map(label)).toEqual([9, 10, 'dropped(4:11-14)', ...range(15, 20)]);
    expect(after8.endReason).toBe('closed');
    const after12 = source.subscribe('r1', { afterSeq: 12 });
    expect((await drain(after12)).map(label)).toEqual(['dropped(4:11-14)', ...range(15, 20)]);
    const after15 = source.subscribe('r1', { afterSeq: 15 });
    expect((await drain(after15)).map(label)).toEqual(range(16, 20));
    const after20 = source.subscribe('r1', { afterSeq: 20 });
    expect(await drain(after20)).toEqual([]);
    expect(after20.endReason).toBe('closed');
  });

  it('looks runs up: unknown without a stream, finished at or after the end marker, else available', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'open', 1, 5);
    await writeEvents(writer, prefix, 'done', 1, 5);
    await writeEnd(writer, prefix, 'done', 5);
    await writer.set(runKey(prefix, 'notastream'), 'x');
    const source = await open({ prefix });
    expect(await source.lookup('missing', 0)).toBe('unknown');
    expect(await source.lookup('missing', 3)).toBe('unknown');
    expect(await source.lookup('notastream', 0)).toBe('unknown');
    expect(await source.lookup('open', 0)).toBe('available');
    expect(await source.lookup('open', 5)).toBe('available');
    expect(await source.lookup('done', 0)).toBe('available');
    expect(await source.lookup('done', 4)).toBe('available');
    expect(await source.lookup('done', 5)).toBe('finished');
    expect(await source.lookup('done', 9)).toBe('finished');
  });

  it('ends with the end marker\'s reason only after the events queued before it', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 5);
    await writeEnd(writer, prefix, 'r1', 5, 'dropped');
    const source = await open({ prefix });
    const sub = source.subscribe('r1');
    await vi.waitFor(() => expect(sub.endReason).toBe('dropped'));
    expect(sub.queued).toBe(5);
    expect((await drain(sub)).map(label)).toEqual(range(1, 5));

    // And live: the marker arrives after the subscriber is reading live.
    await writeEvents(writer, prefix, 'r2', 1, 2);
    const live = source.subscribe('r2');
    expect((await take(live, 2)).map(label)).toEqual([1, 2]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await writeEvents(writer, prefix, 'r2', 3, 4);
    await writeEnd(writer, prefix, 'r2', 4, 'closed');
    await vi.waitFor(() => expect(live.endReason).toBe('closed'));
    expect((await drain(live)).map(label)).toEqual([3, 4]);
  });

  it('ends on signal abort and leaves the live read', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 3);
    const source = await open({ prefix });
    const abort = new AbortController();
    const sub = source.subscribe('r1', { signal: abort.signal });
    expect((await take(sub, 3)).map(label)).toEqual([1, 2, 3]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    const pending = sub.next();
    abort.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(sub.endReason).toBe('aborted');
    expect(source.stats()).toMatchObject({ subscribers: 0, runsFollowed: 0 });
    // An already aborted signal: ended at once, nothing read.
    const early = source.subscribe('r1', { signal: AbortSignal.abort() });
    expect(early.endReason).toBe('aborted');
    expect(await early.next()).toEqual({ value: undefined, done: true });
  });

  it('lets a slow live subscriber lose its oldest events (with one stream.dropped) without holding back the others', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 1);
    const source = await open({ prefix });
    const slow = source.subscribe('r1', { highWaterMark: 10 });
    const fast = source.subscribe('r1');
    expect((await take(slow, 1)).map(label)).toEqual([1]);
    expect((await take(fast, 1)).map(label)).toEqual([1]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await writeEvents(writer, prefix, 'r1', 2, 201);
    expect((await take(fast, 200)).map(label)).toEqual(range(2, 201));
    await vi.waitFor(() => expect(slow.queued).toBe(10));
    expect((await take(slow, 11)).map(label)).toEqual(['dropped(190:2-191)', ...range(192, 201)]);
    expect(slow.dropped).toBe(190);
  });

  it('skips and counts entries that are not agentbus entries, in history and live, and reports the seqs they held', async () => {
    const prefix = freshPrefix();
    const key = runKey(prefix, 'r1');
    const garbage = async (base: number) => {
      await writer.xAdd(key, `${base}-1`, { e: '{not json' });
      await writer.xAdd(key, `${base + 1}-1`, encodeEvent(ev('another-run', base + 1)));
      await writer.xAdd(key, `${base + 2}-1`, encodeEvent(ev('r1', base + 9)));
      await writer.xAdd(key, `${base + 3}-1`, { e: JSON.stringify(ev('r1', base + 3, 'demo.step', { big: 'x'.repeat(2 * 1024 * 1024) })) });
      await writer.xAdd(key, `${base + 3}-5`, encodeEvent(ev('r1', base + 3)));
      await writer.xAdd(key, `${base + 4}-1`, { unrelated: 'field' });
      await writer.xAdd(key, `${base + 4}-2`, { end: 'whenever' });
    };
    await writeEvents(writer, prefix, 'r1', 1, 1);
    await garbage(2); // seqs 2..6 hold garbage
    await writeEvents(writer, prefix, 'r1', 7, 7);
    const source = await open({ prefix });
    const sub = source.subscribe('r1');
    expect((await take(sub, 3)).map(label)).toEqual([1, 'dropped(5:2-6)', 7]);
    expect(source.stats().invalidEntries).toBe(7);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await garbage(8); // seqs 8..12, live
    await writeEvents(writer, prefix, 'r1', 13, 13);
    await writeEnd(writer, prefix, 'r1', 13);
    expect((await drain(sub)).map(label)).toEqual(['dropped(5:8-12)', 13]);
    expect(sub.endReason).toBe('closed');
    expect(source.stats().invalidEntries).toBe(14);
    expect(source.stats().errors).toBe(0);
  });

  it('keeps reading other runs when a followed key holds something that is not a stream', async () => {
    const prefix = freshPrefix();
    await writer.set(runKey(prefix, 'bad'), 'not a stream');
    await writeEvents(writer, prefix, 'good', 1, 1);
    const source = await open({ prefix, blockMs: 200 });
    const bad = source.subscribe('bad');
    const good = source.subscribe('good');
    expect((await take(good, 1)).map(label)).toEqual([1]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(2));
    await writeEvents(writer, prefix, 'good', 2, 3);
    expect((await take(good, 2, 10_000)).map(label)).toEqual([2, 3]);
    expect(bad.endReason).toBe(undefined);
    expect(bad.queued).toBe(0);
  });

  it('accepts a connected client of the user (any RESP, key prefix, type mapping), duplicates it for blocking reads and leaves it open on close', async () => {
    const prefix = freshPrefix();
    // RESP2, a key prefix and Buffers for strings: none of it may change what the source reads.
    const mine = createClient({ url: redis.url, RESP: 2, keyPrefix: 'app:', commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } });
    await mine.connect();
    try {
      const clientsBefore = (await writer.clientList()).length;
      await writeEvents(writer, `app:${prefix}`, 'r1', 1, 2);
      const source = await createRedisRunSource({ client: mine, prefix });
      expect((await writer.clientList()).length - clientsBefore).toBe(1);
      expect(await source.lookup('r1', 0)).toBe('available');
      const sub = source.subscribe('r1');
      expect((await take(sub, 2)).map(label)).toEqual([1, 2]);
      await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
      await writeEvents(writer, `app:${prefix}`, 'r1', 3, 3);
      expect((await take(sub, 1)).map(label)).toEqual([3]);
      expect(source.stats()).toMatchObject({ connected: true, invalidEntries: 0, errors: 0 });
      await source.close();
      expect(sub.endReason).toBe('aborted');
      expect(mine.isOpen).toBe(true);
      expect(String(await mine.ping())).toBe('PONG');
      await vi.waitFor(async () => expect((await writer.clientList()).length).toBe(clientsBefore));
    } finally {
      mine.destroy();
    }
  });

  it('refuses bad options with messages that name the fix', async () => {
    await expect(createRedisRunSource({})).rejects.toThrow(/pass either url .* or client/);
    await expect(createRedisRunSource({ url: redis.url, blockMs: 0 })).rejects.toThrow(/blockMs must be a positive integer, got 0/);
    await expect(createRedisRunSource({ client: createClient({ url: redis.url }) })).rejects.toThrow(/await client.connect\(\)/);
    await expect(createRedisRunSource({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(/cannot connect to Redis at redis:\/\/127.0.0.1:1/);
    const source = await open({ prefix: freshPrefix() });
    expect(() => source.subscribe('../x')).toThrow(TypeError);
    expect(() => source.subscribe('r1', { afterSeq: -1 })).toThrow(RangeError);
  });
});

describe('RedisRunSource: one blocking connection for every run', () => {
  it('serves 200 subscribers on 20 runs with at most 2 Redis connections, and each gets every live event', async () => {
    const prefix = freshPrefix();
    const clientsBefore = (await writer.clientList()).length;
    const source = await open({ prefix, blockMs: 30_000 });
    const runs = range(1, 20).map((i) => `run-${i}`);
    for (const runId of runs) await writeEvents(writer, prefix, runId, 1, 1);
    const subs = runs.flatMap((runId) => range(1, 10).map(() => source.subscribe(runId)));
    for (const sub of subs) expect((await take(sub, 1)).map(label)).toEqual([1]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(20));
    expect(source.stats().subscribers).toBe(200);
    expect((await writer.clientList()).length - clientsBefore).toBeLessThanOrEqual(2);
    const readsBefore = source.stats().reads;
    for (const runId of runs) await writeEvents(writer, prefix, runId, 2, 3);
    for (const sub of subs) expect((await take(sub, 2)).map(label)).toEqual([2, 3]);
    // 400 deliveries from at most one read per write (40), usually far fewer.
    expect(source.stats().reads - readsBefore).toBeLessThanOrEqual(41);
  });

  it('interrupts the blocked read for a new run: its first live event arrives long before blockMs', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'old', 1, 1);
    const source = await open({ prefix, blockMs: 30_000 });
    const old = source.subscribe('old');
    await take(old, 1);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    // Let the read block in Redis on the old run only.
    await new Promise((r) => setTimeout(r, 200));
    const fresh = source.subscribe('new');
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(2));
    const t0 = performance.now();
    await writeEvents(writer, prefix, 'new', 1, 1);
    expect((await take(fresh, 1, 5_000)).map(label)).toEqual([1]);
    expect(performance.now() - t0).toBeLessThan(3_000);
    // And a second subscriber of a run already followed, behind the cursor, gets its history and live.
    const again = source.subscribe('new');
    expect((await take(again, 1)).map(label)).toEqual([1]);
    await writeEvents(writer, prefix, 'new', 2, 2);
    expect((await take(again, 1, 5_000)).map(label)).toEqual([2]);
    expect((await take(fresh, 1, 5_000)).map(label)).toEqual([2]);
  });

  it('reads many runs in turns when they do not fit one XREAD, and misses nothing', async () => {
    const prefix = freshPrefix();
    const source = await open({ prefix, blockMs: 30_000, streamsPerRead: 3 });
    const runs = range(1, 10).map((i) => `run-${i}`);
    const subs = runs.map((runId) => source.subscribe(runId));
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(10));
    for (let round = 1; round <= 3; round++) {
      for (const runId of runs) await writeEvents(writer, prefix, runId, round, round);
    }
    for (const sub of subs) expect((await take(sub, 3)).map(label)).toEqual([1, 2, 3]);
  });
});

describe('RedisRunSource: all runs', () => {
  it('sees runs open when it subscribed (from then on) and runs started later (from their first event), not runs ended before', async () => {
    const prefix = freshPrefix();
    await writeIndex(writer, prefix, 'open', 'started');
    await writeEvents(writer, prefix, 'open', 1, 3);
    await writeIndex(writer, prefix, 'gone', 'started');
    await writeEvents(writer, prefix, 'gone', 1, 3);
    await writeEnd(writer, prefix, 'gone', 3);
    await writeIndex(writer, prefix, 'gone', 'ended');
    await writer.xAdd(indexKey(prefix), '*', { run: '../bad', state: 'started' });
    const source = await open({ prefix, blockMs: 30_000 });
    const all = source.subscribeAll();
    // The view is live once an event written now arrives.
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await writeEvents(writer, prefix, 'open', 4, 4);
    expect((await take(all, 1)).map((e) => `${e.runId}:${e.seq}`)).toEqual(['open:4']);
    await writeIndex(writer, prefix, 'later', 'started');
    await writeEvents(writer, prefix, 'later', 1, 3);
    await writeEvents(writer, prefix, 'open', 5, 5);
    const got = (await take(all, 4)).map((e) => `${e.runId}:${e.seq}`);
    expect(got.filter((l) => l.startsWith('later:'))).toEqual(['later:1', 'later:2', 'later:3']);
    expect(got).toContain('open:5');
    await writeEnd(writer, prefix, 'later', 3);
    await writeIndex(writer, prefix, 'later', 'ended');
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    expect(source.stats().invalidEntries).toBe(1);
    expect(all.queued).toBe(0);
    all.close();
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(0));
  });
});

describe('RedisRunSource behind the SSE handler', () => {
  it('is read by subscribeSse: history then live, then the end', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 50);
    const source = await open({ prefix });
    const { base } = await serve({ source, public: true });
    const seen: number[] = [];
    for await (const event of subscribeSse(`${base}/runs/r1/events`)) {
      seen.push(event.seq);
      if (event.seq === 50) {
        await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
        await writeEvents(writer, prefix, 'r1', 51, 80);
        await writeEnd(writer, prefix, 'r1', 80);
      }
    }
    expect(seen).toEqual(range(1, 80));
  });

  it('is read by the eventsource package: history, live, Last-Event-ID resume exactly after the last id, then event: end', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'r1', 1, 20);
    const source = await open({ prefix });
    const served = await serve({ source, public: true, retryMs: 20 });
    const es = new EventSource(`${served.base}/runs/r1/events`);
    eventSources.push(es);
    const ids: string[] = [];
    const ended = new Promise<string>((resolve, reject) => {
      es.addEventListener('demo.step', (message) => {
        const event = parseStreamEvent(JSON.parse(message.data));
        ids.push(message.lastEventId);
        expect(String(event.seq)).toBe(message.lastEventId);
        if (event.seq === 20) {
          void (async () => {
            // Live, then the connection is cut and entries arrive while the client is away.
            await writeEvents(writer, prefix, 'r1', 21, 30);
          })();
        }
        if (event.seq === 30 && served.requests.length === 1) {
          served.cut();
          void (async () => {
            await writeEvents(writer, prefix, 'r1', 31, 40);
            await writeEnd(writer, prefix, 'r1', 40);
          })();
        }
      });
      es.addEventListener('end', (message) => {
        es.close();
        resolve(message.data);
      });
      es.addEventListener('error', (error) => {
        if (es.readyState === EventSource.CLOSED) reject(new Error(`EventSource failed: ${error.message}`));
      });
    });
    expect(JSON.parse(await ended)).toEqual({ runId: 'r1', reason: 'closed' });
    expect(ids).toEqual(range(1, 40).map(String));
    expect(served.requests.length).toBe(2);
    expect(served.requests[1]?.['last-event-id']).toBe('30');
  });

  it('answers 404 for an unknown run and 204 to the reconnect of a finished run read to its end', async () => {
    const prefix = freshPrefix();
    await writeEvents(writer, prefix, 'done', 1, 3);
    await writeEnd(writer, prefix, 'done', 3);
    const source = await open({ prefix });
    const { base, requests } = await serve({ source, public: true, retryMs: 20 });
    const unknown = await fetch(`${base}/runs/nope/events`);
    expect(unknown.status).toBe(404);
    await unknown.body?.cancel();
    // A page that forgot close(): EventSource reconnects with Last-Event-ID 3, gets 204, stops.
    const es = new EventSource(`${base}/runs/done/events`);
    eventSources.push(es);
    const ids: string[] = [];
    es.addEventListener('demo.step', (message) => ids.push(message.lastEventId));
    await vi.waitFor(() => expect(es.readyState).toBe(EventSource.CLOSED), { timeout: 5_000 });
    expect(ids).toEqual(['1', '2', '3']);
    expect(requests.map((r) => r['last-event-id'])).toEqual([undefined, undefined, '3']);
  });
});

describe('RedisRunSource when Redis goes away', () => {
  let own: RedisServer;
  let ownWriter: Client;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    own = await startRedis();
    ownWriter = createClient({ url: own.url });
    ownWriter.on('error', () => {});
    await ownWriter.connect();
    process.on('unhandledRejection', onUnhandled);
  });
  // Each test kills the server: one that fails before its restart must not take the next one down too.
  beforeEach(async () => {
    if (own.pid !== undefined) return;
    await own.start();
    await vi.waitFor(() => expect(ownWriter.isReady).toBe(true), { timeout: 10_000 });
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    ownWriter?.destroy();
    await own?.stop();
  });

  it('keeps subscriptions open through a kill and restart, answers 503 meanwhile, and delivers what is written after', async () => {
    const prefix = freshPrefix();
    await writeIndex(ownWriter, prefix, 'r1', 'started');
    await writeEvents(ownWriter, prefix, 'r1', 1, 3);
    const source = await createRedisRunSource({ url: own.url, prefix, blockMs: 1_000 });
    sources.push(source);
    const { base } = await serve({ source, public: true });
    const sub = source.subscribe('r1');
    const all = source.subscribeAll();
    expect((await take(sub, 3)).map(label)).toEqual([1, 2, 3]);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await writeEvents(ownWriter, prefix, 'r1', 4, 4);
    expect((await take(sub, 1)).map(label)).toEqual([4]);
    expect((await take(all, 1)).map((e) => `${e.runId}:${e.seq}`)).toEqual(['r1:4']);

    await own.kill();
    await vi.waitFor(() => expect(source.stats().connected).toBe(false));
    await expect(source.lookup('r1', 0)).rejects.toThrow(/Redis is unreachable/);
    const down = await fetch(`${base}/runs/r1/events`);
    expect(down.status).toBe(503);
    expect(await down.text()).toMatch(/run source unavailable/);
    // A subscription made during the outage waits for Redis too.
    const during = source.subscribe('r1', { afterSeq: 4 });
    await new Promise((r) => setTimeout(r, 300));

    await own.start(); // empty, as a restarted cache without persistence is
    await vi.waitFor(() => expect(source.stats().connected).toBe(true), { timeout: 10_000 });
    await vi.waitFor(() => expect(ownWriter.isReady).toBe(true), { timeout: 10_000 });
    // The writer goes on after the outage: a gap marker for what it lost, then new events.
    await ownWriter.xAdd(runKey(prefix, 'r1'), gapEntryId(7), encodeGap(2, 5, 6));
    await writeEvents(ownWriter, prefix, 'r1', 7, 8);
    await writeIndex(ownWriter, prefix, 'r2', 'started');
    await writeEvents(ownWriter, prefix, 'r2', 1, 1);
    expect((await take(sub, 3, 10_000)).map(label)).toEqual(['dropped(2:5-6)', 7, 8]);
    expect((await take(during, 3, 10_000)).map(label)).toEqual(['dropped(2:5-6)', 7, 8]);
    const seenAll = (await take(all, 4, 10_000)).map((e) => (e.seq === 0 ? `${e.runId}:dropped` : `${e.runId}:${e.seq}`));
    expect(seenAll.sort()).toEqual(['r1:7', 'r1:8', 'r1:dropped', 'r2:1']);
    await writeEnd(ownWriter, prefix, 'r1', 8);
    expect(await drain(sub)).toEqual([]);
    expect(sub.endReason).toBe('closed');
    expect(source.stats().errors).toBeGreaterThan(0);
    expect(unhandled).toEqual([]);
  });

  it('says Redis is unreachable for a lookup, a listing and a request in flight when it dies, as for those made after', async () => {
    // Its two connections notice a dead server one after the other: a command may go out on
    // the one that has not noticed yet, and fail under it. CLIENT PAUSE holds the replies, so
    // the three are surely in flight when the server is killed.
    const prefix = freshPrefix();
    await writeIndex(ownWriter, prefix, 'r1', 'started');
    await writeEvents(ownWriter, prefix, 'r1', 1, 2);
    const source = await createRedisRunSource({ url: own.url, prefix });
    sources.push(source);
    const { base } = await serve({ source, public: true });
    expect(await source.lookup('r1', 0)).toBe('available');
    await ownWriter.sendCommand(['CLIENT', 'PAUSE', '20000', 'ALL']);
    const lookup = source.lookup('r1', 0);
    const listing = source.retainedRuns();
    const request = fetch(`${base}/runs/r1/events`);
    lookup.catch(() => {});
    listing.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    expect(source.stats().connected).toBe(true); // not failed early: in flight
    const errorsBefore = source.stats().errors;
    await own.kill();
    await expect(lookup).rejects.toThrow(/^agentbus\/redis: Redis is unreachable \(Socket closed unexpectedly\); retry later$/);
    await expect(listing).rejects.toThrow(/^agentbus\/redis: Redis is unreachable \(Socket closed unexpectedly\); retry later$/);
    const answer = await request;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await answer.text()).toMatch(/^run source unavailable: agentbus\/redis: Redis is unreachable \(Socket closed unexpectedly\); retry later/);
    expect(source.stats().errors).toBeGreaterThan(errorsBefore);
    // After: refused before anything is sent, with the same words.
    await vi.waitFor(() => expect(source.stats().connected).toBe(false));
    await expect(source.lookup('r1', 0)).rejects.toThrow(/^agentbus\/redis: Redis is unreachable \(/);
    await expect(source.retainedRuns()).rejects.toThrow(/^agentbus\/redis: Redis is unreachable \(/);
    expect(unhandled).toEqual([]);
  });

  it('closes within a bound while Redis is down, ending its subscriptions with reason aborted', async () => {
    const prefix = freshPrefix();
    await writeEvents(ownWriter, prefix, 'r1', 1, 1);
    const source = await createRedisRunSource({ url: own.url, prefix });
    const sub = source.subscribe('r1');
    await take(sub, 1);
    await vi.waitFor(() => expect(source.stats().runsFollowed).toBe(1));
    await own.kill();
    const t0 = performance.now();
    await source.close();
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(sub.endReason).toBe('aborted');
    expect(source.subscribe('r1').endReason).toBe('aborted');
    await expect(source.lookup('r1', 0)).rejects.toThrow(/closed/);
    await own.start();
    expect(unhandled).toEqual([]);
  });
});
