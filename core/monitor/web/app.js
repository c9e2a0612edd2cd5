// Monitoring dashboard: polls api/v1/status and api/v1/history and draws them.
// Every value from the JSON enters the page as text (textContent, setAttribute,
// createElement), never as markup: peers choose some of these strings.
'use strict';

const REFRESH_MS = 2000;
const FETCH_TIMEOUT_MS = 5000;
const OLD_TEMPLATE_S = 120;
const SVG_NS = 'http://www.w3.org/2000/svg';

const token = new URLSearchParams(location.search).get('token');
const headers = token ? { Authorization: `Bearer ${token}` } : {};

const $ = (id) => document.getElementById(id);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v) => (typeof v === 'string' && v !== '' ? v : null);
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const N = (v) => (num(v) === null ? null : nf.format(v)); // null: row left out
const pad = (n) => String(n).padStart(2, '0');
const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const hm = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const dateTime = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms(d)}`;

// parseTime returns ms since the epoch, or null for missing and zero times.
function parseTime(v) {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) && t > Date.UTC(2000, 0, 1) ? t : null;
}

// el makes an element; children are nodes or strings (added as text).
function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const UNITS = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];
function unitFor(h) {
  let i = 0;
  while (h >= 1000 && i < UNITS.length - 1) { h /= 1000; i++; }
  return i;
}
// fmtHashrate formats h in the given unit (default: its own); short trims zeros.
function fmtHashrate(h, unit = unitFor(h), short = false) {
  if (num(h) === null || h < 0) return '—';
  const x = h / 1000 ** unit;
  const s = x >= 1e6 ? x.toExponential(2) : short ? String(Number(x.toPrecision(3))) : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  return `${s} ${UNITS[unit]}`;
}

function fmtDuration(sec) {
  if (num(sec) === null) return '—';
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${s}s`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

function fmtSeconds(s) {
  if (num(s) === null) return '—';
  return s < 1 ? `${nf.format(s * 1000)} ms` : `${nf.format(s)} s`;
}

function badge(text, kind) { return el('span', { class: `badge ${kind}` }, text); }

function timeEl(ms) {
  return ms === null ? '—' : el('time', { datetime: new Date(ms).toISOString() }, dateTime(new Date(ms)));
}

// hashEl shows a hash shortened in the middle; its text stays the full hash.
function hashEl(hash, href) {
  const attrs = { class: 'hash', title: hash };
  if (href) Object.assign(attrs, { href, target: '_blank', rel: 'noopener' });
  const e = el(href ? 'a' : 'span', attrs);
  if (hash.length > 24) {
    e.append(el('span', { class: 'hash-head' }, hash.slice(0, 12)),
      el('span', { class: 'hash-mid' }, hash.slice(12, -10)),
      el('span', { class: 'hash-tail' }, hash.slice(-10)));
  } else {
    e.textContent = hash;
  }
  return e;
}

// fillKV fills a <dl> with [label, value, attrs] rows, leaving out null values.
function fillKV(dl, rows) {
  const items = [];
  for (const [label, value, attrs] of rows) {
    if (value === null || value === undefined) continue;
    items.push(el('div', {}, el('dt', {}, label), el('dd', attrs || {}, value)));
  }
  dl.replaceChildren(...items);
  return items.length;
}

function show(id, on) { $(id).hidden = !on; }

// ---- state ----

let latest = null;      // the latest status
let fetchedAt = 0;       // Date.now() when it came
let clockOffset = 0;     // server clock minus ours, when they differ by much
let hist = [];           // [{t, v}] oldest first
let interval = 10;       // seconds between history points
let historyAt = -Infinity; // Date.now() when the history came
let failingSince = null;
let failure = '';

const now = () => Date.now() + clockOffset;

async function getJSON(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    const r = await fetch(url, { headers, cache: 'no-store', signal: ctl.signal });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const date = Date.parse(r.headers.get('Date') || '');
    return { data: await r.json(), date: Number.isFinite(date) ? date : null };
  } finally {
    clearTimeout(timer);
  }
}

function takeHistory(h) {
  if (!isObj(h)) return;
  if (num(h.interval_seconds) && h.interval_seconds > 0) interval = h.interval_seconds;
  const pts = Array.isArray(h.points) ? h.points : [];
  hist = pts
    .map((p) => ({ t: parseTime(p?.t), v: num(p?.hashrate_hs) }))
    .filter((p) => p.t !== null && p.v !== null && p.v >= 0)
    .sort((a, b) => a.t - b.t);
}

async function refresh() {
  const wantHistory = Date.now() - historyAt >= interval * 1000; // it changes once an interval
  const [st, hi] = await Promise.allSettled([getJSON('api/v1/status'), wantHistory ? getJSON('api/v1/history') : null]);
  if (wantHistory && hi.status === 'fulfilled') {
    takeHistory(hi.value.data);
    historyAt = Date.now();
  }
  if (st.status === 'rejected') {
    const e = st.reason;
    failingSince ??= new Date();
    failure = e?.name === 'AbortError' ? 'timed out' : e?.message || String(e);
    renderStale();
    return;
  }
  latest = isObj(st.value.data) ? st.value.data : {};
  fetchedAt = Date.now();
  const d = st.value.date;
  clockOffset = d !== null && Math.abs(d - fetchedAt) > 3000 ? d - fetchedAt : 0;
  failingSince = null;
  render();
  renderStale();
  $('updated').textContent = `updated ${hms(new Date())}`;
  document.body.dataset.ready = '1';
}

function renderStale() {
  const n = $('stale');
  n.hidden = !failingSince;
  document.body.classList.toggle('is-stale', !!failingSince);
  if (failingSince) {
    n.textContent = `Stale / unreachable since ${hms(failingSince)} (${failure}); retrying every ${REFRESH_MS / 1000} s.`;
  }
}

// render draws each panel; a panel failing on odd data leaves the others.
function render() {
  for (const f of [renderHeader, renderHashrate, renderShares, renderBlocks, renderConnections,
    renderTemplate, renderUpstream, renderNode, renderDeclarations, renderCounters]) {
    try { f(latest); } catch (e) { console.error(f.name, e); }
  }
  tick();
}

function renderHeader(s) {
  const app = str(s.app) || 'monitor';
  const state = str(s.state) || (s.healthy === true ? 'healthy' : s.healthy === false ? 'unhealthy' : 'unknown');
  $('app').textContent = app;
  const b = $('state');
  b.textContent = state;
  b.className = `badge ${s.healthy === true ? 'ok' : s.healthy === false ? 'bad' : 'unknown'}`;
  $('health').textContent = s.healthy === true ? 'healthy' : s.healthy === false ? 'unhealthy' : '';
  document.title = `${app} · ${state}`;
}

// ---- hashrate and chart ----

function chartPoints() {
  const pts = hist.slice();
  const h = num(latest?.hashrate_hs);
  if (h !== null && h >= 0) {
    const last = pts.length ? pts[pts.length - 1].t : -Infinity;
    pts.push({ t: Math.max(fetchedAt + clockOffset, last), v: h });
  }
  return pts;
}

function renderHashrate(s) {
  $('hashrate').textContent = fmtHashrate(num(s.hashrate_hs));
  drawChart(chartPoints());
}

// niceScale returns a round top for values up to max and its tick step.
function niceScale(max, ticks = 4) {
  if (!(max > 0) || !Number.isFinite(max)) return { top: 4, step: 1 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  const top = Math.ceil(max / step - 1e-9) * step;
  if (!(step > 0) || !Number.isFinite(top) || top <= 0) return { top: max, step: max };
  return { top, step };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
  .map((s) => s * 1000);

function drawChart(pts) {
  const svg = $('chart');
  const W = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 600);
  const H = 200, m = { l: 70, r: 14, t: 12, b: 26 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);

  const t1 = pts.length ? pts[pts.length - 1].t : now();
  let t0 = pts.length ? pts[0].t : t1 - 600e3;
  if (t1 - t0 < 60e3) t0 = t1 - 60e3;
  const max = pts.reduce((a, p) => Math.max(a, p.v), 0);
  const { top, step } = niceScale(max);
  const unit = unitFor(top);
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
  const y = (v) => m.t + ph - (v / top) * ph;

  const kids = [$('chart-title')];
  for (let i = 0; i <= 10; i++) { // y ticks
    const v = i * step;
    if (v > top * (1 + 1e-9)) break;
    const yy = y(v).toFixed(1);
    kids.push(el('svg:line', { class: 'grid', x1: m.l, x2: W - m.r, y1: yy, y2: yy }),
      el('svg:text', { class: 'tick', x: m.l - 6, y: yy, 'text-anchor': 'end', 'dominant-baseline': 'middle' },
        fmtHashrate(v, unit, true)));
  }
  const span = t1 - t0;
  const ts = TIME_STEPS.find((s) => span / s <= 6) || Math.ceil(span / 6 / 86400e3) * 86400e3;
  for (let t = Math.ceil(t0 / ts) * ts, i = 0; t <= t1 && i < 20; t += ts, i++) { // x ticks
    const xx = x(t).toFixed(1);
    kids.push(el('svg:line', { class: 'grid', x1: xx, x2: xx, y1: m.t, y2: m.t + ph }),
      el('svg:text', { class: 'tick', x: xx, y: H - 6, 'text-anchor': 'middle' },
        ts < 60e3 ? hms(new Date(t)) : hm(new Date(t))));
  }
  kids.push(el('svg:line', { class: 'axis', x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }),
    el('svg:line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph }));

  if (pts.length) {
    const gap = Math.max(3 * interval * 1000, 30e3); // longer: the line breaks
    const segs = [];
    pts.forEach((p, i) => {
      if (i === 0 || p.t - pts[i - 1].t > gap) segs.push([]);
      segs[segs.length - 1].push([x(p.t).toFixed(1), y(p.v).toFixed(1)]);
    });
    const base = y(0).toFixed(1);
    const trace = (g) => g.map(([px, py]) => `${px},${py}`).join('L');
    const area = segs.filter((g) => g.length > 1)
      .map((g) => `M${g[0][0]},${base}L${trace(g)}L${g[g.length - 1][0]},${base}Z`).join('');
    if (area) kids.push(el('svg:path', { class: 'area', d: area }));
    const line = segs.map((g) => `M${trace(g)}`).join('');
    kids.push(el('svg:path', { class: 'line', d: line }));
    const last = pts[pts.length - 1];
    const dots = segs.filter((g) => g.length === 1).flat(); // lone points, and the latest
    if (segs[segs.length - 1].length > 1) dots.push([x(last.t).toFixed(1), y(last.v).toFixed(1)]);
    for (const [cx, cy] of dots) kids.push(el('svg:circle', { class: 'dot', cx, cy, r: 3 }));
  } else {
    kids.push(el('svg:text', { class: 'empty', x: m.l + pw / 2, y: m.t + ph / 2, 'text-anchor': 'middle' }, 'no data yet'));
  }
  svg.replaceChildren(...kids);
  $('chart-title').textContent = pts.length
    ? `Hashrate from ${hm(new Date(t0))} to ${hm(new Date(t1))}, peak ${fmtHashrate(max)}, now ${fmtHashrate(pts[pts.length - 1].v)}`
    : 'Hashrate over time: no data yet';
}

// ---- panels ----

function renderShares(s) {
  const sh = s.shares;
  show('panel-shares', isObj(sh));
  if (!isObj(sh)) return;
  const acc = num(sh.accepted) ?? 0;
  const rej = isObj(sh.rejected)
    ? Object.entries(sh.rejected).filter(([, v]) => num(v) !== null).sort((a, b) => b[1] - a[1])
    : [];
  const total = rej.reduce((a, [, v]) => a + v, acc);
  const rows = [['accepted', acc, 'ok'], ...rej.map(([k, v]) => [k, v, 'bad'])];
  $('shares').tBodies[0].replaceChildren(...rows.map(([name, count, kind]) => {
    const bar = el('span', { class: `bar ${kind}` });
    bar.style.width = `${total > 0 ? (count / total) * 100 : 0}%`; // CSSOM: allowed by the CSP
    return el('tr', {}, el('th', { scope: 'row' }, name), el('td', { class: 'num' }, nf.format(count)),
      el('td', { class: 'barcell', 'aria-hidden': 'true' }, bar));
  }));
  const parts = [total > 0 ? `${((acc / total) * 100).toFixed(1)} % accepted of ${nf.format(total)}` : 'no share yet'];
  if (num(sh.accepted_difficulty) !== null) parts.push(`accepted difficulty ${nf.format(sh.accepted_difficulty)}`);
  $('share-ratio').textContent = parts.join(' · ');
}

const BLOCK_STATES = ['pending', 'accepted', 'confirmed', 'lost'];

function explorerURL(s) {
  const e = str(s.explorer);
  return e && /^https?:\/\//i.test(e) ? e : null;
}

function renderBlocks(s) {
  const b = s.blocks;
  show('panel-blocks', isObj(b));
  if (!isObj(b)) return;
  fillKV($('block-counts'), [['Found', N(b.found)], ['Pending', N(b.pending)],
    ['Confirmed', N(b.confirmed), { class: 'ok-text' }], ['Lost', N(b.lost), { class: b.lost > 0 ? 'bad-text' : null }]]);
  const ex = explorerURL(s);
  const recent = Array.isArray(b.recent) ? b.recent.filter(isObj) : [];
  const items = recent.map((blk) => {
    const state = BLOCK_STATES.includes(blk.state) ? blk.state : 'unknown';
    const kind = { pending: 'warn', accepted: 'warn', confirmed: 'ok', lost: 'bad' }[state] || 'unknown';
    const hash = str(blk.hash);
    const outcome = str(blk.outcome);
    return el('li', { class: `block ${state}` },
      el('div', { class: 'block-head' },
        el('strong', { class: 'height' }, num(blk.height) !== null ? `#${blk.height}` : '#?'), ' ',
        badge(str(blk.state) || 'unknown', kind),
        outcome && outcome !== blk.state ? el('span', { class: 'outcome muted' }, ` ${outcome}`) : null),
      el('div', { class: 'block-meta muted' },
        str(blk.finder) ? el('span', { class: 'finder' }, str(blk.finder)) : null,
        str(blk.finder) ? ' · ' : null, timeEl(parseTime(blk.found))),
      hash ? hashEl(hash, ex ? ex + encodeURIComponent(hash) : null) : null);
  });
  if (!items.length) items.push(el('li', { class: 'empty muted' }, 'no block found yet'));
  $('blocks').replaceChildren(...items);
}

function renderConnections(s) {
  show('panel-connections', fillKV($('connections'),
    [['Connections', N(s.connections)], ['Channels', N(s.channels)], ['Users', N(s.users)]]) > 0);
}

function renderTemplate(s) {
  const t = s.template;
  show('panel-template', isObj(t));
  if (!isObj(t)) return;
  const prev = str(t.prev_hash);
  const sat = num(t.coinbase_value_sat);
  fillKV($('template'), [
    ['ID', N(t.id)],
    ['Height', N(t.height)],
    ['Age', templateAge(t) !== null ? '…' : null, { id: 'template-age', class: 'age' }],
    ['Received', parseTime(t.received) !== null ? timeEl(parseTime(t.received)) : null],
    ['Coinbase value', sat !== null ? `${(sat / 1e8).toFixed(8)} BTC` : null],
    ['Previous block', prev ? hashEl(prev, null) : null],
  ]);
}

function renderUpstream(s) {
  const u = s.upstream;
  show('panel-upstream', isObj(u));
  if (!isObj(u)) return;
  const fb = typeof u.fallback === 'string' ? u.fallback : '';
  fillKV($('upstream'), [
    ['Address', str(u.address)],
    ['Connected', typeof u.connected === 'boolean' ? badge(u.connected ? 'yes' : 'no', u.connected ? 'ok' : 'bad') : null],
    ['Mode', fb === '' ? 'primary' : badge(fb, 'warn')],
    ['Index', N(u.index)],
    ['Switches', N(u.switches)],
  ]);
}

function renderNode(s) {
  const n = s.node;
  show('panel-node', isObj(n));
  if (!isObj(n)) return;
  const mean = num(n.seconds) !== null && num(n.timed) > 0 ? n.seconds / n.timed : null;
  fillKV($('node'), [
    ['Address', str(n.address)],
    ['Requests', N(n.requests)],
    ['Errors', N(n.errors), { class: n.errors > 0 ? 'bad-text' : null }],
    ['Mean latency', mean !== null ? fmtSeconds(mean) : null],
  ]);
}

function renderDeclarations(s) {
  const d = s.declarations;
  show('panel-declarations', isObj(d));
  if (!isObj(d)) return;
  const refused = isObj(d.refused) ? Object.entries(d.refused).filter(([, v]) => num(v) !== null) : [];
  fillKV($('declarations'), [
    ['Declared', N(d.declared)],
    ['Accepted', N(d.accepted)],
    ...refused.map(([code, v]) => [`Refused: ${code}`, N(v), { class: 'bad-text' }]),
  ]);
}

function renderCounters(s) {
  const cs = Array.isArray(s.counters) ? s.counters.filter((c) => isObj(c) && str(c.name)) : [];
  show('panel-counters', cs.length > 0);
  $('counters').tBodies[0].replaceChildren(...cs.map((c) => el('tr', {},
    el('th', { scope: 'row' }, el('code', {}, c.name)),
    el('td', { class: 'num' }, N(c.value) ?? '—'),
    el('td', { class: 'muted' }, str(c.help) || '', c.total ? ' (total)' : ''))));
}

// templateAge is the template's age in seconds at fetchedAt, or null when
// unknown (no age, or a zero received time).
function templateAge(t) {
  if (!isObj(t) || (typeof t.received === 'string' && parseTime(t.received) === null)) return null;
  return num(t.age_seconds);
}

// tick updates what moves between refreshes: uptime and template age.
function tick() {
  if (!latest) return;
  const started = parseTime(latest.started);
  $('uptime-wrap').hidden = started === null;
  if (started !== null) $('uptime').textContent = fmtDuration((now() - started) / 1000);
  const ageEl = $('template-age');
  const age0 = templateAge(latest.template);
  if (ageEl && age0 !== null) {
    const age = age0 + (Date.now() - fetchedAt) / 1000;
    ageEl.textContent = `${age.toFixed(0)} s`;
    ageEl.classList.toggle('old', age > OLD_TEMPLATE_S);
    ageEl.title = age > OLD_TEMPLATE_S ? `older than ${OLD_TEMPLATE_S} s` : '';
  }
}

async function loop() {
  try { await refresh(); } catch (e) { console.error(e); }
  setTimeout(loop, REFRESH_MS);
}

function start() {
  if (token) { // the links need the token too
    for (const a of document.querySelectorAll('.foot a')) {
      a.setAttribute('href', `${a.getAttribute('href')}?token=${encodeURIComponent(token)}`);
    }
  }
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => latest && drawChart(chartPoints()), 150);
  });
  setInterval(tick, 1000);
  loop();
}

start();
