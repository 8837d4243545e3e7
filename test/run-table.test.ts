import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ActivityLink, ActivityList } from '../src/activity-list.js';
import { runEnded, runStarted } from '../src/bus-protocol.js';
import { EventBus } from '../src/bus.js';
import { runContext } from '../src/context.js';
import type { StreamEvent } from '../src/events.js';
import type { Subscription } from '../src/subscription.js';

function event(runId: string, data: object = {}): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType: 'test.tick', timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Publishes to each new run id in turn (each one at the limit) and returns the runs given up, in order. */
function victims(bus: EventBus, newRunIds: string[]): string[] {
  const gone: string[] = [];
  for (const id of newRunIds) {
    const before = bus.runIds();
    bus.publish(event(id));
    gone.push(...before.filter((runId) => !bus.hasRun(runId)));
  }
  return gone;
}

/** Bytes the bus counts for one event with `pad` characters of payload (calibrated on a bus, not assumed). */
function eventBytes(pad: number): number {
  const probe = new EventBus();
  probe.publish(event('probe', { k: 'k000000', pad: 'x'.repeat(pad) }));
  return probe.stats().bytes;
}

describe('ActivityList', () => {
  interface Item { lastActive: number; born: number; name: string }
  const item = (name: string, lastActive: number, born: number): Item => ({ name, lastActive, born });
  const names = (list: ActivityList<Item>) => [...list.items()].map((i) => i.name);

  it('places an item by its activity whatever the order it comes in, and moves a just active one last', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 30 }), fc.nat(), (ticks, pick) => {
        const list = new ActivityList<Item>();
        const links = ticks.map((t, i) => new ActivityLink(item(`i${i}`, t, i)));
        for (const link of links) list.insert(link);
        const sorted = ticks.map((t, i) => ({ t, name: `i${i}` })).sort((a, b) => a.t - b.t).map((x) => x.name);
        expect(names(list)).toEqual(sorted);
        expect(list.first?.name).toBe(sorted[0]);
        expect(list.second?.name).toBe(sorted[1]);
        if (links.length === 0) return;
        const moved = links[pick % links.length] as ActivityLink<Item>;
        (moved.item as Item).lastActive = 1001;
        list.moveLast(moved);
        expect(names(list)).toEqual([...sorted.filter((n) => n !== moved.item?.name), moved.item?.name]);
        moved.unlink();
        expect(names(list)).toEqual(sorted.filter((n) => n !== moved.item?.name));
      }),
      { numRuns: 300 },
    );
  });

  it('orders items never active (tick 0) first, the older first', () => {
    const list = new ActivityList<Item>();
    for (const i of [item('active', 5, 1), item('new-2', 0, 3), item('new-1', 0, 2), item('later', 9, 4)]) list.insert(new ActivityLink(i));
    expect(names(list)).toEqual(['new-1', 'new-2', 'active', 'later']);
  });
});

describe('retention order', () => {
  it('gives up closed runs first, then finished ones, then executing ones; least recently active first in each', () => {
    const bus = new EventBus({ maxRuns: 6 });
    bus[runStarted]('exec-old');
    bus.publish(event('exec-old'));
    bus.publish(event('fin-old'));
    bus.publish(event('closed-old'));
    bus[runStarted]('exec-new');
    bus.publish(event('exec-new'));
    bus.publish(event('fin-new'));
    bus.publish(event('closed-new'));
    // Closed in the order opposite to their activity: the last active goes last all the same.
    bus.closeStream('closed-new');
    bus.closeStream('closed-old');
    for (const id of ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']) bus[runStarted](id);
    expect(victims(bus, ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'])).toEqual(['closed-old', 'closed-new', 'fin-old', 'fin-new', 'exec-old', 'exec-new']);
    expect(bus.stats().evictedRuns).toBe(6);
  });

  it('places a run that closes among the closed runs by its last activity, not by when it closed', () => {
    const bus = new EventBus({ maxRuns: 4 });
    for (const id of ['early', 'middle', 'late', 'open']) bus.publish(event(id));
    bus.closeStream('late');
    bus.closeStream('early');
    bus.closeStream('middle');
    expect(victims(bus, ['n1', 'n2', 'n3', 'n4'])).toEqual(['early', 'middle', 'late', 'open']);
  });

  it('counts a subscriber’s arrival as activity, and a subscription to a new run makes room for it', () => {
    const bus = new EventBus({ maxRuns: 3 });
    for (const id of ['a', 'b', 'c']) bus.publish(event(id));
    bus.subscribe('a');
    expect(victims(bus, ['d'])).toEqual(['b']);
    const sub = bus.subscribe('e');
    expect(bus.runIds()).toEqual(['a', 'd', 'e']);
    expect(bus.hasRun('c')).toBe(false);
    expect(sub.endReason).toBeUndefined();
  });

  it('gives up first a run whose first publish failed after adding it (never active), the older such run first', () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ maxRuns: 3, onError: (error) => errors.push(error) });
    bus.publish(event('active'));
    bus.publish(Object.freeze(event('frozen-1')));
    bus.publish(Object.freeze(event('frozen-2')));
    expect(errors).toHaveLength(2);
    expect(bus.runIds()).toEqual(['frozen-1', 'frozen-2', 'active']);
    expect(victims(bus, ['n1', 'n2'])).toEqual(['frozen-1', 'frozen-2']);
  });

  it('counts a closed run that a runContext enters again as executing: given up after finished runs, first once it closes again', async () => {
    const bus = new EventBus({ maxRuns: 3 });
    await runContext(() => {}, { runId: 'back', bus });
    expect(bus.isClosed('back')).toBe(true);
    bus.publish(event('fin-1'));
    bus.publish(event('fin-2'));
    const body = deferred();
    const done = runContext(() => body.promise, { runId: 'back', bus });
    expect(bus.isClosed('back')).toBe(false);
    expect(victims(bus, ['n1', 'n2', 'n3'])).toEqual(['fin-1', 'fin-2', 'n1']);
    body.resolve();
    await done;
    expect(victims(bus, ['n4'])).toEqual(['back']);
  });

  it('keeps a run executing until the last of its nested runContexts leaves', async () => {
    const bus = new EventBus({ maxRuns: 3 });
    const inner = deferred();
    const outer = deferred();
    let innerDone!: Promise<void>;
    const done = runContext(async () => {
      innerDone = runContext(() => inner.promise, { runId: 'shared' });
      await outer.promise;
    }, { runId: 'shared', bus });
    bus.publish(event('fin'));
    inner.resolve();
    await innerDone;
    expect(bus.isClosed('shared')).toBe(false);
    bus.publish(event('x'));
    // 'shared' was active after 'fin' and before 'x', but it still executes.
    expect(victims(bus, ['y', 'z'])).toEqual(['fin', 'x']);
    outer.resolve();
    await done;
    expect(bus.isClosed('shared')).toBe(true);
    expect(victims(bus, ['w'])).toEqual(['shared']);
  });

  it('gives up a run kept open (keepOpen) after closed runs and before executing ones', async () => {
    const bus = new EventBus({ maxRuns: 3 });
    const live = deferred();
    const liveDone = runContext(() => live.promise, { runId: 'live', bus });
    await runContext(() => {}, { runId: 'kept', bus, keepOpen: true });
    await runContext(() => {}, { runId: 'closed', bus });
    expect(bus.isClosed('kept')).toBe(false);
    expect(victims(bus, ['n1', 'n2', 'n3'])).toEqual(['closed', 'kept', 'n1']);
    live.resolve();
    await liveDone;
  });

  it('keeps a run whose stream is closed while it executes among the executing until its runContext ends', async () => {
    const bus = new EventBus({ maxRuns: 3 });
    const body = deferred();
    const done = runContext(async (runId) => {
      bus.closeStream(runId);
      await body.promise;
    }, { runId: 'closing', bus });
    bus.publish(event('f1'));
    bus.publish(event('f2'));
    expect(victims(bus, ['f3'])).toEqual(['f1']);
    expect(bus.isClosed('closing')).toBe(false);
    body.resolve();
    await done;
    expect(bus.isClosed('closing')).toBe(true);
    expect(victims(bus, ['f4'])).toEqual(['closing']);
  });

  it('forgets a dropped run: the next one given up is the one after it', () => {
    const bus = new EventBus({ maxRuns: 3 });
    for (const id of ['a', 'b', 'c']) bus.publish(event(id));
    bus.dropHistory('a');
    bus.publish(event('d'));
    expect(victims(bus, ['e'])).toEqual(['b']);
  });
});

describe('byte budgets across runs', () => {
  const PAD = 300;
  const SIZE = eventBytes(PAD);
  const payload = () => ({ k: 'k000000', pad: 'x'.repeat(PAD) });

  it('trims the oldest events of the runs given up first, never the newest event of the run publishing', () => {
    const bus = new EventBus({ maxEventBytes: 1024, maxRunBytes: 4 * SIZE, maxBytes: 6 * SIZE });
    for (const id of ['a', 'a', 'b', 'b', 'c', 'c']) bus.publish(event(id, payload()));
    bus.closeStream('b');
    expect(bus.stats()).toMatchObject({ bytes: 6 * SIZE, trimmed: 0 });
    bus.publish(event('c', payload()));
    bus.publish(event('c', payload()));
    // The closed run went first, down to nothing; it is still retained.
    expect(bus.history('b')).toEqual([]);
    expect(bus.hasRun('b')).toBe(true);
    bus.publish(event('c', payload())); // over its own budget: it trims itself
    expect(bus.history('c').map((e) => e.seq)).toEqual([2, 3, 4, 5]);
    bus.publish(event('a', payload())); // b has nothing left; c is the least recently active
    expect(bus.history('a').map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(bus.history('c').map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(bus.stats()).toMatchObject({ bytes: 6 * SIZE, trimmed: 4 });
  });

  it('never takes the newest event of the run publishing, even from the rank given up first', () => {
    const bus = new EventBus({ maxEventBytes: 1024, maxRunBytes: 3 * SIZE, maxBytes: 3 * SIZE });
    bus[runStarted]('live');
    for (let i = 0; i < 3; i++) bus.publish(event('live', payload()));
    bus.publish(event('done', payload())); // finished, so it goes before 'live'; but this is its newest event
    expect(bus.history('done').map((e) => e.seq)).toEqual([1]);
    expect(bus.history('live').map((e) => e.seq)).toEqual([2, 3]);
  });

  it('takes from the publishing run itself when no other run has history, down to its newest event', () => {
    const bus = new EventBus({ maxEventBytes: 1024, maxRunBytes: 4 * SIZE, maxBytes: 4 * SIZE });
    bus.subscribe('empty');
    for (let i = 0; i < 6; i++) bus.publish(event('only', payload()));
    expect(bus.history('only').map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(bus.history('empty')).toEqual([]);
  });

  it('passes over a run with no history when trimming, yet gives it up first to make room for a new run', async () => {
    const bus = new EventBus({ maxRuns: 3, maxEventBytes: 1024, maxRunBytes: 3 * SIZE, maxBytes: 3 * SIZE });
    const sub: Subscription = bus.subscribe('watched'); // the least recently active, no history
    for (let i = 0; i < 3; i++) bus.publish(event('a', payload()));
    bus.publish(event('b', payload()));
    expect(bus.history('a').map((e) => e.seq)).toEqual([2, 3]);
    expect(bus.hasRun('watched')).toBe(true);
    expect(victims(bus, ['c'])).toEqual(['watched']);
    for await (const _ of sub) expect.unreachable();
    expect(sub.endReason).toBe('evicted');
  });
});

/**
 * The rule `RunTable` followed before it kept its order (a scan of every
 * run), written again here as the reference: closed runs, then finished
 * ones, then executing ones; least recently active first (the order of
 * `runIds()`). When trimming for `trimming`, only runs with history, and
 * `trimming` itself only while it keeps its newest event.
 */
interface RunState { id: string; closed: boolean; executing: boolean; history: { k: string; size: number }[] }
function referenceVictim(runs: readonly RunState[], trimming?: string): RunState | undefined {
  const rank = (run: RunState) => (run.closed ? 0 : run.executing ? 2 : 1);
  let victim: RunState | undefined;
  for (const run of runs) {
    if (trimming !== undefined && run.history.length <= (run.id === trimming ? 1 : 0)) continue;
    if (victim === undefined || rank(run) < rank(victim)) victim = run;
  }
  return victim;
}

const RUN_IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const PADS = [10, 300, 900];
const runId = fc.constantFrom(...RUN_IDS);
const operation = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('publish' as const), runId, pad: fc.constantFrom(...PADS) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('frozen' as const), runId }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('subscribe' as const), runId }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('close' as const), runId }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('enter' as const), runId }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('leave' as const), runId, keepOpen: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('drop' as const), runId }), weight: 1 },
);

describe('the run given up, against the reference rule', () => {
  const sizes = new Map(PADS.map((pad) => [pad, eventBytes(pad)]));

  it('is the one a scan of every run would choose, for eviction and for trimming, over random operations', () => {
    fc.assert(
      fc.property(
        fc.record({
          maxRuns: fc.integer({ min: 1, max: 4 }),
          historySize: fc.integer({ min: 1, max: 4 }),
          maxRunBytes: fc.integer({ min: 1224, max: 4000 }),
          extraBytes: fc.integer({ min: 0, max: 6000 }),
        }),
        // Long sequences (fast-check's default size keeps arrays short): evictions and trims need many steps to build up.
        fc.array(operation, { minLength: 1, maxLength: 120, size: 'max' }),
        (limits, operations) => {
          const { maxRuns, historySize, maxRunBytes } = limits;
          const maxBytes = maxRunBytes + limits.extraBytes;
          const bus = new EventBus({ maxRuns, historySize, maxEventBytes: 1024, maxRunBytes, maxBytes, onError: () => {} });
          const executing = new Map<string, number>();
          // Runs given up while closed: they stay closed (a publish is refused, a subscriber finds them ended) until entered.
          const closedGone = new Set<string>();
          const goneAs = (run: RunState) => (run.closed ? closedGone.add(run.id) : closedGone.delete(run.id));
          let counter = 0;

          for (const op of operations) {
            // What the bus holds now, in activity order, read from it.
            const runs: RunState[] = bus.runIds().map((id) => ({
              id,
              closed: bus.isClosed(id),
              executing: (executing.get(id) ?? 0) > 0,
              history: bus.history(id).map((e) => ({ k: (e.data as { k: string }).k, size: sizes.get((e.data as { pad: string }).pad.length) as number })),
            }));
            const expected = runs.map((run) => ({ ...run, history: [...run.history] }));
            const find = (id: string) => expected.find((run) => run.id === id);
            // A new run at the limit gives one up by the reference rule; it is then least recently active until touched.
            const admit = (id: string): RunState => {
              if (expected.length >= maxRuns) {
                const victim = referenceVictim(expected) as RunState;
                expected.splice(expected.indexOf(victim), 1);
                goneAs(victim);
              }
              const run: RunState = { id, closed: closedGone.delete(id), executing: (executing.get(id) ?? 0) > 0, history: [] };
              expected.push(run);
              return run;
            };
            const makeMostRecent = (run: RunState) => {
              expected.splice(expected.indexOf(run), 1);
              expected.push(run);
            };

            switch (op.kind) {
              case 'publish': {
                const k = `k${String(++counter).padStart(6, '0')}`;
                const known = find(op.runId);
                bus.publish(event(op.runId, { k, pad: 'x'.repeat(op.pad) }));
                if (known?.closed || (known === undefined && closedGone.has(op.runId))) break; // refused
                const run = known ?? admit(op.runId);
                makeMostRecent(run);
                run.history.push({ k, size: sizes.get(op.pad) as number });
                if (run.history.length > historySize) run.history.shift();
                const bytesOf = (r: RunState) => r.history.reduce((sum, e) => sum + e.size, 0);
                const total = () => expected.reduce((sum, r) => sum + bytesOf(r), 0);
                if (bytesOf(run) > maxRunBytes || total() > maxBytes) {
                  while (bytesOf(run) > maxRunBytes && run.history.length > 1) run.history.shift();
                  while (total() > maxBytes) {
                    const victim = referenceVictim(expected, run.id);
                    if (victim === undefined) break;
                    victim.history.shift();
                  }
                }
                break;
              }
              case 'frozen': {
                // seq cannot be written: refused after the run was added, which stays, never active.
                const known = find(op.runId);
                bus.publish(Object.freeze(event(op.runId, { k: 'k000000', pad: '' })));
                if (known === undefined && !closedGone.has(op.runId)) admit(op.runId);
                break;
              }
              case 'subscribe': {
                const run = find(op.runId) ?? admit(op.runId);
                bus.subscribe(op.runId);
                if (run.closed) expect(bus.isClosed(op.runId)).toBe(true); // one given up closed comes back closed
                makeMostRecent(run);
                break;
              }
              case 'close':
                bus.closeStream(op.runId);
                break;
              case 'enter':
                executing.set(op.runId, (executing.get(op.runId) ?? 0) + 1);
                bus[runStarted](op.runId);
                closedGone.delete(op.runId); // entered again: open
                break;
              case 'leave': {
                const count = executing.get(op.runId) ?? 0;
                if (count === 0) break; // only what a runContext would do
                if (count === 1) executing.delete(op.runId);
                else executing.set(op.runId, count - 1);
                bus[runEnded](op.runId, op.keepOpen);
                break;
              }
              case 'drop': {
                const run = find(op.runId);
                if (run !== undefined) {
                  expected.splice(expected.indexOf(run), 1);
                  goneAs(run);
                }
                bus.dropHistory(op.runId);
                break;
              }
            }

            // The runs retained and every run's history are what the reference rule leaves.
            expect(new Set(bus.runIds())).toEqual(new Set(expected.map((run) => run.id)));
            for (const run of expected) expect(bus.history(run.id).map((e) => (e.data as { k: string }).k)).toEqual(run.history.map((e) => e.k));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
