/**
 * SSE fan-out: 1,000 concurrent subscribers (real HTTP on 127.0.0.1) on one
 * run, 10,000 events. Reports whether every event reached every subscriber,
 * delivery latency (publish timestamp -> client receipt, p50/p99), and peak
 * RSS of the server and of the client process.
 *
 * The clients run in a child process (raw http.get + eventsource-parser), so
 * the server has one core and the clients the other. Baseline, same run: the
 * same events fanned out to 1,000 in-process bus subscribers (no HTTP).
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createParser } from 'eventsource-parser';
import { EventBus } from '../src/bus.js';
import type { StreamEvent } from '../src/events.js';
import { createSseHandler, toNodeListener } from '../src/sse/index.js';
import { quantile, report, round } from './measure.js';

const SUBSCRIBERS = Number(process.env.SSE_FANOUT_SUBSCRIBERS ?? 1000);
const EVENTS = Number(process.env.SSE_FANOUT_EVENTS ?? 10_000);
const BATCH = 20;
// Every Nth delivery's latency is kept (10M samples would cost more memory than the bench measures).
const SAMPLE_EVERY = 7;

interface ClientReport {
  delivered: number;
  complete: number;
  outOfOrder: number;
  errors: string[];
  latencies: number[];
  maxRssKb: number;
}

const now = () => performance.timeOrigin + performance.now();

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

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function clients(url: string, count: number): Promise<void> {
  const result: ClientReport = { delivered: 0, complete: 0, outOfOrder: 0, errors: [], latencies: [], maxRssKb: 0 };
  let connected = 0;
  let finished = 0;
  const done = new Promise<void>((resolve) => {
    for (let c = 0; c < count; c++) {
      let expected = 1;
      let n = 0;
      const parser = createParser({
        onEvent: (message) => {
          if (message.event === 'end') return;
          const receipt = now();
          const seq = Number(message.id);
          if (seq !== expected) result.outOfOrder++;
          expected = seq + 1;
          result.delivered++;
          if (++n % SAMPLE_EVERY === 0) {
            // The publish timestamp, read without parsing the whole event.
            const at = message.data.indexOf('"timestamp":') + 12;
            result.latencies.push(receipt - Number.parseFloat(message.data.slice(at, message.data.indexOf(',', at))));
          }
        },
      });
      const req = http.get(url, { agent: false }, (res) => {
        res.setEncoding('utf8');
        if (++connected === count) process.send?.({ type: 'connected' });
        res.on('data', (chunk: string) => parser.feed(chunk));
        res.on('end', () => {
          if (expected === EVENTS + 1) result.complete++;
          if (++finished === count) resolve();
        });
      });
      req.on('error', (error) => {
        result.errors.push(error.message);
        if (++finished === count) resolve();
      });
    }
  });
  await done;
  result.maxRssKb = process.resourceUsage().maxRSS;
  // Wait until the report is handed over: exiting right after send() could lose it.
  await new Promise<void>((resolve) => process.send?.({ type: 'report', report: result }, undefined, {}, () => resolve()));
}

async function inProcessBaseline(): Promise<number> {
  const bus = new EventBus({ highWaterMark: EVENTS + 10 });
  bus.publish({ ...event(0), eventType: 'run.started', data: {} });
  let delivered = 0;
  const readers = Array.from({ length: SUBSCRIBERS }, async () => {
    for await (const _ of bus.subscribe('fanout', { afterSeq: 1 })) delivered++;
  });
  const t0 = performance.now();
  for (let i = 1; i <= EVENTS; i++) {
    bus.publish(event(i));
    if (i % BATCH === 0) await tick();
  }
  bus.closeStream('fanout');
  await Promise.all(readers);
  if (delivered !== SUBSCRIBERS * EVENTS) throw new Error(`baseline delivered ${delivered}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const bus = new EventBus({ highWaterMark: EVENTS + 10 });
  // Retain the events the subscribers will read (their seqs start at 1).
  const server = http.createServer(toNodeListener(createSseHandler({ bus, public: true, heartbeatMs: 60_000 })));
  server.maxConnections = SUBSCRIBERS + 10;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/runs/fanout/events?lastEventId=0`;
  bus.publish({ ...event(0), eventType: 'run.started', data: {} }); // seq 1: the run exists
  const child = fork(process.argv[1] as string, ['--clients', url, String(SUBSCRIBERS)], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const reportPromise = new Promise<ClientReport>((resolve, reject) => {
    child.on('message', (m: { type: string; report?: ClientReport }) => {
      if (m.type === 'report') resolve(m.report as ClientReport);
    });
    child.on('exit', (code) => reject(new Error(`client process exited with ${code}`)));
  });
  await new Promise<void>((resolve) => child.on('message', (m: { type: string }) => m.type === 'connected' && resolve()));
  while (bus.stats().subscribers < SUBSCRIBERS) await new Promise((resolve) => setTimeout(resolve, 10));

  const t0 = performance.now();
  for (let i = 2; i <= EVENTS; i++) {
    bus.publish(event(i));
    if (i % BATCH === 0) await tick();
  }
  const publishedMs = performance.now() - t0;
  bus.closeStream('fanout');
  const clientReport = await reportPromise;
  const totalMs = performance.now() - t0;
  server.close();
  // Read before the baseline runs in this process, so that it is the SSE server's own peak.
  const serverRssKb = process.resourceUsage().maxRSS;
  const baselineMs = await inProcessBaseline();

  const expected = SUBSCRIBERS * EVENTS;
  const latencies = clientReport.latencies;
  report('sse-fanout', {
    subscribers: SUBSCRIBERS,
    events: EVENTS,
    delivered: clientReport.delivered,
    expected,
    allDelivered: clientReport.delivered === expected && clientReport.complete === SUBSCRIBERS && clientReport.outOfOrder === 0,
    outOfOrder: clientReport.outOfOrder,
    clientErrors: clientReport.errors.length,
    droppedByBus: bus.stats().dropped,
    latencyMs: { p50: round(quantile(latencies, 0.5)), p90: round(quantile(latencies, 0.9)), p99: round(quantile(latencies, 0.99)), max: round(quantile(latencies, 1)) },
    latencySamples: latencies.length,
    publishMs: round(publishedMs),
    totalMs: round(totalMs),
    deliveriesPerSec: Math.round(expected / (totalMs / 1000)),
    peakRssMb: { server: round(serverRssKb / 1024, 1), clients: round(clientReport.maxRssKb / 1024, 1) },
    baseline: { what: '1,000 in-process bus subscribers, same events', totalMs: round(baselineMs) },
    ratioVsInProcess: round(totalMs / baselineMs),
  });
}

if (process.argv[2] === '--clients') {
  await clients(process.argv[3] as string, Number(process.argv[4]));
  process.exit(0);
} else {
  await main();
}
