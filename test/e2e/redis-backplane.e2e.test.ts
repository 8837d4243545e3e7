// The writing half of agentbus/redis against a real redis-server (test/redis-harness.ts):
// what lands in Redis, read back with a separate node-redis client; what happens when
// Redis is killed, restarted empty, frozen, or refuses entries; and that publish never
// notices any of it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBus, emit, getEventBus, resetEventBus, runContext, traceTool, type StreamEvent } from '../../src/index.js';
import { attachRedisBackplane, type RedisBackplane, type RedisBackplaneOptions } from '../../src/redis/backplane.js';
import { createRedisRunSource } from '../../src/redis/source.js';
import { decodeRunEntry, endEntryId, eventEntryId, gapEntryId, indexKey, runKey } from '../../src/redis/wire.js';
import { createSseHandler } from '../../src/sse/index.js';
import { startRedis, type RedisServer } from '../redis-harness.js';
import { dataLines, openStream, serve } from '../sse-harness.js';

type Reader = Awaited<ReturnType<typeof openReader>>;
interface Entry {
  id: string;
  message: Record<string, string>;
}

let prefixes = 0;
/** A key prefix of its own for each test, so that tests sharing a server never see each other's keys. */
const freshPrefix = () => `t${process.pid}x${++prefixes}`;

function makeEvent(runId: string, eventType = 'demo.step', data: Record<string, unknown> = {}): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType, timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data };
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function openReader(url: string) {
  const reader = createClient({ url, socket: { reconnectStrategy: 100 } });
  reader.on('error', () => {});
  await reader.connect();
  return reader;
}

async function readStream(reader: Reader, key: string): Promise<Entry[]> {
  return (await reader.xRange(key, '-', '+')) as Entry[];
}

/** Entries of a run's stream decoded; throws on anything that is not ours. */
function decoded(runId: string, entries: Entry[]) {
  return entries.map((e) => {
    const entry = decodeRunEntry(runId, e.id, e.message);
    if (entry.kind === 'invalid') throw new Error(`entry ${e.id} did not decode: ${entry.error}`);
    return { id: e.id, entry };
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Backplanes made by a test, closed after it whatever happened.
const open: RedisBackplane[] = [];
async function attach(options: RedisBackplaneOptions): Promise<RedisBackplane> {
  const backplane = await attachRedisBackplane(options);
  open.push(backplane);
  return backplane;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close({ timeoutMs: 1_000 })));
});

describe('what a run looks like in Redis', () => {
  let redis: RedisServer;
  let reader: Reader;
  beforeAll(async () => {
    redis = await startRedis();
    reader = await openReader(redis.url);
  });
  afterAll(async () => {
    await reader?.quit();
    await redis?.stop();
    resetEventBus();
  });

  it('a run is written to {prefix}:run:{runId} as seq-1 ids in order, then an end marker with the closed TTL, and is listed in the index as started and ended', async () => {
    resetEventBus();
    const prefix = freshPrefix();
    // No bus given: the process-wide one, which runContext publishes on.
    const backplane = await attach({ url: redis.url, prefix, closedTtlSeconds: 120 });
    const runId = 'run-written';
    const before = Date.now();
    await runContext(
      async () => {
        for (let i = 0; i < 5; i++) emit('demo.step', { i });
        await new Promise((r) => setTimeout(r, 5));
        emit('demo.done', { ok: true });
      },
      { runId },
    );
    expect(await backplane.flush()).toBe(true);
    const published = getEventBus().history(runId);
    expect(published.length).toBe(8); // run.started, 6 emitted, run.completed
    const entries = await readStream(reader, runKey(prefix, runId));
    expect(entries.map((e) => e.id)).toEqual([...published.map((e) => eventEntryId(e.seq)), endEntryId(8)]);
    const read = decoded(runId, entries);
    // Every event exactly as the bus holds it (JSON round trip: undefined fields vanish).
    expect(read.slice(0, 8).map((d) => d.entry)).toEqual(published.map((event) => ({ kind: 'event', event: JSON.parse(JSON.stringify(event)) })));
    expect(read.at(-2)!.entry).toMatchObject({ kind: 'event', event: { eventType: 'run.completed', seq: 8 } });
    expect(read.at(-1)!.entry).toEqual({ kind: 'end', reason: 'closed' });
    const ttl = await reader.ttl(runKey(prefix, runId));
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    const index = await readStream(reader, indexKey(prefix));
    expect(index.map((e) => [e.message.run, e.message.state])).toEqual([
      [runId, 'started'],
      [runId, 'ended'],
    ]);
    for (const e of index) {
      expect(e.message.at).toMatch(/^\d+$/);
      expect(Number(e.message.at)).toBeGreaterThanOrEqual(Math.floor(before));
      expect(Number(e.message.at)).toBeLessThanOrEqual(Date.now());
    }
    expect(backplane.stats()).toMatchObject({ written: 8, dropped: 0, queued: 0, gaps: 0, errors: 0, connected: true });
  });

  it('with no run open, an attached backplane sends Redis nothing: agent code outside runContext writes no key and no command', async () => {
    resetEventBus();
    const prefix = freshPrefix();
    const commands = async () => {
      const info = await reader.info('commandstats');
      // Every command this test's reader sends counts too: take what the writer could send.
      return [...info.matchAll(/^cmdstat_(xadd|expire|xtrim|pexpire|set|del):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[2]), 0);
    };
    const before = await commands();
    const backplane = await attach({ url: redis.url, prefix });
    // Emission sites outside any run: the idle path returns before the bus.
    for (let i = 0; i < 1_000; i++) emit('demo.step', { i });
    await traceTool({ name: 'add', args: { a: 1 } }, () => 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await backplane.flush()).toBe(true);
    expect(backplane.stats()).toMatchObject({ written: 0, queued: 0, batches: 0 });
    expect(await reader.keys(`${prefix}:*`)).toEqual([]);
    expect(await commands()).toBe(before);
  });

  it('an open run\'s stream carries the open TTL, set again by every batch that writes to it', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus, openTtlSeconds: 1_000 });
    bus.publish(makeEvent('open-run'));
    await backplane.flush();
    const key = runKey(prefix, 'open-run');
    expect(await reader.ttl(key)).toBeGreaterThan(990);
    await reader.expire(key, 50);
    bus.publish(makeEvent('open-run'));
    await backplane.flush();
    expect(await reader.ttl(key)).toBeGreaterThan(990);
    expect(await reader.xLen(key)).toBe(2);
  });

  it('MAXLEN ~ historySize keeps about historySize entries of a long run, the newest', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus, historySize: 100 });
    for (let i = 0; i < 2_000; i++) {
      bus.publish(makeEvent('long-run', 'demo.step', { i }));
      if (i % 300 === 0) await backplane.flush();
    }
    expect(await backplane.flush()).toBe(true);
    const key = runKey(prefix, 'long-run');
    const length = await reader.xLen(key);
    // `~` trims whole radix-tree nodes (100 entries each by default): at least the cap, at most about a node more.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(250);
    const newest = (await reader.xRevRange(key, '+', '-', { COUNT: 1 })) as Entry[];
    expect(newest[0]!.id).toBe(eventEntryId(2_000));
    expect(backplane.stats().written).toBe(2_000);
  });

  it('dropHistory empties the stream in Redis too, leaving only an end=dropped marker that expires; eviction changes nothing in Redis', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus({ maxRuns: 2 });
    const backplane = await attach({ url: redis.url, prefix, bus, closedTtlSeconds: 60, openTtlSeconds: 5_000 });
    for (let i = 0; i < 10; i++) bus.publish(makeEvent('forget-me'));
    await backplane.flush();
    expect(await reader.xLen(runKey(prefix, 'forget-me'))).toBe(10);
    bus.dropHistory('forget-me');
    await backplane.flush();
    const entries = await readStream(reader, runKey(prefix, 'forget-me'));
    expect(entries.map((e) => e.id)).toEqual([endEntryId(10)]);
    expect(decoded('forget-me', entries)[0]!.entry).toEqual({ kind: 'end', reason: 'dropped' });
    expect(await reader.ttl(runKey(prefix, 'forget-me'))).toBeLessThanOrEqual(60);

    // Local retention (maxRuns 2) evicts 'evicted-locally' when a third run appears: Redis keeps it as it was.
    for (let i = 0; i < 3; i++) bus.publish(makeEvent('evicted-locally'));
    bus.publish(makeEvent('second'));
    bus.publish(makeEvent('third'));
    expect(bus.hasRun('evicted-locally')).toBe(false);
    await backplane.flush();
    const kept = await readStream(reader, runKey(prefix, 'evicted-locally'));
    expect(kept.map((e) => e.id)).toEqual(range(1, 3).map(eventEntryId));
    expect(await reader.ttl(runKey(prefix, 'evicted-locally'))).toBeGreaterThan(4_000);
    const index = await readStream(reader, indexKey(prefix));
    expect(index.map((e) => [e.message.run, e.message.state])).toEqual([['forget-me', 'ended']]);
  });

  it('run ids of 128 characters, or with ":" and ".", are written under keys with the id as it is', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus });
    const ids = ['r'.repeat(128), 'tenant:42.run.7', 'a:b:c', '..x', 'run-_.:-'];
    for (let i = 0; i < 3; i++) for (const id of ids) bus.publish(makeEvent(id, 'demo.step', { i }));
    for (const id of ids) bus.closeStream(id);
    await backplane.flush();
    for (const id of ids) {
      const entries = await readStream(reader, `${prefix}:run:${id}`);
      expect(entries.map((e) => e.id)).toEqual([...range(1, 3).map(eventEntryId), endEntryId(3)]);
      expect(decoded(id, entries).map((d) => d.entry.kind)).toEqual(['event', 'event', 'event', 'end']);
    }
  });

  it('1,000 runs at once, interleaved: every stream complete and in order, every run in the index', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus({ maxRuns: 2_000 });
    const backplane = await attach({ url: redis.url, prefix, bus });
    const runs = range(1, 1_000).map((i) => `many-${i}`);
    for (const runId of runs) bus.publish(makeEvent(runId, 'run.started'));
    for (let step = 0; step < 4; step++) for (const runId of runs) bus.publish(makeEvent(runId, 'demo.step', { step }));
    for (const runId of runs) bus.publish(makeEvent(runId, 'run.completed', { status: 'ok', durationMs: 1 }));
    for (const runId of runs) bus.closeStream(runId);
    expect(await backplane.flush({ timeoutMs: 20_000 })).toBe(true);
    expect(backplane.stats()).toMatchObject({ written: 6_000, dropped: 0, errors: 0 });
    expect(backplane.stats().batches).toBeGreaterThan(10); // bounded batches, not one giant pipeline
    const pipeline = reader.multi();
    for (const runId of runs) pipeline.xRange(runKey(prefix, runId), '-', '+');
    const all = (await pipeline.exec()) as unknown as Entry[][];
    all.forEach((entries, i) => {
      expect(entries.map((e) => e.id), runs[i]).toEqual([...range(1, 6).map(eventEntryId), endEntryId(6)]);
    });
    const index = await readStream(reader, indexKey(prefix));
    expect(index.filter((e) => e.message.state === 'started').map((e) => e.message.run).sort()).toEqual([...runs].sort());
    expect(index.filter((e) => e.message.state === 'ended').length).toBe(1_000);
  });

  it('an event whose payload is at the bus\'s size bound is written whole, as the bus holds it', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus({ maxEventBytes: 64 * 1024 });
    const backplane = await attach({ url: redis.url, prefix, bus });
    const big = { text: 'y'.repeat(64 * 1024 - 20) }; // just under the bound: kept as it is
    const over = { text: 'z'.repeat(200 * 1024) }; // over it: the bus cuts it, Redis gets the cut copy
    bus.publish(makeEvent('big-run', 'demo.big', big));
    bus.publish(makeEvent('big-run', 'demo.over', over));
    await backplane.flush();
    const read = decoded('big-run', await readStream(reader, runKey(prefix, 'big-run')));
    const held = bus.history('big-run');
    expect(read.map((d) => (d.entry as { event: StreamEvent }).event.data)).toEqual(held.map((e) => e.data));
    expect((held[0]!.data as { text: string }).text.length).toBe(64 * 1024 - 20);
    expect(JSON.stringify(held[1]!.data).length).toBeLessThanOrEqual(64 * 1024);
  });

  it('an event reaches Redis as the very bytes an SSE connection on the writing instance got, and another instance serves those bytes from Redis', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus });
    const runId = 'same-bytes';
    bus.publish(makeEvent(runId, 'run.started'));
    const served = await serve({ bus, public: true });
    const local = await openStream(`${served.base}/runs/${runId}/events`);
    // A field that says which read it is: a second serialization would show.
    let reads = 0;
    const counting = {};
    Object.defineProperty(counting, 'read', { enumerable: true, get: () => `read ${++reads}` });
    bus.publish(makeEvent(runId, 'demo.counted', counting));
    bus.publish(makeEvent(runId, 'demo.plain', { text: 'ü and 😀', n: 1.5, list: [true, null] }));
    // Plain, sized by the bus at 200,002 characters; its JSON is six times that, and is cut.
    bus.publish(makeEvent(runId, 'demo.escapes', { text: '\u0001'.repeat(200_000) }));
    bus.publish(makeEvent(runId, 'demo.surrogates', { lone: 'a\ud800b', low: '\udc00' }));
    // What a user may hand to bus.publish beside the envelope: not part of the event's JSON.
    bus.publish(Object.assign(makeEvent(runId, 'demo.extra', { ok: 1 }), { extra: 10n }));
    bus.publish(Object.assign(makeEvent(runId, 'demo.tojson', { ok: 2 }), { toJSON: () => ({ hijacked: true }) }));
    bus.closeStream(runId);
    expect(await backplane.flush()).toBe(true);
    const sent = dataLines(await local.text);
    expect(sent).toHaveLength(7);
    expect(JSON.parse(sent[1]!).data).toEqual({ read: 'read 2' });

    const entries = await readStream(reader, runKey(prefix, runId));
    expect(entries.map((e) => e.id)).toEqual([...range(1, 7).map(eventEntryId), endEntryId(7)]);
    expect(entries.slice(0, 7).map((e) => e.message.e)).toEqual(sent);
    expect(reads).toBe(2);
    expect(backplane.stats()).toMatchObject({ written: 7, dropped: 0, errors: 0 });

    // Another instance: an SSE handler reading the run from Redis.
    const source = await createRedisRunSource({ url: redis.url, prefix });
    try {
      const handler = createSseHandler({ source, public: true });
      const fromRedis = await (await handler(new Request(`http://b.test/runs/${runId}/events`))).text();
      expect(dataLines(fromRedis)).toEqual(sent);
    } finally {
      await source.close();
    }
  });

  it('a reused run id whose stream already has higher ids: Redis refuses those entries, they are counted and reported, and the other runs of the same batches are written', async () => {
    const prefix = freshPrefix();
    // Another process's run with the same id, further along.
    await reader.xAdd(runKey(prefix, 'reused'), '1000000-1', { e: '{}' });
    const bus = new EventBus();
    const errors: Error[] = [];
    const backplane = await attach({ url: redis.url, prefix, bus, onError: (error) => errors.push(error) });
    for (let i = 0; i < 10; i++) {
      bus.publish(makeEvent('reused', 'demo.step', { i }));
      bus.publish(makeEvent('fine', 'demo.step', { i }));
    }
    expect(await backplane.flush()).toBe(true);
    const stats = backplane.stats();
    expect(stats.written).toBe(10);
    expect(stats.dropped).toBe(10);
    expect(stats.errors).toBeGreaterThanOrEqual(10);
    expect(errors.some((e) => /refused 10 entries of run reused/.test(e.message) && /equal or smaller/.test(e.message))).toBe(true);
    expect((await readStream(reader, runKey(prefix, 'fine'))).map((e) => e.id)).toEqual(range(1, 10).map(eventEntryId));
    expect((await readStream(reader, runKey(prefix, 'reused'))).map((e) => e.id)).toEqual(['1000000-1']);
    // The writer goes on: later events of other runs are written as usual.
    bus.publish(makeEvent('later'));
    expect(await backplane.flush()).toBe(true);
    expect(await reader.xLen(runKey(prefix, 'later'))).toBe(1);
  });

  it('refuses bad options with the field and the fix, before loading or connecting anything', async () => {
    await expect(attachRedisBackplane({})).rejects.toThrow(/exactly one of url .* and client .*, got neither/);
    await expect(attachRedisBackplane({ url: redis.url, client: reader as never })).rejects.toThrow(/got both/);
    await expect(attachRedisBackplane({ url: 'http://x' })).rejects.toThrow(/url must be a string starting with redis:\/\//);
    await expect(attachRedisBackplane({ url: redis.url, outboxSize: 0 })).rejects.toThrow('attachRedisBackplane: outboxSize must be a positive integer, got 0');
    await expect(attachRedisBackplane({ url: redis.url, prefix: '' })).rejects.toThrow(/prefix must be a non-empty string/);
    await expect(attachRedisBackplane({ client: {} as never })).rejects.toThrow(/client must be a node-redis v6 client .* it has no sendCommand/);
    const closed = createClient({ url: redis.url });
    await expect(attachRedisBackplane({ client: closed })).rejects.toThrow(/await client.connect\(\) first/);
  });

  it('refuses counts past Number.MAX_SAFE_INTEGER and delays past 2^31-1 ms up front, rather than failing in Redis or in a timer later', async () => {
    const max = `must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER), got`;
    const late = 'must be at most 2147483647 ms (2^31-1, the longest delay timers accept; Node fires a longer one after 1 ms), got';
    // 1e21 would go out as "MAXLEN ~ 1e+21" and Redis would refuse every entry.
    await expect(attachRedisBackplane({ url: redis.url, historySize: 1e21 })).rejects.toThrow(new RangeError(`attachRedisBackplane: historySize ${max} 1e+21`));
    await expect(attachRedisBackplane({ url: redis.url, outboxSize: 2 ** 53 })).rejects.toThrow(`attachRedisBackplane: outboxSize ${max} 9007199254740992`);
    await expect(attachRedisBackplane({ url: redis.url, closedTtlSeconds: 1e300 })).rejects.toThrow(`attachRedisBackplane: closedTtlSeconds ${max} 1e+300`);
    await expect(attachRedisBackplane({ url: redis.url, openTtlSeconds: 1e16 })).rejects.toThrow(`attachRedisBackplane: openTtlSeconds ${max} 10000000000000000`);
    await expect(attachRedisBackplane({ url: redis.url, maxTrackedRuns: 1e21 })).rejects.toThrow(`attachRedisBackplane: maxTrackedRuns ${max} 1e+21`);
    await expect(attachRedisBackplane({ url: redis.url, historySize: '5' as never })).rejects.toThrow('attachRedisBackplane: historySize must be a positive integer, got "5"');
    // 2^31 ms would overflow Node's timer: a wait of 1 ms and a TimeoutOverflowWarning.
    await expect(attachRedisBackplane({ url: redis.url, connectTimeoutMs: 2 ** 31 })).rejects.toThrow(new RangeError(`attachRedisBackplane: connectTimeoutMs ${late} 2147483648`));
    await expect(attachRedisBackplane({ url: redis.url, connectTimeoutMs: 0 })).rejects.toThrow('attachRedisBackplane: connectTimeoutMs must be a positive integer, got 0');
    // The reading side: blockMs is XREAD BLOCK's delay ("1e+300" would fail every read).
    await expect(createRedisRunSource({ url: redis.url, blockMs: 1e300 })).rejects.toThrow(new RangeError(`createRedisRunSource: blockMs ${late} 1e+300`));
    await expect(createRedisRunSource({ url: redis.url, blockMs: 2 ** 31 })).rejects.toThrow(`createRedisRunSource: blockMs ${late} 2147483648`);
    await expect(createRedisRunSource({ url: redis.url, highWaterMark: 1e21 })).rejects.toThrow(`createRedisRunSource: highWaterMark ${max} 1e+21`);
    await expect(createRedisRunSource({ url: redis.url, maxEntrySize: 2 ** 53 })).rejects.toThrow(`createRedisRunSource: maxEntrySize ${max} 9007199254740992`);
    await expect(createRedisRunSource({ url: redis.url, streamsPerRead: 1e21 })).rejects.toThrow(`createRedisRunSource: streamsPerRead ${max} 1e+21`);
  });

  it('takes the largest bounds as Redis does: historySize and TTLs of Number.MAX_SAFE_INTEGER, connectTimeoutMs and blockMs of 2^31-1 ms', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const errors: Error[] = [];
    const backplane = await attach({
      url: redis.url,
      prefix,
      bus,
      historySize: Number.MAX_SAFE_INTEGER,
      openTtlSeconds: Number.MAX_SAFE_INTEGER,
      closedTtlSeconds: Number.MAX_SAFE_INTEGER,
      connectTimeoutMs: 2 ** 31 - 1,
      onError: (error) => errors.push(error),
    });
    await runContext(() => emit('demo.step', { n: 1 }), { bus, runId: 'bounds' });
    expect(await backplane.flush()).toBe(true);
    expect(backplane.stats()).toMatchObject({ written: 3, dropped: 0, errors: 0 });
    expect(errors).toEqual([]);
    // Three events and the end marker, which set the closed TTL: Redis took the largest one.
    expect(await reader.xLen(runKey(prefix, 'bounds'))).toBe(4);
    expect(await reader.ttl(runKey(prefix, 'bounds'))).toBeGreaterThan(Number.MAX_SAFE_INTEGER - 60);
    const source = await createRedisRunSource({ url: redis.url, prefix, blockMs: 2 ** 31 - 1 });
    await source.close();
  });
  it('a listener added before the backplane that emits while it is called: every entry written, in seq order, nothing refused', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    // It runs before the backplane's listener: its event N+1 used to reach the backplane before N,
    // and Redis then refused N (an XADD id at or below the stream's top), with no gap marker.
    bus.addListener({
      onEvent(e) {
        if (e.eventType === 'app.order') emit('app.audit', { of: e.seq });
      },
    });
    const errors: Error[] = [];
    const backplane = await attach({ url: redis.url, prefix, bus, onError: (error) => errors.push(error) });
    await runContext(
      async () => {
        emit('app.order', {});
        emit('app.other', {});
      },
      { bus, runId: 'reentrant' },
    );
    expect(await backplane.flush()).toBe(true);
    const entries = decoded('reentrant', await readStream(reader, runKey(prefix, 'reentrant')));
    expect(entries.map((d) => (d.entry.kind === 'event' ? `${d.entry.event.seq}:${d.entry.event.eventType}` : d.entry.kind))).toEqual([
      '1:run.started',
      '2:app.order',
      '3:app.audit',
      '4:app.other',
      '5:run.completed',
      'end',
    ]);
    expect(backplane.stats()).toMatchObject({ dropped: 0, errors: 0, gaps: 0 });
    expect(errors).toEqual([]);
  });
});

describe('when Redis goes away', () => {
  let redis: RedisServer;
  let reader: Reader;
  beforeAll(async () => {
    redis = await startRedis();
    reader = await openReader(redis.url);
  });
  afterAll(async () => {
    // Not quit(): node-redis's quit() waits forever on a client that is reconnecting.
    reader?.destroy();
    await redis?.stop();
  });
  // Each test leaves Redis up, as it found it.
  afterEach(async () => {
    if (redis.pid === undefined) await redis.start();
  });

  it('publish stays synchronous with Redis down: thousands of events, no throw, the outbox keeps the newest outboxSize, dropped counts exactly the rest, memory stays bounded', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heapMiB = () => {
      gc();
      return process.memoryUsage().heapUsed / 2 ** 20;
    };
    const prefix = freshPrefix();
    // A small history, so that what the bus itself keeps is negligible.
    const bus = new EventBus({ historySize: 4 });
    const errors: Error[] = [];
    const backplane = await attach({ url: redis.url, prefix, bus, outboxSize: 1_000, onError: (e) => errors.push(e) });
    await redis.kill();
    await waitFor(() => !backplane.stats().connected, 'the client to notice');
    const baseline = heapMiB();
    const payload = 'p'.repeat(1_000);
    let total = 0;
    let worstBatchMs = 0;
    for (let round = 0; round < 40; round++) {
      const t0 = performance.now();
      for (let i = 0; i < 5_000; i++) {
        const returned: unknown = bus.publish(makeEvent(`down-${i % 50}`, 'demo.step', { payload, i }));
        if (returned !== undefined) throw new Error('publish returned something');
        total++;
      }
      worstBatchMs = Math.max(worstBatchMs, performance.now() - t0);
      // Let the writer run: it must not send anything, nor queue commands in node-redis.
      await new Promise((r) => setImmediate(r));
    }
    const grown = heapMiB() - baseline;
    expect(total).toBe(200_000);
    expect(backplane.stats()).toMatchObject({ queued: 1_000, dropped: total - 1_000, written: 0, connected: false });
    // 200,000 events of ~1 KB kept would be ~200 MiB; the outbox holds 1,000.
    expect(grown).toBeLessThan(24);
    expect(worstBatchMs / 5_000).toBeLessThan(0.1); // ms per publish, 5,000 at a time: never waited on anything
    expect(errors.some((e) => /Redis is unreachable/.test(e.message))).toBe(true);
    // flush does not hang on a dead Redis; close is bounded and counts what it never wrote.
    const t0 = Date.now();
    expect(await backplane.flush()).toBe(false);
    await backplane.close({ timeoutMs: 500 });
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(backplane.stats()).toMatchObject({ queued: 0, dropped: total, written: 0 });
  });

  it('attached while Redis is down, it returns at once and writes what waited once Redis is up, with nothing lost', async () => {
    await redis.kill();
    const prefix = freshPrefix();
    const bus = new EventBus();
    const t0 = Date.now();
    const backplane = await attach({ url: redis.url, prefix, bus, onError: () => {} });
    expect(Date.now() - t0).toBeLessThan(3_000);
    for (let i = 0; i < 20; i++) bus.publish(makeEvent('early'));
    await redis.start();
    await waitFor(() => backplane.stats().connected, 'the reconnection');
    expect(await backplane.flush()).toBe(true);
    const fresh = await openReader(redis.url);
    try {
      expect((await readStream(fresh, runKey(prefix, 'early'))).map((e) => e.id)).toEqual(range(1, 20).map(eventEntryId));
    } finally {
      await fresh.quit();
    }
    expect(backplane.stats()).toMatchObject({ written: 20, dropped: 0, gaps: 0 });
  });

  it('killed mid-run and started again empty: later events arrive behind a gap marker covering exactly the lost seqs, no id twice', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus, outboxSize: 100, onError: () => {} });
    for (let i = 0; i < 50; i++) bus.publish(makeEvent('restarted'));
    expect(await backplane.flush()).toBe(true);
    await redis.kill();
    await waitFor(() => !backplane.stats().connected, 'the client to notice');
    for (let i = 0; i < 300; i++) bus.publish(makeEvent('restarted')); // seqs 51..350: the outbox keeps 251..350
    expect(backplane.stats()).toMatchObject({ dropped: 200, queued: 100 });
    await redis.start();
    await waitFor(() => backplane.stats().connected, 'the reconnection');
    for (let i = 0; i < 10; i++) bus.publish(makeEvent('restarted')); // 351..360
    expect(await backplane.flush()).toBe(true);
    const fresh = await openReader(redis.url);
    let entries: Entry[];
    try {
      entries = await readStream(fresh, runKey(prefix, 'restarted'));
    } finally {
      await fresh.quit();
    }
    expect(entries.map((e) => e.id)).toEqual([gapEntryId(251), ...range(251, 360).map(eventEntryId)]);
    const read = decoded('restarted', entries);
    expect(read[0]!.entry).toMatchObject({ kind: 'event', event: { eventType: 'stream.dropped', data: { count: 200, fromSeq: 51, toSeq: 250 } } });
    expect(backplane.stats()).toMatchObject({ written: 160, dropped: 200, gaps: 1, queued: 0 });
  });

  it('killed while batches are in flight: in the restarted stream every gap marker fills exactly the hole before the next event, and dropped equals what the markers announce', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    // A cap far above what is written, so that every marker stays in the stream to be checked.
    const backplane = await attach({ url: redis.url, prefix, bus, outboxSize: 5_000, historySize: 1_000_000, onError: () => {} });
    const runs = ['busy-a', 'busy-b', 'busy-c'];
    let publishing = true;
    let published = 0;
    // A steady writer, 3 runs, 60 events a millisecond or so, with Redis killed under it.
    const writer = (async () => {
      while (publishing) {
        for (let i = 0; i < 20; i++) for (const runId of runs) bus.publish(makeEvent(runId, 'demo.step', { i, pad: 'x'.repeat(200) }));
        published += 60;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    try {
      await waitFor(() => backplane.stats().written > 3_000, 'some writes before the kill');
      await redis.kill();
      await new Promise((r) => setTimeout(r, 200));
      await redis.start();
      await waitFor(() => backplane.stats().connected, 'the reconnection');
      const atRestart = backplane.stats().written;
      await waitFor(() => backplane.stats().written > atRestart + 3_000, 'writes after the restart', 15_000);
    } finally {
      publishing = false;
      await writer;
    }
    expect(await backplane.flush({ timeoutMs: 20_000 })).toBe(true);
    const stats = backplane.stats();
    expect(stats.written + stats.dropped).toBe(published);
    expect(stats.dropped).toBeGreaterThan(0);
    const fresh = await openReader(redis.url);
    let announced = 0;
    try {
      for (const runId of runs) {
        const entries = await readStream(fresh, runKey(prefix, runId));
        expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
        const read = decoded(runId, entries).map((d) => (d.entry as { event: StreamEvent }).event);
        let previous: number | undefined;
        for (let i = 0; i < read.length; i++) {
          const event = read[i]!;
          if (event.eventType === 'stream.dropped') {
            const gap = event.data as { count: number; fromSeq: number; toSeq: number };
            announced += gap.count;
            expect(gap.count).toBe(gap.toSeq - gap.fromSeq + 1);
            if (previous !== undefined) expect(gap.fromSeq).toBe(previous + 1);
            expect(read[i + 1]!.seq).toBe(gap.toSeq + 1); // and the marker's id is that event's seq-0
            expect(entries[i]!.id).toBe(gapEntryId(gap.toSeq + 1));
            previous = gap.toSeq;
          } else {
            if (previous !== undefined) expect(event.seq, `${runId}: no silent hole before seq ${event.seq}`).toBe(previous + 1);
            previous = event.seq;
          }
        }
        expect(previous).toBe(bus.history(runId).at(-1)!.seq);
      }
    } finally {
      await fresh.quit();
    }
    // Everything lost after the restart's first write is announced; what was lost earlier is
    // announced by the first marker of each stream (Redis came back empty, so nothing before it remains).
    expect(announced).toBe(stats.dropped);
  });

  it('a run closed while its last batch is cut: after the restart its stream gets a gap marker for those events, then its end marker and TTL', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus, closedTtlSeconds: 100, onError: () => {} });
    for (let i = 0; i < 5; i++) bus.publish(makeEvent('cut-end'));
    expect(await backplane.flush()).toBe(true);
    // Frozen, the server takes the batch (events 6..10 and the end) and never answers; killed, the batch fails.
    process.kill(redis.pid!, 'SIGSTOP');
    for (let i = 0; i < 5; i++) bus.publish(makeEvent('cut-end'));
    bus.closeStream('cut-end');
    await new Promise((r) => setTimeout(r, 50));
    expect(backplane.stats().queued).toBe(0); // in flight
    await redis.kill();
    await waitFor(() => backplane.stats().dropped === 5, 'the cut batch to be counted');
    await redis.start();
    await waitFor(() => backplane.stats().connected, 'the reconnection');
    expect(await backplane.flush()).toBe(true);
    const fresh = await openReader(redis.url);
    try {
      const entries = await readStream(fresh, runKey(prefix, 'cut-end'));
      expect(entries.map((e) => e.id)).toEqual([gapEntryId(10), endEntryId(10)]);
      const read = decoded('cut-end', entries);
      expect(read[0]!.entry).toMatchObject({ kind: 'event', event: { eventType: 'stream.dropped', data: { count: 5, fromSeq: 6, toSeq: 10 } } });
      expect(read[1]!.entry).toEqual({ kind: 'end', reason: 'closed' });
      expect(await fresh.ttl(runKey(prefix, 'cut-end'))).toBeLessThanOrEqual(100);
      const index = await readStream(fresh, indexKey(prefix));
      expect(index.map((e) => [e.message.run, e.message.state])).toEqual([['cut-end', 'ended']]);
    } finally {
      await fresh.quit();
    }
  });

  it('bookkeeping stays bounded in an outage with many runs: past maxTrackedRuns the oldest losses and ends are given up, reported, and counted', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus({ maxRuns: 1_000, historySize: 2 });
    const errors: Error[] = [];
    const backplane = await attach({ url: redis.url, prefix, bus, outboxSize: 10, maxTrackedRuns: 20, onError: (e) => errors.push(e) });
    await redis.kill();
    await waitFor(() => !backplane.stats().connected, 'the client to notice');
    const runs = range(1, 200).map((i) => `many-lost-${i}`);
    for (const runId of runs) {
      for (let i = 0; i < 3; i++) bus.publish(makeEvent(runId));
      bus.closeStream(runId);
    }
    const stats = backplane.stats();
    expect(stats).toMatchObject({ queued: 10, dropped: 590 });
    // 180 runs forgot their loss (the ledger keeps 20) and 180 end markers were given up (20 wait).
    expect(errors.filter((e) => /forgot that run many-lost-\d+ lost \d+ events/.test(e.message)).length).toBeGreaterThanOrEqual(170);
    expect(errors.filter((e) => /gave up the end marker of run many-lost-\d+/.test(e.message)).length).toBe(180);
    expect(stats.errors).toBeGreaterThanOrEqual(350);
    await redis.start();
    await waitFor(() => backplane.stats().connected, 'the reconnection');
    expect(await backplane.flush()).toBe(true);
    // The last runs, still tracked, end properly. The outbox kept the last 10 events: seq 3 of
    // run 197 (its 1 and 2 announced by a gap marker), then all of 198, 199 and 200.
    const fresh = await openReader(redis.url);
    try {
      const partly = await readStream(fresh, runKey(prefix, 'many-lost-197'));
      expect(partly.map((e) => e.id)).toEqual([gapEntryId(3), eventEntryId(3), endEntryId(3)]);
      expect(decoded('many-lost-197', partly)[0]!.entry).toMatchObject({ event: { eventType: 'stream.dropped', data: { count: 2, fromSeq: 1, toSeq: 2 } } });
      const whole = await readStream(fresh, runKey(prefix, 'many-lost-200'));
      expect(whole.map((e) => e.id)).toEqual([...range(1, 3).map(eventEntryId), endEntryId(3)]);
    } finally {
      await fresh.quit();
    }
  });

  it('frozen Redis (connected, never answering): publish goes on, flush and close return within their timeouts, and what was in flight counts as dropped', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attach({ url: redis.url, prefix, bus, outboxSize: 100, onError: () => {} });
    bus.publish(makeEvent('frozen'));
    expect(await backplane.flush()).toBe(true);
    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 1_000; i++) bus.publish(makeEvent('frozen'));
      let t0 = Date.now();
      expect(await backplane.flush({ timeoutMs: 300 })).toBe(false);
      expect(Date.now() - t0).toBeLessThan(1_000);
      t0 = Date.now();
      await backplane.close({ timeoutMs: 300 });
      expect(Date.now() - t0).toBeLessThan(1_000);
      const stats = backplane.stats();
      expect(stats.written + stats.dropped).toBe(1_001);
      expect(stats.written).toBe(1);
      expect(stats.queued).toBe(0);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('a client of yours with no error listener gets one (so a lost connection does not crash the process), removed on close; the client stays open', async () => {
    const client = createClient({ url: redis.url, socket: { reconnectStrategy: 50 } });
    await client.connect();
    expect(client.listenerCount('error')).toBe(0);
    const prefix = freshPrefix();
    const bus = new EventBus();
    const errors: Error[] = [];
    const backplane = await attach({ client, prefix, bus, onError: (e) => errors.push(e) });
    expect(client.listenerCount('error')).toBe(1);
    // node-redis emits 'error' when the connection drops: with no listener, an uncaught exception.
    await redis.kill();
    await waitFor(() => errors.some((e) => /Redis is unreachable/.test(e.message)), 'the outage to be reported');
    await redis.start();
    await waitFor(() => client.isReady, 'your client to reconnect');
    bus.publish(makeEvent('yours'));
    expect(await backplane.flush()).toBe(true);
    await backplane.close();
    expect(client.listenerCount('error')).toBe(0);
    expect(client.listenerCount('ready')).toBe(0);
    expect(client.isOpen).toBe(true);
    expect(await client.xLen(runKey(prefix, 'yours'))).toBe(1);
    await client.quit();
  });
});

describe('close()', () => {
  let redis: RedisServer;
  let reader: Reader;
  beforeAll(async () => {
    redis = await startRedis();
    reader = await openReader(redis.url);
  });
  afterAll(async () => {
    await reader?.quit();
    await redis?.stop();
  });

  const connectedClients = async () => Number(/connected_clients:(\d+)/.exec(await reader.info('clients'))![1]);

  it('writes what waits, detaches from the bus (later events never reach Redis), and closes the client it made', async () => {
    const prefix = freshPrefix();
    const bus = new EventBus();
    const before = await connectedClients();
    const backplane = await attachRedisBackplane({ url: redis.url, prefix, bus });
    expect(await connectedClients()).toBe(before + 1);
    for (let i = 0; i < 30; i++) bus.publish(makeEvent('closing'));
    await backplane.close();
    await backplane.close(); // idempotent
    expect(backplane.stats()).toMatchObject({ written: 30, dropped: 0, connected: false });
    for (let i = 0; i < 30; i++) bus.publish(makeEvent('closing'));
    bus.closeStream('closing');
    await new Promise((r) => setTimeout(r, 50));
    expect(await reader.xLen(runKey(prefix, 'closing'))).toBe(30);
    await waitFor(async () => (await connectedClients()) === before, 'the client it made to disconnect');
    expect(await backplane.flush()).toBe(true); // nothing waits
  });

  it('puts the keyPrefix of a client of yours in front of its keys, as the client\'s own commands would', async () => {
    const client = createClient({ url: redis.url, keyPrefix: 'app:' });
    client.on('error', () => {});
    await client.connect();
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attachRedisBackplane({ client, prefix, bus });
    bus.publish(makeEvent('prefixed', 'run.started'));
    bus.closeStream('prefixed');
    await backplane.close();
    expect((await readStream(reader, `app:${runKey(prefix, 'prefixed')}`)).map((e) => e.id)).toEqual([eventEntryId(1), endEntryId(1)]);
    expect(await reader.xLen(`app:${indexKey(prefix)}`)).toBe(2);
    expect(await client.xLen(runKey(prefix, 'prefixed'))).toBe(2); // the client's typed commands see the same key
    await client.quit();
  });

  it('leaves a client of yours open, and adds no error listener to one that has its own', async () => {
    const client = createClient({ url: redis.url });
    const mine = () => {};
    client.on('error', mine);
    await client.connect();
    const prefix = freshPrefix();
    const bus = new EventBus();
    const backplane = await attachRedisBackplane({ client, prefix, bus });
    expect(client.listeners('error')).toEqual([mine]);
    bus.publish(makeEvent('kept-open'));
    await backplane.close();
    expect(client.isReady).toBe(true);
    expect(await client.xLen(runKey(prefix, 'kept-open'))).toBe(1);
    expect(client.listeners('error')).toEqual([mine]);
    await client.quit();
  });
});

describe('loading', () => {
  it('without the redis package, attaching by url fails with a sentence naming npm install redis', async () => {
    const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const dir = await mkdtemp(join(tmpdir(), 'agentbus-noredis-'));
    try {
      // A resolve hook that hides the package, as on a machine where it is not installed.
      await writeFile(
        join(dir, 'hide-redis.mjs'),
        `export async function resolve(specifier, context, next) {
          if (specifier === 'redis' || specifier.startsWith('@redis/')) {
            const error = new Error("Cannot find package 'redis' imported from " + context.parentURL);
            error.code = 'ERR_MODULE_NOT_FOUND';
            throw error;
          }
          return next(specifier, context);
        }`,
      );
      await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(join(dir, 'hide-redis.mjs')).href)});`);
      const script = `
        const { attachRedisBackplane } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'src/redis/backplane.ts')).href)});
        try { await attachRedisBackplane({ url: 'redis://127.0.0.1:1' }); console.log('attached'); }
        catch (error) { console.log(error.message); }
      `;
      const stdout = await new Promise<string>((resolveRun, reject) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script],
          { cwd: repoRoot, timeout: 30_000 },
          (error, out, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolveRun(out)),
        );
      });
      expect(stdout).toMatch(/attachRedisBackplane\(\{ url \}\) needs the redis package .*: npm install redis \(Cannot find package 'redis'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
