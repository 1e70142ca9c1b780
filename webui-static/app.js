// sipd status page: the cluster at a glance, live from the API's event stream (docs/api.md).
// Plain JS, no build step. One row per node, kept in `rows` by name and updated in place (so a
// focused button keeps its focus); GET /api/v1/nodes is the truth, events patch rows between
// fetches. Heartbeat ages tick here from the moment a beat was seen, not from the server's clock.
'use strict';

const API = 'api/v1/';
const RTT_POINTS = 30;
const TOKEN_KEY = 'sipd.api.token';

// name -> { tr, cells, node, rtts, beatAt: last beat seen, changedAt: last state set by an event
// or an answer } (client-clock ms)
const rows = new Map();
let es = null;              // the EventSource (no token stored)
let streamAbort = null;     // the fetch() stream's AbortController (a token stored)
let askingRead = null;      // the pending token dialog for reads (api.read_auth), if any
let retryMs = 1000;         // reconnect back-off when the browser gave up on the stream
let nodesTimer = null;      // debounce of refetches
let beats = 0;              // heartbeat events seen (body[data-beats], for tests)
let lastBeatAt = 0;         // when the last one came (client clock)

const $ = (id) => document.getElementById(id);

// el(tag, attrs, ...children): a DOM element; strings become text (never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- talking to the API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? `${body.error}: ${body.detail}`
      : (body && body.error) || `HTTP ${status}`);
    this.status = status;
  }
}

// headers(extra): Accept, and the stored token if any (reads need it with api.read_auth = yes).
function headers(extra) {
  const h = Object.assign({ Accept: 'application/json' }, extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && !h.Authorization) h.Authorization = `Bearer ${token}`;
  return h;
}

// api(path, opts): the parsed JSON answer (null for 204); throws ApiError on a non-2xx answer.
async function api(path, opts) {
  const o = Object.assign({}, opts);
  o.headers = headers(o.headers);
  const res = await fetch(API + path, o);
  let body = null;
  if (res.status !== 204) body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// showError(msg, kind): the error line; a later success of the same kind clears it.
function showError(msg, kind) {
  $('error-text').textContent = msg;
  $('error').dataset.kind = kind || '';
  $('error').hidden = false;
}

function clearError(kind) {
  if ($('error').dataset.kind === kind) $('error').hidden = true;
}

function announce(msg) {
  // a new node per message so that screen readers read each change once
  $('announce').append(el('p', null, msg));
  while ($('announce').childElementCount > 5) $('announce').firstElementChild.remove();
}

// ---- formatting ---------------------------------------------------------------------------

function fmtAge(ms) {
  if (ms == null) return 'never';
  if (ms < 10000) return (ms / 1000).toFixed(1) + ' s ago';
  if (ms < 120000) return Math.round(ms / 1000) + ' s ago';
  if (ms < 7200000) return Math.round(ms / 60000) + ' min ago';
  return Math.round(ms / 3600000) + ' h ago';
}

function fmtRtt(ms) {
  if (ms == null) return '–';
  if (ms < 0.01) return '<0.01 ms';
  return ms < 10 ? ms.toFixed(2) + ' ms' : Math.round(ms) + ' ms';
}

// sparkline(values): an inline SVG polyline of the round trips (null = a failed beat: a gap).
function sparkline(values) {
  const w = 96, h = 24, ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('aria-hidden', 'true');
  const max = Math.max(0.001, ...values.filter((v) => v != null));
  const step = w / Math.max(1, RTT_POINTS - 1);
  const x0 = w - step * (values.length - 1);
  let seg = [];
  const flush = () => {
    if (seg.length === 1) seg.push(seg[0].replace(/^[\d.]+/, (x) => (+x + 1).toFixed(1)));
    if (seg.length) {
      const p = document.createElementNS(ns, 'polyline');
      p.setAttribute('points', seg.join(' '));
      svg.append(p);
    }
    seg = [];
  };
  values.forEach((v, i) => {
    if (v == null) { flush(); return; }
    seg.push(`${(x0 + i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`);
  });
  flush();
  return svg;
}

// ---- rows ---------------------------------------------------------------------------------

function makeRow(name) {
  const cell = (field, label) => el('td', { 'data-field': field, 'data-label': label });
  const cells = {
    name: el('th', { scope: 'row', 'data-field': 'name' }, name),
    roles: cell('roles', 'Roles'),
    state: cell('state', 'State'),
    load: cell('load', 'Load'),
    age: cell('age', 'Heartbeat'),
    rtt: cell('rtt', 'Round trip'),
    actions: el('td', { 'data-field': 'actions', class: 'actions' }),
  };
  const drain = el('button', { type: 'button', 'data-action': 'drain', onclick: () => act(name, 'drain') }, 'Drain');
  const activate = el('button', { type: 'button', 'data-action': 'activate', onclick: () => act(name, 'activate') }, 'Activate');
  drain.setAttribute('aria-label', `Drain ${name}`);
  activate.setAttribute('aria-label', `Activate ${name}`);
  cells.actions.append(drain, activate);
  const tr = el('tr', { 'data-node': name }, ...Object.values(cells));
  const row = { tr, cells, drain, activate, node: { name }, rtts: [], beatAt: null, changedAt: 0 };
  rows.set(name, row);
  seedRtts(row);
  return row;
}

// seedRtts(row): the last round trips from the node's recent heartbeats (newest first there).
async function seedRtts(row) {
  try {
    const hb = await api(`nodes/${encodeURIComponent(row.node.name)}/heartbeats?limit=${RTT_POINTS}`);
    const seeded = (hb.items || []).slice(0, RTT_POINTS).reverse().map((b) => (b.ok ? b.rtt_ms : null));
    row.rtts = seeded.concat(row.rtts).slice(-RTT_POINTS);  // beats seen meanwhile stay newest
    renderRow(row);
  } catch (e) { /* no history yet: the chart fills from the event stream */ }
}

// renderRow(row): every cell from row.node (the API's node object, patched by events).
function renderRow(row) {
  const n = row.node, c = row.cells;
  c.roles.textContent = (n.roles || []).join(', ') || '–';

  const state = n.state || (n.up === false ? 'down' : 'active');
  if (c.state.dataset.state !== state) {
    c.state.dataset.state = state;
    c.state.replaceChildren(el('span', { class: `badge state-${state}` }, state),
      n.standby && state !== 'standby' ? el('span', { class: 'badge state-standby' }, 'standby') : '');
  }
  row.tr.dataset.state = state;

  const work = n.work_num ?? 0, max = n.max_num || 0;
  const pct = max > 0 ? Math.min(100, (work / max) * 100) : 0;
  const bar = el('span', { class: 'bar', role: 'meter', 'aria-valuemin': '0',
    'aria-valuemax': String(max), 'aria-valuenow': String(work), 'aria-label': `load of ${n.name}` },
  el('span', { class: 'fill' + (pct >= 90 ? ' high' : ''), style: `width:${pct.toFixed(1)}%` }));
  c.load.replaceChildren(bar, el('span', { class: 'load-text' }, `${work} / ${max || '–'}`));
  c.load.dataset.work = work;
  c.load.dataset.max = max;

  c.rtt.replaceChildren(row.rtts.some((v) => v != null) ? sparkline(row.rtts) : '',
    el('span', { class: 'rtt-text' }, fmtRtt(n.rtt_ms)));
  tickAge(row);

  const draining = n.draining || state === 'draining' || state === 'drained';
  row.drain.hidden = draining;
  row.activate.hidden = !(draining || n.standby || state === 'standby');
}

function tickAge(row) {
  const age = row.beatAt == null ? null : Date.now() - row.beatAt;
  const c = row.cells.age;
  c.textContent = fmtAge(age);
  c.classList.toggle('stale', age != null && age > 5000);
}

// setState(row, state, why): render a (maybe) new state; say it once when it changed.
function setState(row, state, why) {
  const changed = row.node.state !== state;
  row.changedAt = Date.now();
  row.node.state = state;
  row.node.up = state !== 'down';
  if (state === 'draining' || state === 'drained') row.node.draining = true;
  if (state === 'active') { row.node.draining = false; row.node.standby = false; }
  renderRow(row);
  if (changed) announce(`${row.node.name} is ${state}${why ? ` (${why})` : ''}`);
  updateSummary();
}

function updateSummary() {
  let up = 0;
  for (const r of rows.values()) if (r.node.state !== 'down') up++;
  document.querySelector('[data-stat="nodes"]').textContent = rows.size ? `${up} / ${rows.size}` : '–';
}

// ---- fetching -----------------------------------------------------------------------------

async function loadNodes() {
  const started = Date.now();
  let list;
  try {
    const body = await api('nodes?limit=1000');
    list = Array.isArray(body) ? body : body.items || [];
  } catch (e) {
    if (e.status === 401) { askReadToken(e.message); return; }
    showError(`Cannot list nodes: ${e.message}`, 'nodes');
    return;
  }
  clearError('nodes');
  const tbody = $('node-rows');
  const seen = new Set();
  list.forEach((n) => {
    seen.add(n.name);
    const row = rows.get(n.name) || makeRow(n.name);
    if (row.changedAt >= started) { refetchSoon(); return; }  // an event is newer than this list
    const old = row.node.state;
    row.node = n;
    if (n.heartbeat_age_ms != null) row.beatAt = Date.now() - n.heartbeat_age_ms;
    renderRow(row);
    if (old && old !== n.state) announce(`${n.name} is ${n.state}`);
  });
  for (const [name, row] of rows) {
    if (!seen.has(name)) { row.tr.remove(); rows.delete(name); announce(`${name} removed`); }
  }
  // put rows in the API's order, moving only what is out of place (moving blurs a focused button)
  const want = list.map((n) => rows.get(n.name).tr);
  if (want.some((tr, i) => tbody.children[i] !== tr) || tbody.children.length !== want.length) {
    tbody.replaceChildren(...want);
  }
  if (!list.length) tbody.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: '7' }, 'No nodes in the table.')));
  updateSummary();
}

// gauge(g, name): a gauge of /api/v1/stats by its plain or sipd_-prefixed name, its labelled series
// (`sipd_subscriptions{package="im"}`) summed; null when absent.
function gauge(g, name) {
  let sum = null;
  for (const [key, v] of Object.entries(g)) {
    const base = key.split('{')[0];
    if ((base === name || base === 'sipd_' + name) && typeof v === 'number') sum = (sum || 0) + v;
  }
  return sum;
}

async function loadStats() {
  try {
    const s = await api('stats');
    const g = s.gauges || {};
    $('served-by').textContent = s.node || '–';
    const show = (key, v) => {
      document.querySelector(`[data-stat="${key}"]`).textContent = v == null ? '–' : String(v);
    };
    show('registrations', gauge(g, 'registrations'));
    show('topics', gauge(g, 'topics'));
    show('subscriptions', gauge(g, 'subscriptions'));
  } catch (e) { /* counts stay as they were; the node list shows connection problems */ }
}

function refetchSoon() {
  clearTimeout(nodesTimer);
  nodesTimer = setTimeout(() => { loadNodes(); loadStats(); }, 150);
}

// ---- the event stream ---------------------------------------------------------------------

function streamState(open) {
  document.body.dataset.stream = open ? 'open' : 'lost';
  $('stream-state').textContent = open ? 'live' : 'reconnecting…';
  $('banner').hidden = open;
}

function parse(ev) {
  try { return JSON.parse(ev.data); } catch (e) { return null; }
}

// What each event does; ev.data is the event's JSON text.
const handlers = {
  heartbeat(ev) {
    const b = parse(ev);
    const row = b && rows.get(b.node);
    if (!row) { if (b) refetchSoon(); return; }
    lastBeatAt = Date.now();
    document.body.dataset.beats = ++beats;
    if (b.ok) {
      row.beatAt = Date.now();
      row.node.rtt_ms = b.rtt_ms;
      if (b.work_num != null) row.node.work_num = b.work_num;
    }
    row.rtts = row.rtts.concat([b.ok ? b.rtt_ms : null]).slice(-RTT_POINTS);
    renderRow(row);
  },
  node(ev) {
    const m = parse(ev);
    if (!m) return;
    const row = rows.get(m.node);
    const states = ['down', 'draining', 'drained', 'active', 'standby'];
    if (row && states.includes(m.state)) setState(row, m.state);
    else if (row && m.state === 'promoted') setState(row, 'active', 'promoted');
    refetchSoon();   // the table is the truth: up, added, removed and the rest come from it
  },
  registration() {
    clearTimeout(connect.statsTimer);
    connect.statsTimer = setTimeout(loadStats, 1000);
  },
};

function streamOpened() {
  const wasLost = document.body.dataset.stream === 'lost';
  retryMs = 1000;
  streamState(true);
  if (wasLost) { announce('live updates back'); refetchSoon(); }
}

function streamLost() {
  if (document.body.dataset.stream !== 'lost') announce('live updates lost, reconnecting');
  streamState(false);
}

function retryLater() {
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 30000);
}

// The event stream: EventSource while no token is stored; EventSource cannot send one, so with
// a token (api.read_auth = yes, or after a drain) the stream is read through fetch().
function connect() {
  if (es) es.close();
  es = null;
  if (streamAbort) streamAbort.abort();
  streamAbort = null;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) { streamWithToken(token); return; }
  es = new EventSource(API + 'events');
  es.onopen = streamOpened;
  es.onerror = () => {
    streamLost();
    if (es.readyState === EventSource.CLOSED) retryLater();   // the browser gave up: retry ourselves
  };
  for (const [type, fn] of Object.entries(handlers)) es.addEventListener(type, fn);
}

// One SSE block ("event: heartbeat\ndata: {...}") to its handler.
function dispatchBlock(block) {
  let type = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;   // a comment: the keep-alive
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length && Object.prototype.hasOwnProperty.call(handlers, type)) {
    handlers[type]({ data: data.join('\n') });
  }
}

async function streamWithToken(token) {
  const ctl = new AbortController();
  streamAbort = ctl;
  try {
    const res = await fetch(API + 'events', {
      headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token}` }, signal: ctl.signal,
    });
    if (res.status === 401) {   // the stored token was refused
      streamLost();
      askReadToken(`HTTP ${res.status}`);
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    streamOpened();
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let m;
      while ((m = /\r?\n\r?\n/.exec(buf)) !== null) {
        dispatchBlock(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;   // connect() replaced this stream
  }
  if (streamAbort !== ctl) return;
  streamLost();
  retryLater();
}

// The server needs the token for reads too (api.read_auth = yes): ask once, then read again.
async function askReadToken(why) {
  if (askingRead) return;
  sessionStorage.removeItem(TOKEN_KEY);
  askingRead = askToken(`This sipd shows nothing without the API token (api.read_auth; ${why}). Enter it to watch the cluster.`);
  const token = await askingRead;
  askingRead = null;
  if (!token) { showError('Cannot list nodes: the API token is needed to read (api.read_auth)', 'nodes'); return; }
  sessionStorage.setItem(TOKEN_KEY, token);
  loadNodes();
  loadStats();
  connect();
}

// ---- drain / activate ---------------------------------------------------------------------

// askToken(why): a promise of the token typed into the dialog, or null when cancelled.
function askToken(why) {
  const dlg = $('token-dialog'), input = $('token-input');
  $('token-why').textContent = why;
  input.value = '';
  return new Promise((resolve) => {
    const done = (v) => { dlg.removeEventListener('close', onClose); resolve(v); };
    const onClose = () => done(dlg.returnValue === 'ok' && input.value ? input.value : null);
    dlg.addEventListener('close', onClose);
    dlg.returnValue = '';
    dlg.showModal();
    input.focus();
  });
}

async function act(name, action) {
  let token = sessionStorage.getItem(TOKEN_KEY);
  let why = `To ${action} ${name}, enter the API token (api.token).`;
  for (;;) {
    if (!token) {
      token = await askToken(why);
      if (!token) return;
    }
    try {
      const node = await api(`nodes/${encodeURIComponent(name)}/${action}`,
        { method: 'POST', headers: { Accept: 'application/json', Authorization: `Bearer ${token}` } });
      sessionStorage.setItem(TOKEN_KEY, token);
      $('error').hidden = true;
      const row = rows.get(name);
      if (row && node) {
        const state = node.state;
        node.state = row.node.state;               // so that setState sees (and says) the change
        row.node = node;
        setState(row, state, `${action} by you`);
      }
      refetchSoon();
      return;
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        token = null;
        why = `The token was refused (${e.message}). Enter it again to ${action} ${name}.`;
        continue;
      }
      showError(`Could not ${action} ${name}: ${e.message}`);
      return;
    }
  }
}

// ---- start --------------------------------------------------------------------------------

function start() {
  $('error-close').addEventListener('click', () => { $('error').hidden = true; });
  $('token-cancel').addEventListener('click', () => $('token-dialog').close(''));
  $('token-form').addEventListener('submit', () => { $('token-dialog').returnValue = 'ok'; });
  loadNodes();
  loadStats();
  connect();
  setInterval(() => rows.forEach(tickAge), 500);
  // events do the live work; a node that sends no heartbeat events (it is no balancer) is polled
  let polledAt = Date.now();
  setInterval(() => {
    const now = Date.now();
    if (now - polledAt >= 30000 || (now - lastBeatAt > 10000 && now - polledAt >= 5000)) {
      polledAt = now;
      loadNodes();
      loadStats();
    }
  }, 1000);
}

document.addEventListener('DOMContentLoaded', start);
