import { describe, expect, it } from 'vitest';
import { runStep, wrapsSteps } from '../src/bus-protocol.js';
import { EventBus } from '../src/bus.js';
import { getEventBus, peekEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import type { StreamEvent } from '../src/events.js';
import type { Subscription } from '../src/subscription.js';

function event(runId: string, eventType = 'test.tick', data: object = {}): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType, timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data };
}

async function drain(sub: Subscription): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of sub) out.push(e);
  return out;
}

describe('EventBus.publish', () => {
  it('assigns seq 1, 2, 3 per run and an event id', () => {
    const bus = new EventBus();
    for (let i = 0; i < 3; i++) bus.publish(event('a'));
    bus.publish(event('b'));
    expect(bus.history('a').map((e) => [e.seq, e.eventId])).toEqual([[1, 'a:1'], [2, 'a:2'], [3, 'a:3']]);
    expect(bus.history('b').map((e) => e.seq)).toEqual([1]);
  });

  it('keeps only the last historySize events of a run', () => {
    const bus = new EventBus({ historySize: 500 });
    for (let i = 0; i < 1234; i++) bus.publish(event('r'));
    const history = bus.history('r');
    expect(history).toHaveLength(500);
    expect(history[0]?.seq).toBe(735);
    expect(history.at(-1)?.seq).toBe(1234);
    expect(bus.history('r', 1200).map((e) => e.seq)).toEqual(Array.from({ length: 34 }, (_, i) => 1201 + i));
  });

  it('catches and counts a throwing listener, and still reaches later listeners', () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ onError: (error) => errors.push(error) });
    const seen: string[] = [];
    bus.addListener({
      onEvent: () => {
        throw new Error('exporter broke');
      },
    });
    bus.addListener({ onEvent: (e) => seen.push(e.eventType) });
    expect(() => bus.publish(event('r'))).not.toThrow();
    expect(seen).toEqual(['test.tick']);
    expect(bus.stats().listenerErrors).toBe(1);
    expect(String(errors[0])).toContain('exporter broke');
  });

  it('stops calling a removed listener', () => {
    const bus = new EventBus();
    let calls = 0;
    const remove = bus.addListener({ onEvent: () => calls++ });
    bus.publish(event('r'));
    remove();
    bus.publish(event('r'));
    expect(calls).toBe(1);
  });

  it('with validate, refuses a malformed event with the field named and counts it', () => {
    const errors: string[] = [];
    const bus = new EventBus({ validate: true, onError: (e) => errors.push(String(e)) });
    bus.publish(event('r', 'agent.tool.started', { toolName: 'x' }));
    bus.publish(event('r', 'custom.ok', { any: 1 }));
    expect(bus.history('r').map((e) => e.eventType)).toEqual(['custom.ok']);
    expect(bus.stats().rejected).toBe(1);
    expect(errors[0]).toMatch(/data\.toolCallId/);
  });

  it('refuses events for a closed run and counts them', () => {
    const bus = new EventBus();
    bus.publish(event('r'));
    bus.closeStream('r');
    bus.publish(event('r'));
    expect(bus.history('r')).toHaveLength(1);
    expect(bus.stats().rejected).toBe(1);
  });
});

describe('EventBus.subscribe', () => {
  it('registers at call time: an event published right after subscribe is delivered', async () => {
    const bus = new EventBus();
    const sub = bus.subscribe('r');
    bus.publish(event('r'));
    bus.closeStream('r');
    expect((await drain(sub)).map((e) => e.seq)).toEqual([1]);
  });

  it('gives a mid-run subscriber the history then the live stream, with no gap and no duplicate', async () => {
    const bus = new EventBus();
    for (let i = 0; i < 10; i++) bus.publish(event('r'));
    const sub = bus.subscribe('r');
    const collected = drain(sub);
    for (let i = 0; i < 10; i++) {
      bus.publish(event('r'));
      await Promise.resolve();
    }
    bus.closeStream('r');
    expect((await collected).map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('replays only what came after afterSeq', async () => {
    const bus = new EventBus();
    for (let i = 0; i < 5; i++) bus.publish(event('r'));
    bus.closeStream('r');
    expect((await drain(bus.subscribe('r', { afterSeq: 3 }))).map((e) => e.seq)).toEqual([4, 5]);
    expect(await drain(bus.subscribe('r', { afterSeq: 99 }))).toEqual([]);
  });

  it('gives a late subscriber after close the whole history, then ends', async () => {
    const bus = new EventBus();
    for (let i = 0; i < 3; i++) bus.publish(event('r'));
    bus.closeStream('r');
    const sub = bus.subscribe('r');
    expect((await drain(sub)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(sub.endReason).toBe('closed');
  });

  it('drops the oldest events of a subscriber that never reads, then reports the gap once', async () => {
    const bus = new EventBus();
    const stalled = bus.subscribe('r', { highWaterMark: 10 });
    for (let i = 0; i < 100; i++) bus.publish(event('r'));
    expect(stalled.dropped).toBe(90);
    expect(bus.stats().dropped).toBe(90);
    bus.closeStream('r');
    const got = await drain(stalled);
    expect(got[0]).toMatchObject({ eventType: 'stream.dropped', seq: 0, data: { count: 90, fromSeq: 1, toSeq: 90 } });
    expect(got.slice(1).map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 91 + i));
  });

  it('keeps a stalled subscriber from affecting a fast one', async () => {
    const bus = new EventBus();
    bus.subscribe('r', { highWaterMark: 1 });
    const fast = bus.subscribe('r');
    const collected = drain(fast);
    for (let i = 0; i < 50; i++) bus.publish(event('r'));
    bus.closeStream('r');
    expect((await collected).map((e) => e.seq)).toHaveLength(50);
  });

  it('ends on close() and on signal abort, and unregisters at once', async () => {
    const bus = new EventBus();
    const controller = new AbortController();
    const a = bus.subscribe('r');
    const b = bus.subscribe('r', { signal: controller.signal });
    expect(bus.stats().subscribers).toBe(2);
    const pendingB = b.next();
    a.close();
    controller.abort();
    expect(await pendingB).toEqual({ value: undefined, done: true });
    expect([a.endReason, b.endReason]).toEqual(['unsubscribed', 'aborted']);
    expect(bus.stats().subscribers).toBe(0);
  });

  it('ends a for-await loop that breaks early and unregisters', async () => {
    const bus = new EventBus();
    bus.publish(event('r'));
    for await (const _ of bus.subscribe('r')) break;
    expect(bus.stats().subscribers).toBe(0);
  });

  it('refuses a nonsensical highWaterMark with a precise error', () => {
    expect(() => new EventBus().subscribe('r', { highWaterMark: 0 })).toThrow(/highWaterMark must be a positive integer, got 0/);
    expect(() => new EventBus({ historySize: 1.5 })).toThrow(/historySize/);
  });
});

describe('EventBus.closeStream', () => {
  it('is idempotent and ignores unknown runs', async () => {
    const bus = new EventBus();
    const sub = bus.subscribe('r');
    bus.publish(event('r'));
    bus.closeStream('r');
    bus.closeStream('r');
    bus.closeStream('never-seen');
    expect((await drain(sub)).map((e) => e.seq)).toEqual([1]);
    expect(bus.stats()).toMatchObject({ runs: 1, openStreams: 0, subscribers: 0 });
  });
});

describe('EventBus.stats', () => {
  it('counts open streams: runs executing or kept open, runs subscribed to before their first event, never closed ones', async () => {
    const bus = new EventBus();
    bus.subscribe('waiting');
    await runContext(() => {}, { runId: 'kept', bus, keepOpen: true });
    await runContext(() => {}, { runId: 'done', bus });
    await runContext(() => expect(bus.stats()).toMatchObject({ runs: 4, openStreams: 3 }), { runId: 'executing', bus });
    expect(bus.stats()).toMatchObject({ runs: 4, openStreams: 2 });
  });
});

describe('retention', () => {
  it('evicts closed runs first, then the least recently active open run', () => {
    const bus = new EventBus({ maxRuns: 3 });
    bus.publish(event('open-old'));
    bus.publish(event('closed'));
    bus.publish(event('open-new'));
    bus.closeStream('closed');
    bus.publish(event('open-old')); // activity makes it recent again
    bus.publish(event('fourth'));
    expect(bus.runIds()).toEqual(['open-new', 'open-old', 'fourth']);
    bus.publish(event('fifth'));
    expect(bus.runIds()).toEqual(['open-old', 'fourth', 'fifth']);
    expect(bus.stats().evictedRuns).toBe(2);
  });

  it('ends an evicted run’s subscribers with the reason', async () => {
    const bus = new EventBus({ maxRuns: 1 });
    const sub = bus.subscribe('first');
    bus.publish(event('first'));
    bus.publish(event('second'));
    expect((await drain(sub)).map((e) => e.seq)).toEqual([1]);
    expect(sub.endReason).toBe('evicted');
  });
});

describe('subscribeAll', () => {
  it('streams live events of every run', async () => {
    const bus = new EventBus();
    bus.publish(event('before'));
    const all = bus.subscribeAll();
    bus.publish(event('a'));
    bus.publish(event('b'));
    const first = await all.next();
    const second = await all.next();
    all.close();
    expect([first.value?.runId, second.value?.runId]).toEqual(['a', 'b']);
  });

  it('reports drops without per-run sequence numbers', async () => {
    const bus = new EventBus();
    const all = bus.subscribeAll({ highWaterMark: 2 });
    bus.publish(event('a'));
    bus.publish(event('b'));
    bus.publish(event('c'));
    expect((await all.next()).value).toMatchObject({ eventType: 'stream.dropped', data: { count: 1 } });
    expect((await all.next()).value?.runId).toBe('b');
    all.close();
  });
});

describe('runStep', () => {
  it('runs the body directly with no wrapper, and inside every wrapper otherwise', () => {
    const bus = new EventBus();
    expect(bus[runStep](event('r'), () => 7)).toBe(7);
    const trail: string[] = [];
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => { trail.push('outer'); return body(); } });
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => { trail.push('inner'); return body(); } });
    expect(bus[runStep](event('r'), () => { trail.push('body'); return 8; })).toBe(8);
    expect(trail).toEqual(['outer', 'inner', 'body']);
  });

  it('still runs the body exactly once when a wrapper throws before calling it', () => {
    const bus = new EventBus();
    bus.addListener({ onEvent: () => {}, wrapStep: () => { throw new Error('bad wrapper'); } });
    let runs = 0;
    expect(bus[runStep](event('r'), () => ++runs)).toBe(1);
    expect(bus.stats().listenerErrors).toBe(1);
  });

  it('passes the body’s own error through', () => {
    const bus = new EventBus();
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => body() });
    expect(() => bus[runStep](event('r'), () => { throw new Error('tool failed'); })).toThrow('tool failed');
    expect(bus.stats().listenerErrors).toBe(0);
  });
});

describe('addListener', () => {
  it('takes one object of handlers, read once and called with the object as `this`', () => {
    const bus = new EventBus();
    const exporter = {
      seen: [] as string[],
      ended: [] as string[],
      onEvent(e: StreamEvent) {
        this.seen.push(e.eventType);
      },
      onStreamEnd(runId: string, reason: string) {
        this.ended.push(`${runId} ${reason}`);
      },
    };
    const remove = bus.addListener(exporter);
    exporter.onEvent = () => {
      throw new Error('not read again');
    };
    bus.publish(event('r'));
    bus.closeStream('r');
    remove();
    remove();
    bus.publish(event('s'));
    expect([exporter.seen, exporter.ended, bus.stats().listenerErrors]).toEqual([['test.tick'], ['r closed'], 0]);
  });

  it('refuses anything else with the handler named, and a lone function with the fix', () => {
    const bus = new EventBus();
    expect(() => bus.addListener((() => {}) as never)).toThrow(
      'EventBus.addListener: takes one object of handlers, { onEvent, wrapStep?, onStreamEnd?, name? }, got a function (pass { onEvent: yourFunction })',
    );
    expect(() => bus.addListener({} as never)).toThrow('EventBus.addListener: onEvent must be a function, got undefined');
    expect(() => bus.addListener({ onEvent: () => {}, wrapStep: 1 } as never)).toThrow('EventBus.addListener: wrapStep must be a function or undefined, got number');
    expect(() => bus.addListener({ onEvent: () => {}, onStreamEnd: 'x' } as never)).toThrow(/onStreamEnd must be a function or undefined, got string/);
    expect(() => bus.addListener({ onEvent: () => {}, name: 7 } as never)).toThrow(/name must be a string or undefined, got number/);
    expect(() => bus.addListener(null as never)).toThrow(/got null/);
    expect(bus[wrapsSteps]).toBe(false);
  });
});

describe('the process-wide bus', () => {
  it('is built lazily and can be reset', () => {
    resetEventBus();
    expect(peekEventBus()).toBeUndefined();
    const bus = getEventBus();
    expect(peekEventBus()).toBe(bus);
    expect(getEventBus()).toBe(bus);
    resetEventBus();
    expect(peekEventBus()).toBeUndefined();
  });

  it('when reset, ends the old bus’s subscribers with reason reset, after what they had queued', async () => {
    const old = resetEventBus({})!;
    const run = old.subscribe('r');
    const all = old.subscribeAll();
    old.publish(event('r'));
    const fresh = resetEventBus({});
    expect(fresh).not.toBe(old);
    expect((await drain(run)).map((e) => e.seq)).toEqual([1]);
    expect((await drain(all)).map((e) => e.seq)).toEqual([1]);
    expect([run.endReason, all.endReason]).toEqual(['reset', 'reset']);
    expect(old.stats().subscribers).toBe(0);
    resetEventBus();
    expect(fresh?.stats().subscribers).toBe(0);
  });

  it('when reset, detaches the old bus’s listeners and step wrappers', () => {
    const old = getEventBus();
    const seen: string[] = [];
    old.addListener({ onEvent: (e) => seen.push(e.runId), wrapStep: (_s, body) => body() });
    old.publish(event('before'));
    resetEventBus();
    // A run that started on the old bus still records into it, but nobody listens there any more.
    old.publish(event('after'));
    getEventBus().publish(event('new'));
    expect(seen).toEqual(['before']);
    expect(old[wrapsSteps]).toBe(false);
    expect(old.history('after')).toHaveLength(1);
  });

  it('is not replaced when the new options are invalid', () => {
    const bus = getEventBus();
    const sub = bus.subscribe('r');
    expect(() => resetEventBus({ maxRuns: 0 })).toThrow(/maxRuns must be a positive integer/);
    expect(getEventBus()).toBe(bus);
    expect(sub.endReason).toBeUndefined();
    sub.close();
  });
});

describe('EventBus options of the wrong type', () => {
  it('refuses an onError that is not a function, which would take every report and drop it', () => {
    expect(() => new EventBus({ onError: 'log' as never })).toThrow(
      new TypeError('EventBus: onError must be a function (error, event) => void or undefined, got "log"'),
    );
    expect(() => new EventBus({ onError: null as never })).toThrow('EventBus: onError must be a function (error, event) => void or undefined, got null');
    expect(() => new EventBus({ onError: {} as never })).toThrow('EventBus: onError must be a function (error, event) => void or undefined, got object');
  });

  it('refuses a validate that is not a boolean, rather than taking "false" for true', () => {
    expect(() => new EventBus({ validate: 'false' as never })).toThrow(
      new TypeError('EventBus: validate must be a boolean or undefined, got "false"'),
    );
  });

  it('refuses options that are not an object', () => {
    expect(() => new EventBus(null as never)).toThrow(new TypeError('EventBus: options must be an EventBusOptions object or undefined, got null'));
    expect(() => new EventBus('big' as never)).toThrow('EventBus: options must be an EventBusOptions object or undefined, got "big"');
  });

  it('still takes every valid option', () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ validate: false, onError: (error) => errors.push(error), historySize: 10 });
    bus.publish(event('r', 'Not.Valid'));
    expect(errors).toHaveLength(1);
    expect(new EventBus(undefined).stats().rejected).toBe(0);
  });
});
