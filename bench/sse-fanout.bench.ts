/**
 * SSE fan-out: 10, 100 and 1,000 concurrent subscribers (real HTTP on
 * 127.0.0.1) on one run, 10,000 events each time, with the default queue
 * bound (the bus's `highWaterMark`, not raised to the event count) and a
 * publisher that does not pace itself to the sockets: it publishes bursts of
 * `BURST` events and yields the event loop between them (`setImmediate`),
 * never waiting for a delivery. A client slower than the publisher may then
 * legitimately lose events: what it lost is reported (`dropped`), beside
 * what the bus told it with `stream.dropped` (`droppedReported`).
 *
 * Per subscriber count, repeated (`spread`: min/median/max of repetitions):
 * - `serverUsPerDelivery`: the server process's CPU time (user + system,
 *   `process.cpuUsage`) from the first publish until every client has read
 *   its `event: end`, divided by the events the clients received. CPU time,
 *   not wall time, so that the clients sharing the machine do not count.
 *   The publisher runs in the server process and is included.
 * - `latencyMs`: publish timestamp -> receipt by the client (parsed), p50,
 *   p99, max of each repetition. With an unpaced publisher, a client slower
 *   than the server falls behind and its lag (in the socket buffers) is part
 *   of this; `clientUsPerDelivery` and `publishMs` against `wallMs` (the
 *   clients' catch-up) show it. `serverShareOfLatencyMs`: publish ->
 *   `res.write` of the chunk that carries the event (the oldest event of
 *   every 16th chunk), what the server itself adds.
 * - `baseline`: the same events, bursts and queue bound fanned out to as
 *   many in-process bus subscribers (`for await`), CPU time per delivery;
 *   `ratioVsInProcess` compares the medians.
 *
 * The clients run in one child process (a minimal HTTP/1.1 reader on raw
 * sockets and an SSE parser working on bytes, to keep the load generator
 * cheaper than the server), so the server has one core and the clients the
 * other, on a 2-core machine. The server's
 * `res.write` is wrapped to sample its share of the latency: a check per
 * write, a parse per 16th, counted in its CPU time.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { EventBus } from '../src/bus.js';
import type { StreamEvent } from '../src/events.js';
import { createSseHandler, toNodeListener } from '../src/sse/index.js';
import { median, report, round, spread } from './measure.js';

const COUNTS = (process.env.SSE_FANOUT_SUBSCRIBERS ?? '10,100,1000').split(',').map(Number);
const EVENTS = Number(process.env.SSE_FANOUT_EVENTS ?? 10_000);
const REPS = Number(process.env.SSE_FANOUT_REPS ?? 3);
const BURST = 20;
// Latencies kept per repetition, about: every Nth delivery of a connection is sampled.
const SAMPLES = 200_000;
const TARGET = { subscribers: 1000, usPerDelivery: 0.5, p99Ms: 50 };

interface ClientReport {
  connections: number;
  delivered: number;
  /** Connections whose last event before `end` was the run's last event. */
  reachedLast: number;
  /** Seqs that went backwards or repeated. */
  outOfOrder: number;
  /** Sum of the counts of the `stream.dropped` frames received. */
  droppedReported: number;
  droppedFrames: number;
  ended: number;
  errors: string[];
  latencyMs: { p50: number; p99: number; max: number };
  samples: number;
  /** The client process's CPU time per delivery, µs: latency grows when it exceeds the server's. */
  usPerDelivery: number;
  maxRssKb: number;
}

type ToClients = { type: 'run'; url: string; count: number; events: number } | { type: 'exit' };
type FromClients = { type: 'connected' } | { type: 'report'; report: ClientReport };

const now = () => performance.timeOrigin + performance.now();
const tick = () => new Promise((resolve) => setImmediate(resolve));

function event(i: number): StreamEvent {
  return {
    eventId: '',
    runId: 'fanout',
    seq: 0,
    eventType: 'agent.tool.completed',
    timestamp: now(),
    spanId: 'a1b2c3d4e5f60718',
    parentSpanId: '0123456789abcdef',
    data: { toolName: 'search', toolCallId: `call_${i}`, success: true, durationMs: 1.5, outputPreview: 'ok' },
  };
}

/** Publishes events 2..EVENTS (seq 1 opened the run) in bursts, yielding between bursts, never waiting for readers. */
async function publishAll(bus: EventBus): Promise<void> {
  for (let i = 2; i <= EVENTS; i++) {
    bus.publish(event(i));
    if (i % BURST === 0) await tick();
  }
  bus.closeStream('fanout');
}

function quantileOfSorted(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

// ---- the client process ----

const [NEWLINE, COLON, COMMA, E, I, R] = [...Buffer.from('\n:,eir')] as [number, number, number, number, number, number];
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

interface ResponseHandlers {
  head(status: number): void;
  body(payload: Buffer): void;
  end(): void;
  error(message: string): void;
}

/**
 * One `GET` on a raw socket, its answer read as HTTP/1.1 with a chunked
 * body: the status line and headers, then the payload of each chunk in
 * slices as it arrives, then the end at the last (empty) chunk. Node's HTTP
 * client would cost the load generator more per chunk than the server pays
 * to write one.
 */
function get(url: URL, on: ResponseHandlers): void {
  const socket = net.connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
  let head: Buffer | undefined = Buffer.alloc(0); // the head until its blank line, then undefined
  let sizeLine = ''; // a chunk-size line read so far
  let left = 0; // payload bytes left in this chunk; then the 2 of its CRLF
  let state: 'size' | 'data' | 'crlf' | 'done' = 'size';
  const fail = (message: string) => {
    if (state === 'done') return;
    state = 'done';
    socket.destroy();
    on.error(message);
  };
  socket.on('data', (chunk: Buffer) => {
    let at = 0;
    if (head !== undefined) {
      const all = Buffer.concat([head, chunk]);
      const end = all.indexOf(HEAD_END);
      if (end === -1) {
        head = all;
        return;
      }
      const text = all.toString('latin1', 0, end);
      head = undefined;
      const status = Number(text.slice(9, 12));
      if (status !== 200 || !/\r\ntransfer-encoding: *chunked/i.test(text)) return fail(`unexpected answer: ${text.split('\r\n')[0]}`);
      on.head(status);
      chunk = all.subarray(end + 4);
    }
    while (at < chunk.length && state !== 'done') {
      if (state === 'size') {
        const eol = chunk.indexOf(NEWLINE, at);
        sizeLine += chunk.toString('latin1', at, eol === -1 ? chunk.length : eol);
        if (eol === -1) return;
        at = eol + 1;
        left = Number.parseInt(sizeLine, 16); // stops at a chunk extension or the CR
        sizeLine = '';
        if (Number.isNaN(left)) return fail('bad chunk size');
        if (left === 0) {
          state = 'done';
          socket.destroy();
          on.end();
          return;
        }
        state = 'data';
      } else if (state === 'data') {
        const n = Math.min(left, chunk.length - at);
        on.body(chunk.subarray(at, at + n));
        at += n;
        left -= n;
        if (left === 0) {
          state = 'crlf';
          left = 2;
        }
      } else {
        if (chunk[at] !== CRLF[2 - left]) return fail('chunk not followed by CRLF');
        at++;
        if (--left === 0) state = 'size';
      }
    }
  });
  socket.on('error', (error) => fail(error.message));
  socket.on('close', () => fail('closed before the end of the body'));
}

function runClients(url: string, count: number, events: number): Promise<ClientReport> {
  const result: ClientReport = {
    connections: count,
    delivered: 0,
    reachedLast: 0,
    outOfOrder: 0,
    droppedReported: 0,
    droppedFrames: 0,
    ended: 0,
    errors: [],
    latencyMs: { p50: 0, p99: 0, max: 0 },
    samples: 0,
    usPerDelivery: 0,
    maxRssKb: 0,
  };
  const cpu0 = process.cpuUsage();
  const every = Math.max(1, Math.round((count * events) / SAMPLES));
  const latencies = new Float64Array(Math.ceil((count * events) / every) + count);
  let sampled = 0;
  let connected = 0;
  let finished = 0;
  return new Promise((resolve) => {
    const done = () => {
      if (++finished < count) return;
      const sorted = latencies.subarray(0, sampled).sort();
      result.samples = sampled;
      const cpu = process.cpuUsage(cpu0);
      result.usPerDelivery = round((cpu.user + cpu.system) / Math.max(1, result.delivered), 3);
      result.latencyMs = { p50: round(quantileOfSorted(sorted, 0.5)), p99: round(quantileOfSorted(sorted, 0.99)), max: round(quantileOfSorted(sorted, 1)) };
      result.maxRssKb = process.resourceUsage().maxRSS;
      resolve(result);
    };
    for (let c = 0; c < count; c++) {
      let lastSeq = 0;
      let n = 0;
      let rest: Buffer | undefined;
      let sawEnd = false;
      // One frame, bytes start..end of buf: `event:` and `data:` lines, `id:` first on the run's own events.
      const frame = (buf: Buffer, start: number, end: number) => {
        let at = start;
        if (buf[at] === COLON) return; // the opening comment, heartbeats
        if (buf[at] === R) at = buf.indexOf(NEWLINE, at) + 1; // `retry:` on the first frame
        if (buf[at] === E) {
          // `event: end`, or `event: stream.dropped` (no id line)
          if (buf[at + 7] === E) sawEnd = true;
          else if (buf.toString('latin1', at, at + 21) === 'event: stream.dropped') {
            result.droppedFrames++;
            const count = buf.indexOf('"count":', at) + 8;
            result.droppedReported += Number.parseInt(buf.toString('latin1', count, count + 12), 10);
          } else result.errors.push(`unexpected frame ${buf.toString('latin1', at, Math.min(end, at + 60))}`);
          return;
        }
        if (buf[at] !== I) {
          result.errors.push(`unexpected frame ${buf.toString('latin1', at, Math.min(end, at + 60))}`);
          return;
        }
        let seq = 0;
        for (let i = at + 4; buf[i] !== NEWLINE; i++) seq = seq * 10 + ((buf[i] as number) - 48);
        if (seq <= lastSeq) result.outOfOrder++;
        lastSeq = seq;
        result.delivered++;
        if (++n % every === 0) {
          // The publish timestamp, read without parsing the whole event.
          const stamp = buf.indexOf('"timestamp":', at) + 12;
          latencies[sampled++] = now() - Number.parseFloat(buf.toString('latin1', stamp, buf.indexOf(COMMA, stamp)));
        }
      };
      get(new URL(url), {
        head: () => {
          if (++connected === count) process.send?.({ type: 'connected' } satisfies FromClients);
        },
        body: (payload) => {
          const buf = rest === undefined ? payload : Buffer.concat([rest, payload]);
          let from = 0;
          // Frames end at a blank line; a lone newline ends a line within one.
          for (let at = buf.indexOf(NEWLINE); at !== -1; at = buf.indexOf(NEWLINE, at + 1)) {
            if (buf[at + 1] !== NEWLINE) continue;
            frame(buf, from, at);
            from = at + 2;
            at++;
          }
          rest = from === buf.length ? undefined : buf.subarray(from);
        },
        end: () => {
          if (rest !== undefined) result.errors.push('a frame cut off by the end of the body');
          if (sawEnd) result.ended++;
          if (lastSeq === events) result.reachedLast++;
          done();
        },
        error: (message) => {
          result.errors.push(message);
          done();
        },
      });
    }
  });
}

async function clientProcess(): Promise<void> {
  process.on('message', (message: ToClients) => {
    if (message.type === 'exit') process.exit(0);
    void runClients(message.url, message.count, message.events).then((clientReport) =>
      process.send?.({ type: 'report', report: clientReport } satisfies FromClients),
    );
  });
}

// ---- the server process ----

interface Repetition {
  client: ClientReport;
  serverUsPerDelivery: number;
  /** Publish -> `res.write` of the chunk that carries it, for the oldest event of sampled chunks. */
  writeLatencyMs: { p50: number; p99: number; max: number };
  busDropped: number;
  publishMs: number;
  wallMs: number;
}

// Every Nth chunk handed to res.write is sampled for the server's share of the latency.
const WRITE_SAMPLE_EVERY = 16;

/**
 * Records, for every Nth chunk `res.write` is given, how long ago its first
 * event was published: the server's own share of the latency, which a client
 * that falls behind does not change.
 */
function sampleWrites(res: http.ServerResponse, into: number[]): void {
  const write = res.write;
  let n = 0;
  res.write = function sampled(this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (++n % WRITE_SAMPLE_EVERY === 0 && chunk instanceof Uint8Array) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const at = bytes.indexOf('"timestamp":');
      if (at !== -1) into.push(now() - Number.parseFloat(bytes.toString('latin1', at + 12, bytes.indexOf(',', at + 12))));
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
}

function latencyOf(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: round(quantileOfSorted(sorted, 0.5)), p99: round(quantileOfSorted(sorted, 0.99)), max: round(quantileOfSorted(sorted, 1)) };
}

function nextMessage<T extends FromClients['type']>(child: ReturnType<typeof fork>, type: T): Promise<Extract<FromClients, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromClients) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as Extract<FromClients, { type: T }>);
    };
    const onExit = (code: number | null) => reject(new Error(`client process exited with ${code}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function overHttp(child: ReturnType<typeof fork>, subscribers: number): Promise<Repetition> {
  const bus = new EventBus(); // the default queue bound
  const listener = toNodeListener(createSseHandler({ bus, public: true, heartbeatMs: 60_000 }));
  const writeLatencies: number[] = [];
  const server = http.createServer((req, res) => {
    sampleWrites(res, writeLatencies);
    listener(req, res);
  });
  server.maxConnections = subscribers + 10;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/runs/fanout/events?lastEventId=0`;
  bus.publish({ ...event(1), eventType: 'run.started', data: {} }); // seq 1: the run exists
  const connected = nextMessage(child, 'connected');
  const reported = nextMessage(child, 'report');
  child.send({ type: 'run', url, count: subscribers, events: EVENTS } satisfies ToClients);
  await connected;
  while (bus.stats().subscribers < subscribers) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 50)); // let the history replay (seq 1) go out
  writeLatencies.length = 0;

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publishAll(bus);
  const publishMs = performance.now() - t0;
  const { report: client } = await reported;
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const busDropped = bus.stats().dropped;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    client,
    serverUsPerDelivery: (cpu.user + cpu.system) / Math.max(1, client.delivered),
    writeLatencyMs: latencyOf(writeLatencies),
    busDropped,
    publishMs,
    wallMs,
  };
}

/** The same events, bursts and queue bound to `subscribers` in-process bus subscribers: CPU µs per delivery. */
async function inProcess(subscribers: number): Promise<{ usPerDelivery: number; delivered: number }> {
  const bus = new EventBus();
  bus.publish({ ...event(1), eventType: 'run.started', data: {} });
  let delivered = 0;
  const readers = Array.from({ length: subscribers }, async () => {
    for await (const e of bus.subscribe('fanout', { afterSeq: 1 })) if (e.seq > 0) delivered++;
  });
  const cpu0 = process.cpuUsage();
  await publishAll(bus);
  await Promise.all(readers);
  const cpu = process.cpuUsage(cpu0);
  return { usPerDelivery: (cpu.user + cpu.system) / Math.max(1, delivered), delivered };
}

async function main(): Promise<void> {
  const child = fork(process.argv[1] as string, ['--clients'], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const results: Record<string, unknown>[] = [];
  let atTarget: { usPerDelivery: number; p99Ms: number } | undefined;
  for (const subscribers of COUNTS) {
    const reps: Repetition[] = [];
    const baseline: number[] = [];
    let baselineDelivered = 0;
    await overHttp(child, subscribers); // warm-up: JIT, sockets
    for (let r = 0; r < REPS; r++) {
      reps.push(await overHttp(child, subscribers));
      const b = await inProcess(subscribers);
      baseline.push(b.usPerDelivery);
      baselineDelivered = b.delivered;
    }
    // Every client reads seq 1 (history) and the EVENTS - 1 published while measured.
    const expected = subscribers * EVENTS;
    const us = reps.map((r) => r.serverUsPerDelivery);
    const p99 = reps.map((r) => r.client.latencyMs.p99);
    if (subscribers === TARGET.subscribers) atTarget = { usPerDelivery: median(us), p99Ms: median(p99) };
    results.push({
      subscribers,
      events: EVENTS,
      expectedPerRep: expected,
      allDelivered: reps.every(
        (r) => r.client.delivered === expected && r.client.reachedLast === subscribers && r.client.ended === subscribers && r.client.outOfOrder === 0 && r.client.errors.length === 0,
      ),
      dropped: reps.map((r) => expected - r.client.delivered),
      droppedReported: reps.map((r) => r.client.droppedReported),
      droppedFrames: reps.map((r) => r.client.droppedFrames),
      busDropped: reps.map((r) => r.busDropped),
      reachedLastEvent: reps.map((r) => r.client.reachedLast),
      endFrames: reps.map((r) => r.client.ended),
      outOfOrder: reps.map((r) => r.client.outOfOrder),
      clientErrors: reps.flatMap((r) => r.client.errors).slice(0, 5),
      serverUsPerDelivery: spread(us, 3),
      clientUsPerDelivery: spread(reps.map((r) => r.client.usPerDelivery), 3),
      latencyMs: {
        p50: spread(reps.map((r) => r.client.latencyMs.p50)),
        p99: spread(p99),
        max: spread(reps.map((r) => r.client.latencyMs.max)),
      },
      latencySamplesPerRep: reps[0]?.client.samples,
      serverShareOfLatencyMs: {
        p50: spread(reps.map((r) => r.writeLatencyMs.p50)),
        p99: spread(reps.map((r) => r.writeLatencyMs.p99)),
        max: spread(reps.map((r) => r.writeLatencyMs.max)),
      },
      publishMs: spread(reps.map((r) => r.publishMs), 0),
      wallMs: spread(reps.map((r) => r.wallMs), 0),
      baseline: {
        what: `${subscribers.toLocaleString('en-US')} in-process bus subscribers, same events, bursts and queue bound`,
        usPerDelivery: spread(baseline, 3),
        delivered: baselineDelivered,
      },
      ratioVsInProcess: round(median(us) / median(baseline), 1),
    });
  }
  child.send({ type: 'exit' } satisfies ToClients);
  report('sse-fanout', {
    burst: BURST,
    queueBound: 'the bus default (highWaterMark 1024)',
    repetitions: REPS,
    perDelivery: 'server process CPU time (user + system) from the first publish until every client read its end frame, / events received by the clients',
    results,
    targets: atTarget === undefined
      ? 'not measured (1,000 subscribers not in SSE_FANOUT_SUBSCRIBERS)'
      : {
          [`usPerDelivery at ${TARGET.subscribers}`]: { target: TARGET.usPerDelivery, median: round(atTarget.usPerDelivery, 3), ok: atTarget.usPerDelivery <= TARGET.usPerDelivery },
          [`p99Ms at ${TARGET.subscribers}`]: {
            target: TARGET.p99Ms,
            median: atTarget.p99Ms,
            ok: atTarget.p99Ms <= TARGET.p99Ms,
            what: 'publish -> receipt by the client process (latencyMs.p99); the server share is serverShareOfLatencyMs',
          },
        },
    peakRssMb: { server: round(process.resourceUsage().maxRSS / 1024, 1) },
  });
}

if (process.argv[2] === '--clients') {
  await clientProcess();
} else {
  await main();
}
