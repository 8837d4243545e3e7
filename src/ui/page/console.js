// The agentbus console: a live list of runs and a waterfall of one run.
// Plain browser JavaScript, no framework and no build step: the package
// serves this file as it is (src/ui/page/), so it must run in any current
// browser unchanged. Everything that came from a stream is written with
// textContent, never as HTML.
//
// Data flow (see src/ui/handler.ts for the routes):
// - the list: `GET <sse>/events` (every run, live, no history and no resume)
//   plus `GET <sse>/runs` (a JSON summary of each retained run), read when the
//   stream connects and again after every reconnect, so runs that started
//   before the page opened, or while it was cut off, are there too;
// - the open run: `GET <sse>/runs/<id>/events` (history, then live), resumed
//   after a drop with Last-Event-ID; each child run has its own stream, opened
//   as the list learns of it.
// Streams are read with fetch, not EventSource: EventSource delivers a named
// frame only to a listener registered for that exact name, and custom event
// types cannot be known in advance. Every event is applied at most once, by
// (runId, seq): a sequence number at or below the last one applied is a
// duplicate (a replay after resume, or an event the run list already counted).
'use strict';

const meta = (name) => {
  const value = document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
  // A page opened without the handler (a file on disk) still has the placeholders.
  return value.startsWith('{{') ? '' : value;
};
const SSE_BASE = meta('agentbus-sse-base').replace(/\/+$/, '');
const PRICES = parsePrices(meta('agentbus-prices'));
// The page keeps at most this many runs (finished ones go first); the list draws at most MAX_ROWS.
const MAX_RUNS = 500;
const MAX_ROWS = 200;
// Streams for child runs open at most this many at a time: with the all-runs stream and the
// open run's they stay under a browser's six connections per origin (HTTP/1.1).
const CHILD_STREAMS = 2;
// The open run keeps at most this many events for the inspector; later ones update bars only.
const MAX_VIEW_EVENTS = 20000;
// ... and draws at most this many steps.
const MAX_STEPS = 3000;

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

function parsePrices(text) {
  try {
    const parsed = text === '' ? {} : JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------- formatting

function fmtMs(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}
const fmtInt = (n) => n.toLocaleString('en-US');
function fmtCost(usd) {
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}
/** An amount in `currency`: dollars as before, any other currency after its ISO code's amount. */
function fmtMoney(amount, currency) {
  if (!Number.isFinite(amount)) return `? ${currency}`;
  if (currency === 'USD') return fmtCost(amount);
  return `${amount === 0 ? '0' : amount.toFixed(amount < 0.01 ? 4 : 2)} ${currency}`;
}
const CURRENCY = /^[A-Z]{3}$/;
// (model, currency) pairs a run's cost keeps: a stream naming more is not believed past these.
const MAX_COST_ENTRIES = 64;
/** The cost an event carries, or undefined unless it is one (the page trusts nothing it reads). */
function eventCost(cost) {
  if (cost === null || typeof cost !== 'object') return undefined;
  const { amount, currency } = cost;
  return typeof amount === 'number' && Number.isFinite(amount) && amount >= 0 && typeof currency === 'string' && CURRENCY.test(currency) ? { amount, currency } : undefined;
}
// How many (model, currency) entries each cost map holds: counted as they are added, not recounted per event.
const costEntries = new WeakMap();
/** Adds `amount` of `currency` to `cost[model]` (model -> currency -> amount), within the bound. */
function addCost(cost, model, currency, amount) {
  const byCurrency = Object.hasOwn(cost, model) ? cost[model] : undefined;
  if (byCurrency !== undefined && Object.hasOwn(byCurrency, currency)) {
    byCurrency[currency] += amount;
    return;
  }
  const entries = costEntries.get(cost) ?? 0;
  if (entries >= MAX_COST_ENTRIES) return;
  costEntries.set(cost, entries + 1);
  (byCurrency ?? (cost[model] = Object.create(null)))[currency] = amount;
}
/**
 * Token totals and cost of runs' `tokens` (model -> { input, output }), `cost`
 * (model -> currency -> amount, from the events' own `cost`) and `uncosted`
 * (model -> tokens of events without one). Events' costs come first; tokens
 * without one are priced from --price (dollars per million), when it has the
 * model. Currencies are summed apart, never into one another: `cost` is
 * currency -> amount, undefined when nothing was priced; `byModel` is a line per model.
 */
function tokenTotals(tokens, cost = Object.create(null), uncosted = tokens) {
  let input = 0;
  let output = 0;
  const sums = new Map();
  const byModel = [];
  const add = (model, currency, amount) => {
    sums.set(currency, (sums.get(currency) ?? 0) + amount);
    byModel.push(`${model}: ${fmtMoney(amount, currency)}`);
  };
  for (const model of Object.keys(tokens)) {
    input += tokens[model].input;
    output += tokens[model].output;
  }
  for (const model of Object.keys(cost)) {
    for (const currency of Object.keys(cost[model])) add(model, currency, cost[model][currency]);
  }
  for (const model of Object.keys(uncosted)) {
    const t = uncosted[model];
    const price = Object.hasOwn(PRICES, model) ? PRICES[model] : undefined;
    if (price && t.input + t.output > 0) add(`${model} (--price)`, 'USD', (t.input * (price.input ?? 0) + t.output * (price.output ?? 0)) / 1e6);
  }
  return { input, output, cost: sums.size === 0 ? undefined : sums, byModel };
}
/** `$0.35 + 2.00 EUR`: each currency's sum, apart. */
const fmtCosts = (sums) => [...sums].map(([currency, amount]) => fmtMoney(amount, currency)).join(' + ');
const str = (v) => (typeof v === 'string' ? v : undefined);
const num = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

// Server time: event timestamps are the server's clock. The smallest delay seen between an
// event's timestamp and its arrival tells how far ahead of this page's clock the server is.
let skew;
function noteArrival(timestamp) {
  if (typeof timestamp !== 'number') return;
  const s = timestamp - Date.now();
  if (skew === undefined || s > skew) skew = s;
}
const serverNow = () => Date.now() + (skew ?? 0);

// ---------------------------------------------------------------- SSE over fetch

class HttpError extends Error {
  constructor(status, text) {
    super(text || `HTTP ${status}`);
    this.status = status;
  }
}

/**
 * One SSE stream, read with fetch and reconnected after a drop. `lastSeq()` is
 * the resume point sent as Last-Event-ID (undefined: from the start). Ends for
 * good on `event: end`, a 204, a 4xx other than 408/429 (when `stopOn4xx`), or close().
 */
class SseReader {
  constructor(url, { onEvent, onOpen, onDrop, onEnd, lastSeq, stopOn4xx = true }) {
    Object.assign(this, { url, onEvent, onOpen, onDrop, onEnd, lastSeq, stopOn4xx });
    this.closed = false;
    this.abort = new AbortController();
    void this.loop();
  }

  close() {
    this.closed = true;
    this.abort.abort();
  }

  async loop() {
    let delay = 500;
    while (!this.closed) {
      let outcome;
      try {
        outcome = await this.once(() => {
          delay = 500;
        });
      } catch (error) {
        outcome = error;
      }
      if (this.closed) return;
      if (outcome === 'end' || outcome === 'finished') {
        this.closed = true;
        this.onEnd?.(outcome);
        return;
      }
      const error = outcome instanceof Error ? outcome : new Error('the stream ended');
      const status = error.status;
      const fatal = this.stopOn4xx && status >= 400 && status < 500 && status !== 408 && status !== 429;
      this.onDrop?.(error, fatal);
      if (fatal) {
        this.closed = true;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  async once(connected) {
    const headers = { accept: 'text/event-stream' };
    const seq = this.lastSeq?.();
    if (seq !== undefined && seq > 0) headers['last-event-id'] = String(seq);
    const response = await fetch(this.url, { headers, signal: this.abort.signal, cache: 'no-store', credentials: 'same-origin' });
    if (response.status === 204) return 'finished';
    if (!response.ok) throw new HttpError(response.status, (await response.text()).trim().slice(0, 500));
    if (response.body === null) throw new Error('the response has no body');
    connected();
    this.onOpen?.();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = '';
    let data = '';
    let hasData = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'eof';
        buffer += value;
        let start = 0;
        let newline;
        while ((newline = buffer.indexOf('\n', start)) !== -1) {
          let line = buffer.slice(start, newline);
          start = newline + 1;
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (hasData) {
              if (type === 'end') return 'end';
              let event;
              try {
                event = JSON.parse(data);
              } catch {
                event = undefined;
              }
              if (event !== null && typeof event === 'object' && typeof event.runId === 'string') this.onEvent(event);
            }
            type = '';
            data = '';
            hasData = false;
            continue;
          }
          if (line.charCodeAt(0) === 58 /* ':' comment, heartbeat */) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          let val = colon === -1 ? '' : line.slice(colon + 1);
          if (val.charCodeAt(0) === 32) val = val.slice(1);
          if (field === 'event') type = val;
          else if (field === 'data') {
            data = hasData ? `${data}\n${val}` : val;
            hasData = true;
          }
        }
        buffer = buffer.slice(start);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------- the run list

/** Runs the page knows, by id: summaries only (a run's events are kept only while it is open). */
const runs = new Map();
let pagedOut = 0;
let listable = true;
const dirty = new Set();
let orderDirty = true;
let shown = [];
const rows = new Map();
let activeId;
let rowCounter = 0;

function newRun(runId) {
  return { runId, name: undefined, parentRunId: undefined, parentSpanId: undefined, status: 'running', error: undefined, startedAt: undefined, endedAt: undefined, durationMs: undefined, lastSeq: 0, tokens: Object.create(null), cost: Object.create(null), uncosted: Object.create(null), seen: ++rowCounter };
}

/** Applies one event of the all-runs stream to its run's summary. */
function applyLive(event) {
  noteArrival(event.timestamp);
  if (event.eventType === 'stream.dropped') {
    // This page fell behind and the server dropped events for it: the list is read again.
    void refreshList();
    return;
  }
  let run = runs.get(event.runId);
  if (run === undefined) {
    run = newRun(event.runId);
    runs.set(event.runId, run);
    orderDirty = true;
  }
  if (event.seq > 0) {
    if (event.seq <= run.lastSeq) return;
    run.lastSeq = event.seq;
  }
  const data = event.data ?? {};
  run.startedAt ??= event.timestamp;
  switch (event.eventType) {
    case 'run.started':
      run.startedAt = event.timestamp;
      run.name = str(data.name);
      run.parentRunId = str(data.parentRunId);
      run.parentSpanId = str(data.parentSpanId);
      orderDirty = true;
      if (run.parentRunId !== undefined && view?.runs.has(run.parentRunId)) view.addRun(run.runId);
      break;
    case 'run.completed':
      run.status = ['ok', 'error', 'aborted'].includes(data.status) ? data.status : 'error';
      run.error = str(data.error);
      run.endedAt = event.timestamp;
      run.durationMs = typeof data.durationMs === 'number' ? data.durationMs : undefined;
      orderDirty = true;
      break;
    case 'agent.tokens.used': {
      const model = str(data.model) ?? '?';
      const t = (run.tokens[model] ??= { input: 0, output: 0 });
      t.input += num(data.inputTokens);
      t.output += num(data.outputTokens);
      const cost = eventCost(data.cost);
      if (cost !== undefined) {
        addCost(run.cost, model, cost.currency, cost.amount);
      } else {
        const u = (run.uncosted[model] ??= { input: 0, output: 0 });
        u.input += num(data.inputTokens);
        u.output += num(data.outputTokens);
      }
      break;
    }
  }
  dirty.add(run.runId);
  schedule();
}

/** Merges `GET /runs`: a summary replaces the page's when it has seen as many events or more. */
function mergeList(list) {
  for (const s of list) {
    if (s === null || typeof s !== 'object' || typeof s.runId !== 'string') continue;
    let run = runs.get(s.runId);
    if (run === undefined) {
      run = newRun(s.runId);
      runs.set(s.runId, run);
    }
    const tokens = Object.create(null);
    for (const [model, t] of Object.entries(s.tokens ?? {})) tokens[model] = { input: num(t?.input), output: num(t?.output) };
    const cost = Object.create(null);
    for (const [model, byCurrency] of Object.entries(s.cost ?? {})) {
      for (const [currency, amount] of Object.entries(byCurrency ?? {})) {
        const checked = eventCost({ amount, currency });
        if (checked !== undefined) addCost(cost, model, checked.currency, checked.amount);
      }
    }
    // A server without `uncosted` (older) priced nothing: all its tokens are uncosted.
    let uncosted = tokens;
    if (s.uncosted !== null && typeof s.uncosted === 'object') {
      uncosted = Object.create(null);
      for (const [model, t] of Object.entries(s.uncosted)) uncosted[model] = { input: num(t?.input), output: num(t?.output) };
    }
    if ((s.lastSeq ?? 0) >= run.lastSeq) {
      Object.assign(run, {
        name: str(s.name), parentRunId: str(s.parentRunId), parentSpanId: str(s.parentSpanId),
        status: ['running', 'ok', 'error', 'aborted'].includes(s.status) ? s.status : 'running',
        error: str(s.error), startedAt: s.startedAt, endedAt: s.endedAt, durationMs: s.durationMs,
        lastSeq: s.lastSeq ?? 0, tokens, cost, uncosted,
      });
    } else {
      // The page is ahead (live events after the list was made): fill in only what it lacks.
      run.name ??= str(s.name);
      run.parentRunId ??= str(s.parentRunId);
      run.parentSpanId ??= str(s.parentSpanId);
      if (typeof s.startedAt === 'number' && !(run.startedAt <= s.startedAt)) run.startedAt = s.startedAt;
    }
    if (run.parentRunId !== undefined && view?.runs.has(run.parentRunId)) view.addRun(run.runId);
    dirty.add(run.runId);
  }
  orderDirty = true;
  schedule();
}

let listRequest;
async function refreshList() {
  if (!listable || listRequest) return listRequest;
  listRequest = (async () => {
    try {
      const response = await fetch(`${SSE_BASE}/runs`, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (response.status === 404 || response.status === 501) {
        // An older server, or a source without retainedRuns(): runs appear as they emit events.
        listable = false;
        orderDirty = true;
        schedule();
        return;
      }
      if (!response.ok) return;
      const body = await response.json();
      if (Array.isArray(body?.runs)) mergeList(body.runs);
    } catch {
      // The stream's own reconnect reports the outage; the list is read again after it.
    } finally {
      listRequest = undefined;
    }
  })();
  return listRequest;
}

/** Keeps the page's memory bounded: the oldest runs go, finished ones first, never the open one. */
function pageOut() {
  if (runs.size <= MAX_RUNS + 50) return;
  const keep = view?.runs ?? new Map();
  const byAge = [...runs.values()].filter((run) => !keep.has(run.runId)).sort((a, b) => (a.status === 'running') - (b.status === 'running') || (a.startedAt ?? 0) - (b.startedAt ?? 0));
  for (const run of byAge) {
    if (runs.size <= MAX_RUNS) break;
    runs.delete(run.runId);
    const row = rows.get(run.runId);
    if (row !== undefined) rows.delete(run.runId);
    pagedOut++;
  }
  orderDirty = true;
}

const isShownInList = (run) => run.parentRunId === undefined || !runs.has(run.parentRunId);

function visibleRuns() {
  const name = $('filter-name').value.trim().toLowerCase();
  const status = $('filter-status').value;
  const list = [];
  for (const run of runs.values()) {
    if (!isShownInList(run)) continue;
    if (status !== '' && run.status !== status) continue;
    if (name !== '' && !(run.name ?? run.runId).toLowerCase().includes(name) && !run.runId.toLowerCase().includes(name)) continue;
    list.push(run);
  }
  return list.sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || b.seen - a.seen);
}

function makeRow(run) {
  const li = el('li');
  li.id = `run-row-${++rowCounter}`;
  li.setAttribute('role', 'option');
  li.dataset.runId = run.runId;
  const name = el('span', 'name');
  const title = el('span', 'title');
  const sub = el('span', 'sub');
  const status = el('span');
  const id = el('span', 'id');
  sub.append(status, id);
  name.append(title, sub);
  const dur = el('span', 'num took');
  const durB = el('b');
  dur.append(durB);
  const tok = el('span', 'num tok');
  const tokB = el('b');
  const cost = el('span', 'cost');
  tok.append(tokB, cost);
  li.append(name, dur, tok);
  const row = { li, title, status, id, durB, tokB, cost };
  rows.set(run.runId, row);
  return row;
}

function updateRow(row, run) {
  row.li.dataset.status = run.status;
  row.li.setAttribute('aria-selected', String(view?.rootId === run.runId));
  row.title.textContent = run.name ?? run.runId;
  row.status.className = `st-${run.status}`;
  row.status.textContent = run.status;
  row.id.textContent = run.error ? ` · ${run.error}` : run.name ? ` · ${run.runId}` : '';
  const ms = run.durationMs ?? (run.status === 'running' ? serverNow() - (run.startedAt ?? serverNow()) : (run.endedAt ?? 0) - (run.startedAt ?? 0));
  row.durB.textContent = fmtMs(Math.max(0, ms));
  const { input, output, cost, byModel } = tokenTotals(run.tokens, run.cost, run.uncosted);
  row.tokB.textContent = input + output > 0 ? fmtInt(input + output) : '–';
  row.tokB.title = `${fmtInt(input)} in / ${fmtInt(output)} out`;
  row.cost.textContent = cost === undefined ? '' : fmtCosts(cost);
  row.cost.title = byModel.join('\n');
}

function renderList() {
  pageOut();
  const list = $('run-list');
  if (orderDirty) {
    orderDirty = false;
    const next = visibleRuns().slice(0, MAX_ROWS);
    const same = next.length === shown.length && next.every((run, i) => run === shown[i]);
    shown = next;
    if (!same) {
      // Keyed: a row already in place stays, so a new run on top moves nothing else.
      let at = list.firstElementChild;
      for (const run of shown) {
        const row = rows.get(run.runId) ?? makeRow(run);
        if (row.li !== at) {
          list.insertBefore(row.li, at);
          updateRow(row, run);
        } else {
          at = at.nextElementSibling;
        }
      }
      while (at !== null) {
        const next = at.nextElementSibling;
        at.remove();
        at = next;
      }
      for (const runId of rows.keys()) if (!runs.has(runId)) rows.delete(runId);
    }
    const all = [...runs.values()].filter(isShownInList).length;
    $('list-empty').hidden = runs.size > 0;
    list.hidden = runs.size === 0;
    const notes = [];
    if (all > shown.length) notes.push(`${fmtInt(all - shown.length)} more not shown (filter to find them)`);
    if (pagedOut > 0) notes.push(`${fmtInt(pagedOut)} older runs paged out`);
    if (!listable) notes.push('this server lists no past runs: runs appear as they emit events');
    $('list-foot').textContent = notes.join(' · ');
    list.dataset.kept = String(runs.size);
    list.dataset.pagedOut = String(pagedOut);
    if (runs.size > 0 && shown.length === 0) $('list-foot').textContent = `No run matches the filter. ${$('list-foot').textContent}`;
  }
  // The open run's header reads its summary (and its children's): a merged list can change it.
  if (view !== undefined && [...view.runs.keys()].some((runId) => dirty.has(runId))) renderHead();
  for (const runId of dirty) {
    const row = rows.get(runId);
    const run = runs.get(runId);
    if (row !== undefined && run !== undefined && row.li.isConnected) updateRow(row, run);
  }
  dirty.clear();
  if (activeId !== undefined) markActive(activeId, false);
}

// Durations of running runs tick once a second.
setInterval(() => {
  for (const run of shown) if (run.status === 'running') dirty.add(run.runId);
  if (dirty.size > 0) schedule();
}, 1000);

// ---------------------------------------------------------------- keyboard

function markActive(runId, scroll) {
  const list = $('run-list');
  for (const li of list.querySelectorAll('li.active')) li.classList.remove('active');
  activeId = runId;
  const row = rows.get(runId);
  if (row === undefined || !row.li.isConnected) {
    list.removeAttribute('aria-activedescendant');
    return;
  }
  row.li.classList.add('active');
  list.setAttribute('aria-activedescendant', row.li.id);
  if (scroll) row.li.scrollIntoView({ block: 'nearest' });
}

$('run-list').addEventListener('keydown', (e) => {
  if (shown.length === 0) return;
  let index = shown.findIndex((run) => run.runId === activeId);
  switch (e.key) {
    case 'ArrowDown': case 'j': index = Math.min(shown.length - 1, index + 1); break;
    case 'ArrowUp': case 'k': index = Math.max(0, index === -1 ? 0 : index - 1); break;
    case 'Home': index = 0; break;
    case 'End': index = shown.length - 1; break;
    case 'Enter': case ' ':
      if (index >= 0) location.hash = `#/runs/${encodeURIComponent(shown[index].runId)}`;
      e.preventDefault();
      return;
    default: return;
  }
  e.preventDefault();
  markActive(shown[index].runId, true);
});
$('run-list').addEventListener('focus', () => {
  if (activeId === undefined && shown.length > 0) markActive(view?.rootId ?? shown[0].runId, true);
});
$('run-list').addEventListener('click', (e) => {
  const li = e.target.closest?.('li[data-run-id]');
  if (li === null || li === undefined) return;
  markActive(li.dataset.runId, false);
  location.hash = `#/runs/${encodeURIComponent(li.dataset.runId)}`;
});
for (const id of ['filter-name', 'filter-status']) {
  $(id).addEventListener('input', () => {
    orderDirty = true;
    schedule();
  });
}
document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (e.key === '/' && !typing) {
    e.preventDefault();
    $('filter-name').focus();
  } else if (e.key === 'Escape') {
    if (!$('inspector').hidden) closeInspector();
    else if (typing) $('run-list').focus();
  }
});

// ---------------------------------------------------------------- the open run

/** The run on screen: its streams, and its steps (and its child runs' steps) by key. */
class RunView {
  constructor(rootId) {
    this.rootId = rootId;
    this.runs = new Map();
    this.queue = [];
    this.steps = new Map();
    this.marks = [];
    this.events = 0;
    this.undrawn = 0;
    this.structure = true;
    this.rowEls = new Map();
    this.markEls = new Map();
    this.closed = false;
    this.addRun(rootId);
    // Children the list already knows.
    for (const run of runs.values()) if (run.parentRunId !== undefined && this.runs.has(run.parentRunId)) this.addRun(run.runId);
  }

  addRun(runId) {
    if (this.closed || this.runs.has(runId)) return;
    this.runs.set(runId, { lastSeq: 0, reader: undefined, ended: false });
    this.queue.push(runId);
    this.pump();
    // Its own children, when the list knew of them first.
    for (const run of runs.values()) if (run.parentRunId === runId) this.addRun(run.runId);
  }

  pump() {
    const reading = [...this.runs.values()].filter((r) => r.reader !== undefined && !r.ended).length;
    let free = 1 + CHILD_STREAMS - reading;
    while (free > 0 && this.queue.length > 0) {
      const runId = this.queue.shift();
      this.open(runId);
      free--;
    }
  }

  open(runId) {
    const state = this.runs.get(runId);
    state.reader = new SseReader(`${SSE_BASE}/runs/${encodeURIComponent(runId)}/events`, {
      lastSeq: () => state.lastSeq,
      onEvent: (event) => this.apply(state, event),
      onOpen: () => {
        if (runId === this.rootId) note(undefined);
      },
      onDrop: (error, fatal) => {
        if (runId !== this.rootId) {
          if (fatal) this.finish(state);
          return;
        }
        if (fatal && error.status === 404) note(`The server does not retain run ${runId}: it never ran there, or it was evicted after newer runs.`);
        else note(fatal ? `Cannot read this run: ${error.message}` : `Connection lost (${error.message}); resuming after event ${state.lastSeq}…`);
        if (fatal) this.finish(state);
      },
      onEnd: () => this.finish(state),
    });
  }

  finish(state) {
    state.ended = true;
    this.pump();
    this.structure = true;
    scheduleView();
  }

  close() {
    this.closed = true;
    for (const state of this.runs.values()) state.reader?.close();
  }

  rootStep(runId, timestamp) {
    const key = `run:${runId}`;
    let step = this.steps.get(key);
    if (step === undefined) {
      const summary = runs.get(runId);
      step = this.addStep(key, runId, 'run', 'run', summary?.name ?? runId, timestamp);
      if (runId !== this.rootId) step.parentKey = summary?.parentSpanId ?? `run:${summary?.parentRunId}`;
    }
    return step;
  }

  addStep(key, runId, kind, kindLabel, what, start) {
    if (this.steps.size >= MAX_STEPS && kind !== 'run') {
      // Past the bound a step is counted, not drawn: the page stays usable on a runaway run.
      this.undrawn++;
      return { key, runId, kind, kindLabel, what, start, events: [], tokens: 0 };
    }
    const step = { key, runId, kind, kindLabel, what, start, end: undefined, status: 'running', error: undefined, parentKey: undefined, events: [], tokens: 0 };
    this.steps.set(key, step);
    this.structure = true;
    return step;
  }

  /** The step a span event opens, creating it for a closing event whose opening history lost. */
  spanStep(event, kind, kindLabel, what) {
    const key = event.spanId ?? `event:${event.eventId}`;
    let step = this.steps.get(key);
    if (step === undefined) {
      step = this.addStep(key, event.runId, kind, kindLabel, what, event.timestamp);
      step.parentKey = event.parentSpanId ?? `run:${event.runId}`;
    }
    return step;
  }

  closeStep(event, status, error) {
    const step = this.steps.get(event.spanId ?? '');
    if (step === undefined) return undefined;
    step.end = event.timestamp;
    step.status = status;
    step.error = error;
    this.structure = true;
    return step;
  }

  apply(state, event) {
    noteArrival(event.timestamp);
    if (!(state.lastTs >= event.timestamp)) state.lastTs = event.timestamp;
    if (event.seq > 0) {
      if (event.seq <= state.lastSeq) return;
      state.lastSeq = event.seq;
    }
    const keep = ++this.events <= MAX_VIEW_EVENTS;
    const data = event.data ?? {};
    const root = this.rootStep(event.runId, event.timestamp);
    let step;
    switch (event.eventType) {
      case 'run.started':
        step = root;
        root.start = event.timestamp;
        if (str(data.name)) root.what = data.name;
        if (event.runId !== this.rootId) root.parentKey = str(data.parentSpanId) ?? `run:${str(data.parentRunId)}`;
        this.structure = true;
        break;
      case 'run.completed':
        step = root;
        root.end = event.timestamp;
        root.status = ['ok', 'error', 'aborted'].includes(data.status) ? data.status : 'error';
        root.error = str(data.error);
        this.structure = true;
        break;
      case 'agent.invocation.started':
        step = this.spanStep(event, 'agent', 'agent', str(data.agentName) ?? '');
        if (str(data.model)) step.detail = `model ${data.model}`;
        break;
      case 'agent.terminate': {
        const reason = str(data.reason);
        step = this.closeStep(event, reason === 'error' ? 'error' : reason === 'aborted' ? 'aborted' : 'ok', reason === 'error' || reason === 'aborted' ? `terminated: ${reason}` : undefined);
        break;
      }
      case 'agent.model.started':
        step = this.spanStep(event, 'model', 'model', str(data.model) ?? '');
        break;
      case 'agent.model.completed':
        step = this.closeStep(event, str(data.error) ? 'error' : 'ok', str(data.error));
        break;
      case 'agent.tokens.used':
        step = this.steps.get(event.spanId ?? '');
        if (step !== undefined) step.tokens += num(data.inputTokens) + num(data.outputTokens);
        break;
      case 'agent.tool.started':
        step = this.spanStep(event, 'tool', 'tool', str(data.toolName) ?? '');
        if (Array.isArray(data.argKeys)) step.detail = `(${data.argKeys.join(', ')})`;
        break;
      case 'agent.tool.completed':
        step = this.closeStep(event, data.success === false ? 'error' : 'ok', data.success === false ? (str(data.error) ?? 'failed') : undefined);
        break;
      case 'multiagent.fanout.started':
        step = this.spanStep(event, 'fanout', 'fan-out', `${num(data.agentCount)} agents`);
        break;
      case 'multiagent.fanout.completed':
        step = this.closeStep(event, num(data.failed) > 0 ? 'error' : 'ok', num(data.failed) > 0 ? `${data.failed} of the agents failed` : undefined);
        break;
      default:
        // Thinking, checkpoints, custom events: a mark on the step they happened in.
        if (keep) {
          this.marks.push({ id: this.marks.length, event, key: event.spanId ?? event.parentSpanId ?? `run:${event.runId}` });
          this.structure = true;
        }
    }
    if (step !== undefined && keep) step.events.push(event);
    if (event.runId === this.rootId || this.structure) scheduleView();
  }

  /** The step `key` hangs under: its parent in the same run, else its run's root (a child run under its parent's step). */
  parentOf(step) {
    const parent = step.parentKey === undefined ? undefined : this.steps.get(step.parentKey);
    if (step.kind === 'run') return parent;
    if (parent !== undefined && parent.runId === step.runId) return parent;
    const root = this.steps.get(`run:${step.runId}`);
    return root === step ? undefined : root;
  }

  /** Steps in tree order, with their depth. */
  ordered() {
    const children = new Map();
    const tops = [];
    for (const step of this.steps.values()) {
      const parent = this.parentOf(step);
      if (parent === undefined) tops.push(step);
      else {
        const list = children.get(parent) ?? [];
        list.push(step);
        children.set(parent, list);
      }
    }
    const out = [];
    const seen = new Set();
    const walk = (step, depth) => {
      if (seen.has(step)) return;
      seen.add(step);
      out.push([step, depth]);
      for (const child of (children.get(step) ?? []).sort((a, b) => a.start - b.start)) walk(child, depth + 1);
    };
    for (const top of tops.sort((a, b) => (a.runId === this.rootId ? -1 : 0) - (b.runId === this.rootId ? -1 : 0) || a.start - b.start)) walk(top, 0);
    return out;
  }

  /** Where a mark goes: the step its key names in its own run, else its run's root. */
  markStep(mark) {
    const step = this.steps.get(mark.key);
    if (step !== undefined && step.runId === mark.event.runId) return step;
    const parent = mark.event.parentSpanId === undefined ? undefined : this.steps.get(mark.event.parentSpanId);
    if (parent !== undefined && parent.runId === mark.event.runId) return parent;
    return this.steps.get(`run:${mark.event.runId}`);
  }
}

let view;
let picked;

function note(text) {
  $('run-note').hidden = text === undefined;
  $('run-note').textContent = text ?? '';
}

function openRun(runId) {
  if (view?.rootId === runId) return;
  view?.close();
  closeInspector();
  $('steps').replaceChildren();
  $('axis').replaceChildren();
  note(undefined);
  view = runId === undefined ? undefined : new RunView(runId);
  $('run').hidden = view === undefined;
  $('detail-empty').hidden = view !== undefined;
  document.body.dataset.view = view === undefined ? 'list' : 'run';
  for (const [id, row] of rows) row.li.setAttribute('aria-selected', String(id === runId));
  if (runId !== undefined) markActive(runId, true);
  renderHead();
  scheduleView();
}

function renderHead() {
  if (view === undefined) return;
  const root = view.steps.get(`run:${view.rootId}`);
  const summary = runs.get(view.rootId);
  const status = root?.status ?? summary?.status ?? 'running';
  $('run-name').textContent = root?.what ?? summary?.name ?? view.rootId;
  $('run-status').textContent = status;
  $('run-status').dataset.status = status;
  const start = root?.start;
  const end = root?.end;
  const facts = [];
  if (start !== undefined) facts.push(fmtMs((end ?? serverNow()) - start));
  facts.push(`${view.steps.size} steps`);
  if (view.runs.size > 1) facts.push(`${view.runs.size - 1} child run${view.runs.size > 2 ? 's' : ''}`);
  // Tokens of the run and of its child runs: what the whole tree cost.
  const tokens = Object.create(null);
  const cost = Object.create(null);
  const uncosted = Object.create(null);
  for (const runId of view.runs.keys()) {
    const run = runs.get(runId);
    for (const [into, from] of [[tokens, run?.tokens], [uncosted, run?.uncosted]]) {
      for (const [model, t] of Object.entries(from ?? {})) {
        const sum = (into[model] ??= { input: 0, output: 0 });
        sum.input += t.input;
        sum.output += t.output;
      }
    }
    for (const [model, byCurrency] of Object.entries(run?.cost ?? {})) {
      for (const [currency, amount] of Object.entries(byCurrency)) addCost(cost, model, currency, amount);
    }
  }
  const totals = tokenTotals(tokens, cost, uncosted);
  if (totals.input + totals.output > 0) facts.push(`${fmtInt(totals.input)} in / ${fmtInt(totals.output)} out tokens`);
  if (totals.cost !== undefined) facts.push(`${fmtCosts(totals.cost)}${totals.byModel.length > 1 ? ` (${totals.byModel.join(', ')})` : ''}`);
  if (view.undrawn > 0) facts.push(`${fmtInt(view.undrawn)} more steps not drawn`);
  facts.push(view.rootId);
  $('run-facts').textContent = facts.join(' · ');
  document.title = `${$('run-name').textContent} · agentbus`;
}

function makeStepRow(step) {
  const row = el('div', 'step');
  row.tabIndex = 0;
  row.setAttribute('role', 'treeitem');
  row.dataset.key = step.key;
  const label = el('div', 'label');
  const kind = el('span', 'kind');
  const what = el('span', 'what');
  label.append(kind, what);
  const track = el('div', 'track');
  const bar = el('div', 'bar');
  const dur = el('span', 'dur');
  track.append(bar, dur);
  const err = el('div', 'err-text');
  err.hidden = true;
  row.append(label, track, err);
  const parts = { row, label, kind, what, track, bar, dur, err };
  view.rowEls.set(step.key, parts);
  return parts;
}

function renderView() {
  if (view === undefined) return;
  renderHead();
  const container = $('steps');
  const ordered = view.ordered();
  if (view.structure) {
    view.structure = false;
    const fragment = document.createDocumentFragment();
    for (const [step, depth] of ordered) {
      const parts = view.rowEls.get(step.key) ?? makeStepRow(step);
      parts.row.dataset.kind = step.kind;
      parts.row.dataset.status = step.status;
      parts.row.dataset.runId = step.runId;
      parts.row.dataset.depth = String(depth);
      if (step.kind === 'run' && step.runId !== view.rootId) parts.row.dataset.child = '';
      const parent = view.parentOf(step);
      if (parent !== undefined) parts.row.dataset.parent = parent.key;
      parts.row.setAttribute('aria-level', String(depth + 1));
      parts.row.style.setProperty('--depth', String(depth));
      parts.kind.textContent = step.kind === 'run' && step.runId !== view.rootId ? 'child run' : step.kindLabel;
      parts.what.textContent = step.detail ? `${step.what} ${step.detail}` : step.what;
      parts.label.title = parts.label.textContent;
      parts.err.hidden = step.error === undefined || step.status !== 'error';
      parts.err.textContent = step.error === undefined ? '' : `✗ ${step.error}`;
      fragment.append(parts.row);
    }
    for (const mark of view.marks) {
      const step = view.markStep(mark);
      const parts = step === undefined ? undefined : view.rowEls.get(step.key);
      if (parts === undefined) continue;
      let button = view.markEls.get(mark.id);
      if (button === undefined) {
        button = el('button', 'mark');
        button.type = 'button';
        button.dataset.mark = String(mark.id);
        button.dataset.type = mark.event.eventType;
        button.title = `${mark.event.eventType}${mark.event.eventType === 'agent.think' ? `: ${str(mark.event.data?.reasoningPreview) ?? ''}` : ''}`;
        button.setAttribute('aria-label', mark.event.eventType);
        view.markEls.set(mark.id, button);
      }
      if (button.parentNode !== parts.track) parts.track.append(button);
    }
    container.replaceChildren(fragment);
    if (picked !== undefined) highlightPicked();
  }
  layoutView(ordered);
}

/** Bar geometry on the shared time axis; runs every frame while a step is open, so bars grow. */
function layoutView(ordered) {
  let t0 = Infinity;
  let t1 = -Infinity;
  let open = false;
  const now = serverNow();
  const endOf = (step) => {
    if (step.end !== undefined) return step.end;
    // A step whose run ended without closing it (unfinished) stops with its run; one whose
    // stream ended without the run's end stops at the run's last event. Only the others grow.
    const root = view.steps.get(`run:${step.runId}`);
    if (root?.end !== undefined) return root.end;
    const state = view.runs.get(step.runId);
    return state?.ended && state.lastTs !== undefined ? state.lastTs : now;
  };
  for (const [step] of ordered) {
    t0 = Math.min(t0, step.start);
    const end = endOf(step);
    if (step.end === undefined && end === now) open = true;
    t1 = Math.max(t1, end);
  }
  if (!Number.isFinite(t0)) return;
  const span = Math.max(t1 - t0, 1);
  const pct = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;
  for (const [step] of ordered) {
    const parts = view.rowEls.get(step.key);
    if (parts === undefined) continue;
    const end = endOf(step);
    const left = (step.start - t0) / span;
    const width = (end - step.start) / span;
    parts.bar.style.left = `${(left * 100).toFixed(3)}%`;
    parts.bar.style.width = `${(width * 100).toFixed(3)}%`;
    const running = step.end === undefined && end === now;
    parts.dur.textContent = `${fmtMs(end - step.start)}${running ? ' …' : step.end === undefined ? ' unfinished' : ''}${step.tokens > 0 ? ` · ${fmtInt(step.tokens)} tok` : ''}`;
    // The duration beside its bar: after it, else before it, else (a bar as wide as the axis) inside it.
    const right = left + width;
    const style = parts.dur.style;
    parts.dur.classList.toggle('inside', right > 0.8 && left < 0.25);
    if (right <= 0.8) {
      style.right = '';
      style.left = `${(right * 100).toFixed(3)}%`;
    } else {
      style.left = '';
      style.right = `${((1 - (left < 0.25 ? right : left)) * 100).toFixed(3)}%`;
    }
  }
  for (const mark of view.marks) {
    const button = view.markEls.get(mark.id);
    if (button !== undefined) button.style.left = pct(mark.event.timestamp);
  }
  renderAxis(span);
  // Frames are asked for only while a bar grows: a finished run costs nothing.
  if (open) viewTicking = true;
}

function renderAxis(span) {
  const axis = $('axis');
  const width = axis.clientWidth || 600;
  const target = Math.max(2, Math.floor(width / 110));
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw) ?? raw;
  const labels = [];
  for (let t = 0; t <= span + 1e-9; t += step) labels.push(t);
  while (axis.children.length < labels.length) axis.append(el('span'));
  while (axis.children.length > labels.length) axis.lastChild.remove();
  labels.forEach((t, i) => {
    const span_ = axis.children[i];
    span_.style.left = `${((t / span) * 100).toFixed(3)}%`;
    span_.textContent = i === 0 ? '0' : fmtMs(t);
  });
}

// ---------------------------------------------------------------- inspector

function inspect(title, value, key) {
  picked = key;
  $('inspector').hidden = false;
  $('inspector-title').textContent = title;
  $('inspector-json').textContent = JSON.stringify(value, null, 2);
  $('copy').textContent = 'Copy JSON';
  highlightPicked();
}

function closeInspector() {
  picked = undefined;
  $('inspector').hidden = true;
  highlightPicked();
}

function highlightPicked() {
  for (const node of document.querySelectorAll('.picked')) node.classList.remove('picked');
  if (picked === undefined || view === undefined) return;
  const node = picked.startsWith('mark:') ? view.markEls.get(Number(picked.slice(5))) : view.rowEls.get(picked)?.row;
  node?.classList.add('picked');
}

$('steps').addEventListener('click', (e) => {
  if (view === undefined) return;
  const markButton = e.target.closest?.('.mark');
  if (markButton) {
    const mark = view.marks[Number(markButton.dataset.mark)];
    if (mark) inspect(`${mark.event.eventType} · seq ${mark.event.seq}`, mark.event, `mark:${mark.id}`);
    return;
  }
  const row = e.target.closest?.('.step');
  const step = row ? view.steps.get(row.dataset.key) : undefined;
  if (step === undefined) return;
  const label = `${step.kind === 'run' ? 'run' : step.kindLabel} ${step.what}`.trim();
  inspect(`${label} · ${step.events.length} event${step.events.length === 1 ? '' : 's'}`, step.events.length === 1 ? step.events[0] : step.events, step.key);
});
$('steps').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  if (!(e.target instanceof HTMLElement) || !e.target.classList.contains('step')) return;
  e.preventDefault();
  e.target.click();
});
$('close-inspector').addEventListener('click', closeInspector);
$('copy').addEventListener('click', async () => {
  const text = $('inspector-json').textContent ?? '';
  try {
    await navigator.clipboard.writeText(text);
    $('copy').textContent = 'Copied ✓';
  } catch {
    // No clipboard permission: select the text so that Ctrl+C copies it.
    getSelection()?.selectAllChildren($('inspector-json'));
    $('copy').textContent = 'Selected: press Ctrl+C';
  }
});

// ---------------------------------------------------------------- scheduling

let listFrame = 0;
let viewDirty = false;
let viewTicking = false;
function schedule() {
  if (listFrame === 0) listFrame = requestAnimationFrame(frame);
}
function scheduleView() {
  viewDirty = true;
  schedule();
}
function frame() {
  listFrame = 0;
  renderList();
  if (viewDirty || viewTicking) {
    viewDirty = false;
    viewTicking = false;
    renderView();
    // layoutView set viewTicking again when a bar is still growing.
    if (viewTicking) schedule();
  }
}

// ---------------------------------------------------------------- connection and routing

function setConnection(state, message) {
  $('conn').dataset.state = state;
  $('conn').textContent = state;
  $('banner').hidden = message === undefined;
  $('banner').textContent = message ?? '';
  document.body.dataset.connection = state;
}

function route() {
  const match = /^#\/runs\/(.+)$/.exec(location.hash);
  let runId;
  if (match !== null) {
    try {
      runId = decodeURIComponent(match[1]);
    } catch {
      runId = undefined;
    }
  }
  openRun(runId);
}

$('source').textContent = meta('agentbus-source');
window.addEventListener('hashchange', route);
route();
renderList();

new SseReader(`${SSE_BASE}/events`, {
  stopOn4xx: false,
  onEvent: applyLive,
  onOpen: () => {
    setConnection('live');
    // Connected first, then listed: what happens in between is in both, and applied once.
    void refreshList();
  },
  onDrop: (error) => {
    const status = error.status;
    let message = error.message;
    if (status === 401 || status === 403) message = `The SSE server refused this console (${status}): ${error.message}`;
    else if (status === undefined) message = `Lost the connection to the SSE server (${error.message}); reconnecting…`;
    setConnection(status === 401 || status === 403 || status === 404 ? 'error' : 'reconnecting', message);
  },
});
