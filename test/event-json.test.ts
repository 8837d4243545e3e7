// An event's JSON (src/event-json.ts), written once per event for the whole
// process: what every SSE connection of every handler and the Redis
// backplane's entry carry, proven by a payload that counts how often it is
// read, and by hostile payloads and event objects that give SSE and Redis
// the same valid JSON without a throw.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_EVENT_BYTES } from '../src/bounded-json.js';
import { RECENT, RECENT_CHARS } from '../src/event-json.js';
import { EventBus } from '../src/bus.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';
import { decodeRunEntry, encodeEvent, eventEntryId } from '../src/redis/wire.js';
import { FrameEncoder } from '../src/sse/frames.js';
import { createSseHandler } from '../src/sse/index.js';
import { dataLines, event, openStream, serve } from './sse-harness.js';

/** A payload whose one field counts its reads and says which read it was: each serialization shows. */
function countingPayload(): { data: object; reads: () => number } {
  let reads = 0;
  const data = {};
  Object.defineProperty(data, 'read', {
    enumerable: true,
    get() {
      reads++;
      return `read ${reads}`;
    },
  });
  return { data, reads: () => reads };
}

const redisJson = (e: StreamEvent) => encodeEvent(e).e!;

describe('an event\'s JSON, written once for the process', () => {
  it('is written once however many connections of however many handlers (both framings, node:http and fetch-style) and the Redis encoder send it', async () => {
    const bus = new EventBus();
    bus.publish(event('r', 'run.started'));
    const [one, two, locus] = await Promise.all([serve({ bus, public: true }), serve({ bus, public: true }), serve({ bus, public: true, format: 'locus' })]);
    const fetchStyle = createSseHandler({ bus, public: true });
    const url = (base: string) => `${base}/runs/r/events`;
    const node = await Promise.all([one, one, two, two, locus, locus].map((s) => openStream(url(s.base))));
    const fetched = await Promise.all([fetchStyle(new Request(url('http://x.test'))), fetchStyle(new Request(url('http://x.test')))]);

    const payload = countingPayload();
    bus.publish(event('r', 'demo.step', payload.data));
    // The bus reads the payload once, to size it, and keeps it as it is (plain data).
    expect(payload.reads()).toBe(1);
    bus.closeStream('r');
    const texts = [...(await Promise.all(node.map((n) => n.text))), ...(await Promise.all(fetched.map((r) => r.text())))];
    const published = bus.history('r')[1]!;
    const redis = redisJson(published);

    // One more read in all: one serialization, shared.
    expect(payload.reads()).toBe(2);
    expect(redis).toBe('{"eventId":"r:2","runId":"r","seq":2,"eventType":"demo.step","timestamp":' + published.timestamp + ',"data":{"read":"read 2"}}');
    for (const i of [0, 1, 2, 3, 6, 7]) expect(dataLines(texts[i]!)[1], `connection ${i}`).toBe(redis);
    for (const i of [4, 5]) expect(JSON.parse(dataLines(texts[i]!)[1]!).data, `locus connection ${i}`).toEqual({ read: 'read 2' });
  });

  it('is written once whoever asks first: the Redis encoder, then each framing', () => {
    const payload = countingPayload();
    const e: StreamEvent = { eventId: 'r:3', runId: 'r', seq: 3, eventType: 'demo.step', timestamp: 5, data: payload.data };
    const redis = redisJson(e);
    const agentbus = new FrameEncoder('agentbus').event(e, true);
    const locus = new FrameEncoder('locus').event(e, true);
    expect(payload.reads()).toBe(1);
    expect(agentbus).toBe(`id: 3\nevent: demo.step\ndata: ${redis}\n\n`);
    expect(locus).toBe('id: 3\nevent: demo.step\ndata: {"event_id":"r:3","run_id":"r","event_type":"demo.step","timestamp":"1970-01-01T00:00:00.005000+00:00","data":{"read":"read 1"}}\n\n');
  });

  it('is shared only at the default bound: a handler with its own maxEventSize writes its own (once), and the shared JSON stays whole', () => {
    const payload = countingPayload();
    const text = 'x'.repeat(4000);
    const e: StreamEvent = { eventId: 'r:1', runId: 'r', seq: 1, eventType: 'demo.step', timestamp: 1, data: { text, counted: payload.data } };
    const small = new FrameEncoder('agentbus', 1024);
    const cut = small.event(e, false);
    expect(cut).toContain('[Truncated: 4000 chars]');
    expect(small.event(e, false)).toBe(cut);
    expect(payload.reads()).toBe(1);
    const whole = JSON.parse(redisJson(e)) as { data: { text: string } };
    expect(whole.data.text).toBe(text);
    expect(new FrameEncoder('agentbus').event(e, false)).toBe(`event: demo.step\ndata: ${redisJson(e)}\n\n`);
    expect(payload.reads()).toBe(2);
  });

  it('is not kept for a seq-0 event (stream.dropped, made for one subscriber): written for each caller', () => {
    const payload = countingPayload();
    const dropped: StreamEvent = { eventId: 'r:dropped:1-2', runId: 'r', seq: 0, eventType: 'stream.dropped', timestamp: 1, data: payload.data };
    expect(redisJson(dropped)).not.toBe(redisJson(dropped));
    expect(payload.reads()).toBe(2);
  });
});

describe('hostile events: the same valid JSON to SSE and to Redis, never a throw', () => {
  const cyclic = (): object => {
    const o: Record<string, unknown> = { name: 'loop' };
    o.self = o;
    return o;
  };
  const payloads: Record<string, () => object> = {
    bigint: () => ({ n: 2n ** 70n }),
    cycle: cyclic,
    throwingGetter: () => ({
      ok: 1,
      get boom(): never {
        throw new Error('getter');
      },
    }),
    hugeString: () => ({ text: 'h'.repeat(3_000_000) }),
    // Plain, and sized by the bus at 200,002 characters; its JSON is six times that.
    escapeHeavyString: () => ({ text: '\u0001'.repeat(200_000) }),
    protoKey: () => JSON.parse('{"__proto__":{"polluted":true},"after":1}') as object,
    loneSurrogates: () => ({ high: 'a\ud800b', low: '\udc00', pair: '😀', cutPair: '😀'.slice(0, 1) }),
    numbersWide: () => ({ list: Array.from({ length: 20_000 }, (_, i) => -1.2345678901234567e-300 * (i + 1)) }),
  };
  // The event object itself, as a user may hand it to bus.publish.
  const envelopes: Record<string, () => object> = {
    bigintBesideTheEnvelope: () => ({ extra: 10n }),
    cycleBesideTheEnvelope: () => ({ extra: cyclic() }),
    toJSONOnTheEvent: () => ({ toJSON: () => ({ hijacked: true }) }),
  };

  it('published on a bus: an SSE connection and the Redis entry carry the same bytes, which decode to the event the SSE client reads', async () => {
    const bus = new EventBus();
    bus.publish(event('h', 'run.started'));
    const served = await serve({ bus, public: true });
    const reading = await openStream(`${served.base}/runs/h/events`);
    const cases = [
      ...Object.entries(payloads).map(([name, make]) => ({ name, e: event('h', 'demo.hostile', make()) })),
      ...Object.entries(envelopes).map(([name, make]) => ({ name, e: Object.assign(event('h', 'demo.hostile', { ok: true }), make()) })),
    ];
    for (const { e } of cases) expect(() => bus.publish(e)).not.toThrow();
    expect(bus.stats().rejected).toBe(0);
    bus.closeStream('h');
    const sse = dataLines(await reading.text).slice(1);
    const history = bus.history('h').slice(1);
    expect(sse).toHaveLength(cases.length);
    history.forEach((published, i) => {
      const name = cases[i]!.name;
      let redis: string | undefined;
      expect(() => (redis = redisJson(published)), name).not.toThrow();
      expect(redis, name).toBe(sse[i]);
      expect(redis!.length, name).toBeLessThanOrEqual(DEFAULT_MAX_EVENT_BYTES + 200);
      const entry = decodeRunEntry('h', eventEntryId(i + 2), { e: redis! });
      expect(entry, name).toEqual({ kind: 'event', event: parseStreamEvent(JSON.parse(sse[i]!)) });
      expect(Object.keys(JSON.parse(redis!) as object), name).toEqual(['eventId', 'runId', 'seq', 'eventType', 'timestamp', 'data']);
    });
    const json = Object.fromEntries(cases.map(({ name }, i) => [name, JSON.parse(sse[i]!) as { data: Record<string, unknown> }]));
    expect(json.protoKey!.data).toEqual(JSON.parse('{"__proto__":{"polluted":true},"after":1}'));
    expect(json.loneSurrogates!.data).toEqual({ high: 'a\ud800b', low: '\udc00', pair: '😀', cutPair: '\ud83d' });
    expect(sse[cases.findIndex((c) => c.name === 'loneSurrogates')]).toContain('"a\\ud800b"');
    expect(json.toJSONOnTheEvent!.data).toEqual({ ok: true });
  });

  it('handed over directly, even a Proxy event whose every trap throws becomes a placeholder, the same for SSE and Redis', () => {
    const trap = () => {
      throw new Error('trap');
    };
    const proxy = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap }) as StreamEvent;
    let redis = '';
    expect(() => (redis = redisJson(proxy))).not.toThrow();
    expect(JSON.parse(redis)).toEqual({ eventType: 'stream.placeholder', data: { eventType: null, reason: 'could not be written: Error: trap' } });
    expect(new FrameEncoder('agentbus').event(proxy, true)).toBe(`event: stream.placeholder\ndata: ${redis}\n\n`);

    const getterData: StreamEvent = {
      eventId: 'r:4',
      runId: 'r',
      seq: 4,
      eventType: 'demo.step',
      timestamp: 1,
      get data(): object {
        throw new Error('data getter');
      },
    };
    const placeholder = redisJson(getterData);
    expect(JSON.parse(placeholder)).toMatchObject({ eventId: 'r:4', seq: 4, eventType: 'stream.placeholder', data: { eventType: 'demo.step', reason: 'could not be written: Error: data getter' } });
    expect(new FrameEncoder('agentbus').event(getterData, true)).toBe(`id: 4\nevent: stream.placeholder\ndata: ${placeholder}\n\n`);
    expect(new FrameEncoder('locus').event(getterData, false)).toMatch(/^event: stream\.placeholder\ndata: \{"event_id":"r:4","run_id":"r","event_type":"stream\.placeholder",.*"data":\{"eventType":"demo\.step","reason":"could not be written: Error: data getter"\}\}\n\n$/);
  });

  it('keeps the JSON of recent events only, bounded in events and in characters, and writes an older one again', () => {
    const counted = (seq: number, extra: object = {}) => {
      const payload = countingPayload();
      const e: StreamEvent = { eventId: `r:${seq}`, runId: 'r', seq, eventType: 'demo.step', timestamp: 1, data: { counted: payload.data, ...extra } };
      return { e, reads: payload.reads };
    };
    const first = counted(1);
    const json = redisJson(first.e);
    expect(redisJson(first.e)).toBe(json);
    expect(first.reads()).toBe(1);
    // RECENT more events push it out: asked again, it is written again (the same JSON).
    for (let seq = 2; seq <= RECENT + 1; seq++) redisJson(counted(seq).e);
    expect(redisJson(first.e)).toBe(json.replace('read 1', 'read 2'));
    expect(first.reads()).toBe(2);

    // A few large events push it out long before RECENT do: the characters kept are bounded too.
    const large = counted(RECENT + 2);
    redisJson(large.e);
    const text = 'x'.repeat(200 * 1024);
    const needed = Math.ceil(RECENT_CHARS / text.length) + 1;
    for (let i = 0; i < needed; i++) redisJson(counted(RECENT + 3 + i, { text }).e);
    expect(needed).toBeLessThan(RECENT / 4);
    redisJson(large.e);
    expect(large.reads()).toBe(2);
  });
});
