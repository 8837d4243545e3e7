// Runs linked across services: a step writes its link into the headers of a
// request (W3C baggage; traceparent while a trace bridge provides it), the
// service called reads it back, and the run it opens with it is a child run
// of the calling step. Headers are network input: every reader is bounded
// and never throws, and the writer never throws into the caller.
import { Buffer } from 'node:buffer';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';
import * as core from '../src/index.js';
import { extractRunLink, injectRunLink, provideTraceContext, type RunLink } from '../src/link.js';

beforeEach(() => {
  resetEventBus();
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

function history(runId: string): StreamEvent[] {
  return getEventBus().history(runId);
}

/** The span id of the (one) tool step of a run. */
function toolStep(runId: string): string {
  const started = history(runId).filter((e) => e.eventType === 'agent.tool.started');
  expect(started).toHaveLength(1);
  return started[0]!.spanId!;
}

function members(baggage: string | null | undefined): string[] {
  return (baggage ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
}

/** Runs `fn` inside a tool step of a fresh run; returns what it returns and the run's tool span id. */
async function inTool<T>(runId: string, fn: () => T | Promise<T>): Promise<{ value: T; spanId: string }> {
  const value: T = await runContext(() => traceTool({ name: 'call_service', args: {} }, fn), { runId });
  return { value, spanId: toolStep(runId) };
}

describe('the package entry', () => {
  it('exports injectRunLink and extractRunLink', () => {
    expect(core.injectRunLink).toBe(injectRunLink);
    expect(core.extractRunLink).toBe(extractRunLink);
  });
});

describe('injectRunLink', () => {
  it('outside any run writes nothing and returns the carrier itself', async () => {
    const headers = new Headers({ accept: 'text/plain' });
    const plain: Record<string, string> = {};
    expect(injectRunLink(headers)).toBe(headers);
    expect(injectRunLink(plain)).toBe(plain);
    // Also while another run is open elsewhere in the process (the idle gate is open).
    let release!: () => void;
    const elsewhere = runContext(() => new Promise<void>((resolve) => (release = resolve)));
    expect(injectRunLink(headers)).toBe(headers);
    expect(injectRunLink(plain)).toBe(plain);
    release();
    await elsewhere;
    expect([...headers.keys()]).toEqual(['accept']);
    expect(plain).toEqual({});
  });

  it('outside any run does not even read the carrier', () => {
    const touched: string[] = [];
    const spy = new Proxy({}, {
      get(_target, key) {
        touched.push(`get ${String(key)}`);
        return undefined;
      },
      set(_target, key) {
        touched.push(`set ${String(key)}`);
        return true;
      },
      has(_target, key) {
        touched.push(`has ${String(key)}`);
        return false;
      },
      ownKeys() {
        touched.push('ownKeys');
        return [];
      },
    });
    injectRunLink(spy);
    expect(touched).toEqual([]);
  });

  it('in a tool writes the run and the tool step into baggage, and extractRunLink reads them back', async () => {
    const { value, spanId } = await inTool('caller-1', () => ({ headers: injectRunLink(new Headers()), plain: injectRunLink<Record<string, string>>({}) }));
    expect(value.plain).toEqual({ baggage: `agentbus.run_id=caller-1,agentbus.span_id=${spanId}` });
    expect(value.headers.get('baggage')).toBe(value.plain.baggage);
    const link: RunLink = { parentRunId: 'caller-1', parentSpanId: spanId };
    expect(extractRunLink(value.headers)).toEqual(link);
    expect(extractRunLink(value.plain)).toEqual(link);
    expect(extractRunLink(new Request('http://127.0.0.1/', { headers: value.headers }))).toEqual(link);
  });

  it('at the top level of a run carries the run alone and drops a stale step id', async () => {
    const carrier = { baggage: 'agentbus.span_id=stale' };
    await runContext(() => {
      injectRunLink(carrier);
    }, { runId: 'top-level' });
    expect(carrier).toEqual({ baggage: 'agentbus.run_id=top-level' });
    expect(extractRunLink(carrier)).toEqual({ parentRunId: 'top-level' });
  });

  it('percent-encodes the ids, so that any span id survives the trip', async () => {
    const odd = 'step, one;two=3 % é\u2603';
    const headers = await runContext(() => {
      const step = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] }, { spanId: odd });
      return step.run(() => injectRunLink(new Headers()));
    }, { runId: 'a:b.c' });
    expect(members(headers.get('baggage'))).toHaveLength(2);
    expect(extractRunLink(headers)).toEqual({ parentRunId: 'a:b.c', parentSpanId: odd });
  });

  it('merges with an existing baggage header: other members kept as they are, only its own keys replaced', async () => {
    const { value, spanId } = await inTool('merging', () => ({
      headers: injectRunLink(new Headers({ baggage: 'userId=alice, agentbus.run_id=stale;p=1,tenant=acme;ttl=5 , agentbus.span_id = old' })),
      // A plain object may spell the name in any case: the value is written where it is, not twice.
      plain: injectRunLink({ Baggage: 'userId=alice', 'content-type': 'application/json' }),
    }));
    expect(members(value.headers.get('baggage'))).toEqual([
      'agentbus.run_id=merging',
      `agentbus.span_id=${spanId}`,
      'userId=alice',
      'tenant=acme;ttl=5',
    ]);
    expect(value.plain).toEqual({
      Baggage: `agentbus.run_id=merging,agentbus.span_id=${spanId},userId=alice`,
      'content-type': 'application/json',
    });
  });

  it('stays within the W3C limits of 180 members and 8192 bytes, leaving members out whole', async () => {
    const many = Array.from({ length: 200 }, (_, i) => `k${i}=v${i}`).join(',');
    const big = Array.from({ length: 10 }, (_, i) => `big${i}=${'x'.repeat(1000)}`).join(',');
    const { value, spanId } = await inTool('limits', () => ({ many: injectRunLink({ baggage: many }), big: injectRunLink({ baggage: big }) }));
    const fromMany = members(value.many.baggage);
    expect(fromMany).toHaveLength(180);
    expect(fromMany.slice(0, 3)).toEqual(['agentbus.run_id=limits', `agentbus.span_id=${spanId}`, 'k0=v0']);
    expect(fromMany.at(-1)).toBe('k177=v177');
    const fromBig = members(value.big.baggage);
    expect(Buffer.byteLength(value.big.baggage, 'utf8')).toBeLessThanOrEqual(8192);
    expect(fromBig.slice(2)).toEqual(Array.from({ length: 8 }, (_, i) => `big${i}=${'x'.repeat(1000)}`));
    expect(extractRunLink(value.many)).toEqual({ parentRunId: 'limits', parentSpanId: spanId });
    expect(extractRunLink(value.big)).toEqual({ parentRunId: 'limits', parentSpanId: spanId });
  });

  it('never throws into the caller, whatever the carrier, and the tool goes on', async () => {
    const frozen = Object.freeze({ baggage: 'a=1' });
    const throwing = new Proxy({}, {
      get() { throw new Error('get trap'); },
      set() { throw new Error('set trap'); },
      has() { throw new Error('has trap'); },
      ownKeys() { throw new Error('ownKeys trap'); },
      getOwnPropertyDescriptor() { throw new Error('descriptor trap'); },
      defineProperty() { throw new Error('defineProperty trap'); },
      deleteProperty() { throw new Error('deleteProperty trap'); },
      getPrototypeOf() { throw new Error('getPrototypeOf trap'); },
    });
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    class RefusingHeaders extends Headers {
      override set(): void {
        throw new TypeError('refused');
      }
    }
    const getterBomb = {
      get baggage(): string {
        throw new Error('boom');
      },
    };
    const carriers: unknown[] = [frozen, throwing, revocable.proxy, new RefusingHeaders(), getterBomb, null, undefined, 42, 'text'];
    const { value } = await inTool('hostile-carriers', () => {
      for (const carrier of carriers) {
        expect(injectRunLink(carrier as Record<string, string>)).toBe(carrier);
      }
      // Latin-1 and junk already in a Headers: the link is still written and readable.
      return injectRunLink(new Headers({ baggage: 'caf\u00e9=\u00ff,,;;=, =x' }));
    });
    expect(frozen).toEqual({ baggage: 'a=1' });
    expect(extractRunLink(value)?.parentRunId).toBe('hostile-carriers');
    const completed = history('hostile-carriers').find((e) => e.eventType === 'agent.tool.completed');
    expect(completed?.data).toMatchObject({ success: true });
  });

  it('writes the traceparent and tracestate a trace bridge provides, replacing a stale tracestate', async () => {
    const calls: Array<[string, string | undefined]> = [];
    const stop = provideTraceContext((runId, spanId) => {
      calls.push([runId, spanId]);
      return { traceparent: TRACEPARENT, tracestate: spanId === undefined ? undefined : `agentbus=${spanId}` };
    });
    let inStep: Headers | undefined;
    const topLevel: Record<string, string> = { TraceState: 'stale=1' };
    const topLevelHeaders = new Headers({ tracestate: 'stale=1' });
    try {
      await runContext(async () => {
        injectRunLink(topLevel);
        injectRunLink(topLevelHeaders);
        await traceTool({ name: 'call_service', args: {} }, () => {
          inStep = injectRunLink(new Headers({ tracestate: 'stale=1' }));
        });
      }, { runId: 'traced' });
    } finally {
      stop();
    }
    const spanId = toolStep('traced');
    expect(calls).toEqual([['traced', undefined], ['traced', undefined], ['traced', spanId]]);
    expect(inStep?.get('traceparent')).toBe(TRACEPARENT);
    expect(inStep?.get('tracestate')).toBe(`agentbus=${spanId}`);
    // A tracestate belongs to the traceparent it came with: without a new one, the stale one goes.
    expect(topLevel).toEqual({ baggage: 'agentbus.run_id=traced', traceparent: TRACEPARENT });
    expect([...topLevelHeaders.keys()].sort()).toEqual(['baggage', 'traceparent']);
    expect(extractRunLink(inStep!)).toEqual({ parentRunId: 'traced', parentSpanId: spanId, traceparent: TRACEPARENT, tracestate: `agentbus=${spanId}` });
    // Once the provider is gone (the bridge shut down), only baggage is written.
    const after = await runContext(() => injectRunLink(new Headers()));
    expect(after.has('baggage')).toBe(true);
    expect(after.has('traceparent')).toBe(false);
  });

  it('a provider that throws costs only the traceparent', async () => {
    const stop = provideTraceContext(() => {
      throw new Error('bridge bug');
    });
    try {
      const { value, spanId } = await inTool('provider-throws', () => injectRunLink({}));
      expect(value).toEqual({ baggage: `agentbus.run_id=provider-throws,agentbus.span_id=${spanId}` });
    } finally {
      stop();
    }
  });
});

describe('extractRunLink', () => {
  it('reads node:http header objects, arrays of values included, and messages that carry headers', () => {
    expect(extractRunLink({ baggage: ['tenant=acme', 'agentbus.run_id=r-1,agentbus.span_id=s-1'] })).toEqual({ parentRunId: 'r-1', parentSpanId: 's-1' });
    expect(extractRunLink({ headers: { baggage: 'agentbus.run_id=r-2' } })).toEqual({ parentRunId: 'r-2' });
    expect(extractRunLink({ Baggage: 'agentbus.run_id=r-3' })).toEqual({ parentRunId: 'r-3' });
    // Optional whitespace and properties, as the W3C grammar allows; the first occurrence counts.
    expect(extractRunLink({ baggage: ' agentbus.run_id = r-4 ;prop=x , agentbus.run_id=r-5' })).toEqual({ parentRunId: 'r-4' });
    const nullPrototype = Object.assign(Object.create(null) as Record<string, string>, { baggage: 'agentbus.run_id=r-6' });
    expect(extractRunLink(nullPrototype)).toEqual({ parentRunId: 'r-6' });
  });

  it.each([
    ['no baggage', {}],
    ['an empty baggage', { baggage: '' }],
    ['baggage of someone else', { baggage: 'userId=alice' }],
    ['a run id of dots', { baggage: 'agentbus.run_id=..' }],
    ['a run id with a space', { baggage: 'agentbus.run_id=has%20space' }],
    ['a run id with a slash', { baggage: 'agentbus.run_id=a%2Fb' }],
    ['a run id of 129 characters', { baggage: `agentbus.run_id=${'x'.repeat(129)}` }],
    ['a broken percent-encoding', { baggage: 'agentbus.run_id=%E0%A4%A' }],
    ['a lone percent sign', { baggage: 'agentbus.run_id=%' }],
    ['an empty run id', { baggage: 'agentbus.run_id=' }],
    ['a traceparent alone', { traceparent: TRACEPARENT }],
    ['a baggage that is not text', { baggage: [1, 2] as unknown as string[] }],
  ])('gives undefined for %s', (_name, headers) => {
    expect(extractRunLink(headers)).toBeUndefined();
  });

  it.each([
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT_ID}-01`],
    ['an all-zero parent id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['uppercase hex', `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`],
    ['version ff', `ff-${TRACE_ID}-${PARENT_ID}-01`],
    ['a short trace id', `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`],
    ['a short parent id', `00-${TRACE_ID}-${PARENT_ID.slice(1)}-01`],
    ['one-digit flags', `00-${TRACE_ID}-${PARENT_ID}-1`],
    ['version 00 with more fields', `${TRACEPARENT}-extra`],
    ['a non-hex character', `00-${TRACE_ID.slice(0, 31)}g-${PARENT_ID}-01`],
    ['two values of two traces', [TRACEPARENT, `00-${'1'.repeat(32)}-${PARENT_ID}-01`]],
    ['three values of one trace', [TRACEPARENT, TRACEPARENT, TRACEPARENT]],
    ['a valid and a malformed value', `${TRACEPARENT},00-zz`],
    ['an empty value', ''],
    ['a huge later version', `01-${TRACE_ID}-${PARENT_ID}-01-${'x'.repeat(10_000)}`],
  ])('leaves out a traceparent with %s and keeps the run link', (_name, traceparent) => {
    const link = extractRunLink({ baggage: 'agentbus.run_id=r,agentbus.span_id=s', traceparent, tracestate: 'vendor=1' });
    expect(link).toEqual({ parentRunId: 'r', parentSpanId: 's' });
    expect(link?.traceparent).toBeUndefined();
    expect(link?.tracestate).toBeUndefined();
  });

  it('takes the last of two traceparents of one trace: an HTTP client instrumentation appended its span to ours', () => {
    const clientSpan = `00-${TRACE_ID}-${'a'.repeat(16)}-01`;
    const baggage = 'agentbus.run_id=r';
    // As instrumentation-undici leaves them: a second header, read back joined.
    const headers = new Headers({ baggage, traceparent: TRACEPARENT });
    headers.append('traceparent', clientSpan);
    expect(extractRunLink(headers)?.traceparent).toBe(clientSpan);
    // As node:http's req.headers joins repeated unknown headers.
    expect(extractRunLink({ baggage, traceparent: `${TRACEPARENT}, ${clientSpan}` })?.traceparent).toBe(clientSpan);
    expect(extractRunLink({ baggage, traceparent: [TRACEPARENT, clientSpan] })?.traceparent).toBe(clientSpan);
  });

  it('keeps a valid traceparent, reads a later version by the forward-compatibility rule, and keeps tracestate with it', () => {
    const baggage = 'agentbus.run_id=r';
    expect(extractRunLink({ baggage, traceparent: ` ${TRACEPARENT} `, tracestate: 'a=1,b=2' })).toEqual({
      parentRunId: 'r',
      traceparent: TRACEPARENT,
      tracestate: 'a=1,b=2',
    });
    expect(extractRunLink({ baggage, traceparent: `cc-${TRACE_ID}-${PARENT_ID}-01-what-comes-next` })?.traceparent).toBe(TRACEPARENT);
    expect(extractRunLink({ baggage, traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` })?.traceparent).toBe(`00-${TRACE_ID}-${PARENT_ID}-00`);
    // tracestate: over 512 characters, with control or non-ASCII characters, it is left out.
    for (const tracestate of [`a=${'x'.repeat(511)}`, 'a=1\u0007', 'a=\u00e9']) {
      expect(extractRunLink({ baggage, traceparent: TRACEPARENT, tracestate })).toEqual({ parentRunId: 'r', traceparent: TRACEPARENT });
    }
  });

  it.each([
    ['a control character', 'agentbus.span_id=a%0Ab'],
    ['257 characters', `agentbus.span_id=${'s'.repeat(257)}`],
    ['a broken percent-encoding', 'agentbus.span_id=%ZZ'],
    ['an empty id', 'agentbus.span_id='],
  ])('leaves out a step id with %s and keeps the run link', (_name, member) => {
    expect(extractRunLink({ baggage: `agentbus.run_id=r,${member}` })).toEqual({ parentRunId: 'r' });
  });

  it('reads no further than the W3C limits of a hostile baggage: 8192 bytes, 180 members', () => {
    const megabyte = 'x'.repeat(1 << 20);
    expect(extractRunLink({ baggage: `agentbus.run_id=first,junk=${megabyte}` })).toEqual({ parentRunId: 'first' });
    expect(extractRunLink({ baggage: `junk=${megabyte},agentbus.run_id=last` })).toBeUndefined();
    expect(extractRunLink(new Headers({ baggage: `agentbus.run_id=first,junk=${megabyte}` }))).toEqual({ parentRunId: 'first' });
    // A member cut by the byte limit is left out whole, not read in part.
    const filler = `f=${'y'.repeat(8192 - 'f=,agentbus.run_id=r'.length - 1)}`;
    expect(extractRunLink({ baggage: `${filler},agentbus.run_id=r` })).toEqual({ parentRunId: 'r' });
    expect(extractRunLink({ baggage: `${filler},agentbus.run_id=run-cut` })).toBeUndefined();
    const others = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
    expect(extractRunLink({ baggage: `${others(179)},agentbus.run_id=r` })).toEqual({ parentRunId: 'r' });
    expect(extractRunLink({ baggage: `${others(180)},agentbus.run_id=r` })).toBeUndefined();
    expect(extractRunLink({ baggage: Array.from({ length: 200 }, () => 'agentbus.run_id=r') })).toEqual({ parentRunId: 'r' });
  });

  it('never throws on a hostile source, and finds no link in it', () => {
    const throwing = new Proxy({}, {
      get() { throw new Error('get trap'); },
      has() { throw new Error('has trap'); },
      ownKeys() { throw new Error('ownKeys trap'); },
      getOwnPropertyDescriptor() { throw new Error('descriptor trap'); },
      getPrototypeOf() { throw new Error('getPrototypeOf trap'); },
    });
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const sources: unknown[] = [
      throwing,
      revocable.proxy,
      { get baggage(): string { throw new Error('boom'); } },
      { get() { throw new Error('get'); }, set() {} },
      { headers: throwing },
      { baggage: { toString: () => 'agentbus.run_id=r' } },
      null,
      undefined,
      42,
      'agentbus.run_id=r',
      Symbol('headers'),
    ];
    for (const source of sources) {
      expect(extractRunLink(source as Record<string, string>)).toBeUndefined();
    }
  });
});

describe('runContext with a link', () => {
  it('emits run.started with the link: parent run, parent step and trace context', async () => {
    const link: RunLink = { parentRunId: 'caller', parentSpanId: 'step-1', traceparent: TRACEPARENT, tracestate: 'vendor=1' };
    await runContext(() => undefined, { runId: 'callee', link });
    const started = history('callee')[0]!;
    expect(started.eventType).toBe('run.started');
    expect(started.data).toEqual({ parentRunId: 'caller', parentSpanId: 'step-1', traceparent: TRACEPARENT, tracestate: 'vendor=1' });
    // The catalogue knows the new fields: a validated copy (as an SSE client makes) keeps them.
    expect(parseStreamEvent(JSON.parse(JSON.stringify(started))).data).toEqual(started.data);
  });

  it('with a link, the link is the parent even inside another local run, which still passes on content capture', async () => {
    await runContext(async () => {
      await traceTool({ name: 'local_tool', args: {} }, () =>
        runContext(() => traceTool({ name: 'inner', args: { secret: 1 } }, () => 1), { runId: 'linked-child', link: { parentRunId: 'remote' } }),
      );
    }, { runId: 'local', captureContent: true });
    const [started, toolStarted] = history('linked-child');
    expect(started?.data).toEqual({ parentRunId: 'remote' });
    expect(toolStarted?.data).toMatchObject({ args: { secret: 1 } });
  });

  it.each([
    ['null', null, /^link must be a RunLink object \(as extractRunLink returns\) or undefined, got null$/],
    ['a string', 'run-1', /^link must be a RunLink object .* got "run-1"$/],
    ['no parent run', {}, /^link\.parentRunId must be 1-128 characters .*, got undefined$/],
    ['a parent run of dots', { parentRunId: '..' }, /^link\.parentRunId must be .*, got "\.\."$/],
    ['a numeric step', { parentRunId: 'r', parentSpanId: 7 }, /^link\.parentSpanId must be undefined or 1-256 characters without control characters, got 7$/],
    ['a step of 257 characters', { parentRunId: 'r', parentSpanId: 's'.repeat(257) }, /^link\.parentSpanId must be/],
    ['a numeric traceparent', { parentRunId: 'r', traceparent: 1 }, /^link\.traceparent must be undefined or a string of at most 512 characters, got 1$/],
    ['a tracestate of 513 characters', { parentRunId: 'r', tracestate: 'x'.repeat(513) }, /^link\.tracestate must be .*, got 513 characters$/],
  ])('refuses a link with %s with a precise TypeError, before the run starts', async (_name, link, message) => {
    const attempt = runContext(() => undefined, { runId: 'bad-link', link: link as RunLink });
    await expect(attempt).rejects.toThrow(TypeError);
    await expect(attempt).rejects.toThrow(message);
    expect(history('bad-link')).toEqual([]);
  });
});

describe('across a real HTTP service on 127.0.0.1', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The service: opens its run from the incoming request's link, as a user's handler would.
    server = createServer((req, res) => {
      void runContext(async (runId) => {
        emit('service.request.handled', { path: req.url ?? '' });
        return runId;
      }, { link: extractRunLink(req.headers) }).then((runId) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ runId }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/work`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    ['a plain object', () => injectRunLink({})],
    ['a Headers', () => injectRunLink(new Headers({ accept: 'application/json' }))],
  ])('a tool that calls it with fetch and headers from %s makes its run a child run of that tool call', async (_name, headers) => {
    const { value, spanId } = await inTool('http-caller', async () => {
      const response = await fetch(url, { headers: headers() });
      return (await response.json()) as { runId: string };
    });
    expect(value.runId).not.toBe('http-caller');
    const started = history(value.runId)[0];
    expect(started?.eventType).toBe('run.started');
    expect(started?.data).toMatchObject({ parentRunId: 'http-caller', parentSpanId: spanId });
    expect(history(value.runId).map((e) => e.eventType)).toEqual(['run.started', 'service.request.handled', 'run.completed']);
  });
});
