// The aside dashboard: reads dashboard/series (figures computed by the
// server from its samples) every few seconds and draws them; sends the
// clears to the tRPC procedures beside it, with the token typed into the
// form in the Authorization header. The token is kept nowhere: not in a
// URL, not in storage, not by the server.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const field = (root, name) => root.querySelector(`[data-field="${name}"]`);
const set = (root, name, text) => { const el = field(root, name); if (el) el.textContent = text; };

const GOOD = 80, THRESHOLD = 60; // percent: the guide alerts below 60%

let every = 2000; // ms between refreshes: the server's sampling interval
let prefix = '';

// Formatting.
const num = (x, digits = 0) => x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rate = (x) => (x === 0 ? '0' : x < 10 ? num(x, 1) : num(Math.round(x)));
const percent = (x) => (x == null ? '–' : `${num(x, 1)}%`);
const seconds = (s) => {
  if (s == null) return '–';
  if (s < 0.001) return `${num(s * 1e6)} µs`;
  if (s < 1) return `${num(s * 1e3, s < 0.01 ? 2 : 1)} ms`;
  return `${num(s, 2)} s`;
};
const bytes = (n) => {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${num(n, i ? 1 : 0)} ${units[i]}`;
};
const span = (s) => (s >= 120 ? `${num(s / 60)} min` : `${num(s)} s`);
const grade = (p) => (p == null ? '' : p >= GOOD ? 'good' : p >= THRESHOLD ? 'warn' : 'bad');

// refresh reads the figures, draws them, and comes back after a sampling interval.
async function refresh() {
  try {
    const res = await fetch('dashboard/series', {
      cache: 'no-store', headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(10000),
    });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body) throw new Error(body?.error?.message || `${res.status} ${res.statusText}`);
    $('#banner').hidden = true;
    render(body);
    $('#status').textContent = `updated ${new Date(body.at).toLocaleTimeString()} · sampled every ${span(body.every)}`;
  } catch (err) {
    $('#banner').textContent = `No figures: ${err.message}`;
    $('#banner').hidden = false;
    $('#status').textContent = 'not updating';
  } finally {
    setTimeout(refresh, every);
  }
}

function render(v) {
  every = Math.max(1000, v.every * 1000);
  prefix = v.keyPrefix;
  $('#prefix').textContent = v.keyPrefix;
  document.querySelectorAll('.prefix').forEach((el) => { el.textContent = v.keyPrefix; });
  $('#window').textContent = `· rates over the last ${span(v.rateWindow)}, load times over the last minute`;
  const total = v.namespaces.find((ns) => ns.name === '');
  renderCache(v.cache, total);
  renderNamespaces(v);
  renderMutations(v.mutations);
}

function renderCache(c, total) {
  const breaker = field($('#breaker'), 'state');
  breaker.textContent = c.breaker === 'none' ? 'none: in-process store' : c.breaker;
  breaker.className = `pill ${{ closed: 'good', 'half-open': 'warn', open: 'bad' }[c.breaker] || ''}`;
  set($('#breaker'), 'trips', num(c.breakerTrips));
  const inv = $('#invalidations');
  set(inv, 'pending', num(c.pendingInvalidations));
  field(inv, 'pending').className = c.pendingInvalidations > 0 ? 'rate bad' : '';
  set(inv, 'replayed', num(c.invalidationsReplayed));
  set(inv, 'rewinds', num(c.rewinds));
  if (total) {
    set(inv, 'rate', rate(total.rates.invalidations));
    const served = $('#served');
    set(served, 'stale', rate(total.rates.staleServed));
    set(served, 'leaseWaits', rate(total.rates.leaseWaits));
    set(served, 'staleTotal', num(total.totals.staleServed));
    set(served, 'leaseTotal', num(total.totals.leaseWaits));
  }
  const near = $('#near');
  near.hidden = !c.near;
  if (!c.near) return;
  set(near, 'hitShare', percent(c.near.hitShare));
  const serving = field(near, 'serving');
  serving.textContent = c.near.serving ? 'serving' : 'not serving';
  serving.className = `pill ${c.near.serving ? 'good' : 'bad'}`;
  set(near, 'entries', num(c.near.entries));
  set(near, 'bytes', bytes(c.near.bytes));
  set(near, 'lag50', seconds(c.near.lag.p50));
  set(near, 'lag99', seconds(c.near.lag.p99));
  set(near, 'received', rate(c.near.receivedRate));
  set(near, 'flushes', `${num(c.near.flushes)} ${c.near.flushes === 1 ? 'flush' : 'flushes'}`);
}

// renderNamespaces keeps one card per namespace, the total first.
function renderNamespaces(v) {
  const list = $('#namespaces');
  const ordered = [...v.namespaces.filter((ns) => ns.name === ''), ...v.namespaces.filter((ns) => ns.name !== '')];
  ordered.forEach((ns, i) => {
    let card = list.querySelector(`[data-ns="${CSS.escape(ns.name)}"]`);
    if (!card) {
      card = $('#ns-card').content.firstElementChild.cloneNode(true);
      card.dataset.ns = ns.name;
    }
    if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    renderNamespace(card, ns, v);
  });
}

function renderNamespace(card, ns, v) {
  set(card, 'name', ns.name || 'all namespaces');
  const t = ns.totals;
  card.classList.toggle('idle', t.hits + t.misses + t.loads + t.invalidations + t.errors === 0);
  const now = field(card, 'hitRate');
  now.textContent = percent(ns.hitRate);
  now.className = `rate ${grade(ns.hitRate)}`;
  now.title = ns.hitRate == null ? `no reads in the last ${span(v.rateWindow)}` : '';
  set(card, 'window', span(v.rateWindow));
  set(card, 'hitRateAll', percent(ns.totals.hits + ns.totals.misses ? ns.hitRateAll : null));
  set(card, 'since', `−${span(v.span)}`);
  set(card, 'chartTitle', `${ns.name || 'all namespaces'}: hit rate every ${span(v.every)} over the last ${span(v.span)}; the dashed line is ${THRESHOLD}%`);
  field(card, 'chartTitle').parentNode.querySelector('.line').setAttribute('d', chartPath(ns.chart, v.span / v.every));
  for (const k of ['hits', 'misses', 'loads', 'errors', 'loadErrors', 'invalidations']) set(card, k, rate(ns.rates[k]));
  for (const k of ['p50', 'p90', 'p99']) set(card, k, seconds(ns.loadTime[k]));
  field(card, 'p50').title = `${num(ns.loadTime.count)} loads in the last minute`;
}

// chartPath draws the hit rates (percent, oldest first, null without
// reads) right-aligned in a 300×80 box of slots points, the gaps left open.
function chartPath(points, slots) {
  const W = 300, H = 80, step = W / Math.max(slots, 1);
  let d = '', open = false;
  points.forEach((p, i) => {
    if (p == null) { open = false; return; }
    const x = (W - (points.length - 1 - i) * step).toFixed(1);
    const y = (H - (p / 100) * H).toFixed(1);
    d += open ? `L${x} ${y}` : `M${x} ${y}h0`; // h0: a lone point shows as a dot
    open = true;
  });
  return d;
}

function renderMutations(m) {
  const off = $('#clear-off');
  off.hidden = m.enabled;
  off.textContent = m.enabled ? '' : m.reason;
  for (const el of $('#clear').querySelectorAll('input, button')) el.disabled = !m.enabled;
}

// clear sends one of the two clears with the token typed, and shows the
// server's answer: the keys deleted, or its refusal.
async function clear(event) {
  event.preventDefault();
  const all = event.submitter?.value === 'all';
  const pattern = $('#pattern').value;
  if (!all && !pattern) return show('refused', 'Type a pattern, such as user:*, or clear everything.');
  if (all && !window.confirm(`Clear every key under ${prefix}?`)) return;
  const headers = { 'Content-Type': 'application/json' };
  const token = $('#token').value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const proc = all ? 'monitoring.cacheClear' : 'monitoring.cacheClearPattern';
  const buttons = $('#clear').querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  show('', all ? 'Clearing…' : `Clearing ${pattern}…`);
  try {
    const res = await fetch(`trpc/${proc}`, {
      method: 'POST', headers, body: JSON.stringify(all ? {} : { pattern }), cache: 'no-store',
      signal: AbortSignal.timeout(60000), // the server gives a clear 30 s
    });
    const answer = await res.json().catch(() => null);
    const data = answer?.result?.data;
    if (data) show(data.success ? 'ok' : 'refused', data.message, data.deleted);
    else if (answer?.error) show('refused', `Refused (${answer.error.data?.code || res.status}): ${answer.error.message}`);
    else show('refused', `The server answered ${res.status} ${res.statusText}, not the monitor: is the monitor registered for POST?`);
  } catch (err) {
    show('refused', `The request failed: ${err.message}`);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function show(kind, message, deleted) {
  const el = $('#result');
  el.className = `result ${kind}`;
  el.textContent = message;
  if (deleted == null) delete el.dataset.deleted;
  else el.dataset.deleted = String(deleted);
}

$('#clear').addEventListener('submit', clear);
refresh();
