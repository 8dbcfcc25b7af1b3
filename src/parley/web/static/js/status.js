// The operator's page: both stores' health and latency, breaker states, the
// replay backlog, and fallbacks/errors/replays per minute as small live charts
// built from successive /api/metrics readings. All drawing is DOM/SVG nodes.

import { $, clear, h } from './dom.js';
import { gauge, parseMetrics, total } from './prom.js';

const HEALTH_EVERY = 2000;
const METRICS_EVERY = 5000;
const WINDOW_MS = 10 * 60 * 1000;
const STORES = [
  { key: 'mongodb', label: 'MongoDB', colour: '#1d6b35' },
  { key: 'postgresql', label: 'PostgreSQL', colour: '#1f4aa8' },
];
const SVG = 'http://www.w3.org/2000/svg';
const readings = []; // {t, counters: {series: value}, backlog}
let lastHealth = null;
let lastSamples = [];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

function card(title, state, stateText, value, rows) {
  return h('article', { class: 'card', dataset: { state } },
    h('h3', {}, h('span', { text: title }), h('span', { class: `state-${state}`, text: stateText })),
    value === null ? null : h('p', { class: 'value', text: value }),
    h('dl', {}, rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
}

async function refreshHealth() {
  let body = null;
  try {
    body = await (await fetch('/api/health', { cache: 'no-store' })).json();
  } catch {
    body = null;
  }
  const overall = $('overall');
  const status = body?.status ?? 'unreachable';
  overall.dataset.status = status;
  overall.textContent = status === 'unreachable' ? 'API unreachable' : status;
  $('message').textContent = body?.message ?? 'The API does not answer.';
  $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  lastHealth = body;
  renderStores();
}

function renderStores() {
  const body = lastHealth;
  const stores = clear($('stores'));
  for (const store of STORES) {
    const up = body?.databases?.[store.key];
    const detail = body?.details?.[store.key] ?? {};
    stores.append(card(store.label, up ? 'up' : 'down', up ? '✓ up' : '✕ down',
      detail.latencyMs == null ? '—' : `${Number(detail.latencyMs).toFixed(1)} ms`,
      [['Probe latency', detail.latencyMs == null ? 'no answer' : `${detail.latencyMs} ms`],
        ['Error', detail.error ?? 'none'], breakerRow(store)]));
  }
}

function breakerRow(store) {
  const value = gauge(lastSamples, `parley_breaker_open_${store.key}`);
  if (value === null) return ['Circuit breaker', 'unknown'];
  return ['Circuit breaker', value === 1 ? 'open: calls go to the other store' : 'closed'];
}

function counters(samples) {
  const ops = 'parley_db_operations_total';
  const series = {};
  for (const store of STORES) {
    series[`fallback:${store.key}`] =
      total(samples, ops, { outcome: 'fallback', store: store.key }) +
      total(samples, ops, { outcome: 'hedged', store: store.key });
    series[`error:${store.key}`] =
      total(samples, ops, { outcome: 'unavailable', store: store.key }) +
      total(samples, ops, { outcome: 'refused', store: store.key });
    series[`replayed:${store.key}`] = total(samples, ops, { outcome: 'replayed', store: store.key });
  }
  return series;
}

async function refreshMetrics() {
  let samples;
  try {
    const response = await fetch('/api/metrics', { cache: 'no-store' });
    samples = parseMetrics(await response.text());
  } catch {
    return;
  }
  const now = Date.now();
  readings.push({ t: now, counters: counters(samples), backlog: gauge(samples, 'parley_replay_backlog_conversations') });
  while (readings.length && readings[0].t < now - WINDOW_MS - 60000) readings.shift();
  lastSamples = samples;
  renderStores();
  renderReplay(samples);
  renderCharts();
}

function renderReplay(samples) {
  const backlog = gauge(samples, 'parley_replay_backlog_conversations');
  const last = readings.at(-1).counters;
  const ago = readings.find((r) => r.t >= Date.now() - 60000) ?? readings[0];
  const perMinute = (key) => Math.max(0, last[key] - ago.counters[key]);
  clear($('replay')).append(
    card('PostgreSQL → MongoDB', backlog ? 'busy' : 'empty', backlog ? 'catching up' : '✓ caught up',
      backlog == null ? '—' : `${backlog} conversation${backlog === 1 ? '' : 's'}`,
      [['Waiting', 'conversations whose changes MongoDB has yet to receive'],
        ['Replayed, last minute', String(perMinute('replayed:mongodb'))]]),
    card('MongoDB → PostgreSQL', 'empty', 'replayed as it arrives', null,
      [['Replayed, last minute', String(perMinute('replayed:postgresql'))],
        ['Waiting', 'not reported by /api/metrics']]),
  );
}

/**
 * For each reading, how many events of `key` the last minute held (the
 * increases between readings in that minute; a counter that went down had
 * restarted with its app). Steadier than instantaneous rates, and what an
 * operator means by "per minute".
 */
function rates(key) {
  const increases = [];
  for (let i = 1; i < readings.length; i += 1) {
    const [a, b] = [readings[i - 1].counters[key], readings[i].counters[key]];
    increases.push({ t: readings[i].t, n: b >= a ? b - a : b });
  }
  return increases.map((point, index) => ({
    t: point.t,
    v: increases
      .slice(0, index + 1)
      .filter((p) => p.t > point.t - 60000)
      .reduce((sum, p) => sum + p.n, 0),
  }));
}

function chart(title, kind) {
  const width = 300;
  const height = 100;
  const now = Date.now();
  const lines = STORES.map((store) => ({ store, points: rates(`${kind}:${store.key}`) }));
  const max = Math.max(1, ...lines.flatMap((l) => l.points.map((p) => p.v)));
  // Up to the last 10 minutes; a page opened a moment ago shows its first minute.
  const span = Math.min(WINDOW_MS, Math.max(60000, now - (readings[0]?.t ?? now)));
  const x = (t) => ((t - (now - span)) / span) * width;
  const y = (v) => height - 4 - (v / max) * (height - 14);
  const latest = lines.map((l) => `${l.store.label} ${Math.round(l.points.at(-1)?.v ?? 0)}`).join(', ');
  const graphic = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}, now: ${latest} per minute` },
    svg('line', { x1: 0, y1: height - 4, x2: width, y2: height - 4, stroke: '#8a8fa8' }),
    svg('text', { x: 2, y: 10, 'font-size': 9, fill: '#575b73' }, `${Math.round(max)}/min`),
    svg('text', { x: 2, y: height - 7, 'font-size': 9, fill: '#575b73' }, `${Math.round(span / 60000)} min ago`),
    svg('text', { x: width - 2, y: height - 7, 'font-size': 9, fill: '#575b73', 'text-anchor': 'end' }, 'now'),
    ...lines.filter((l) => l.points.length).map((l) => svg('polyline', {
      fill: 'none', stroke: l.store.colour, 'stroke-width': 2,
      'stroke-dasharray': l.store.key === 'postgresql' ? '5 3' : 'none',
      points: l.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
    })),
    // The latest reading as a dot, so even a page opened a moment ago shows it.
    ...lines.filter((l) => l.points.length).map((l) => svg('circle', {
      cx: Math.min(width - 3, x(l.points.at(-1).t)).toFixed(1), cy: y(l.points.at(-1).v).toFixed(1), r: 3,
      fill: l.store.colour,
    })));
  return h('figure', { class: 'chart', dataset: { chart: kind } },
    h('h3', { text: title }),
    graphic,
    h('ul', { class: 'legend' }, lines.map((l) => h('li', {},
      h('span', { class: 'swatch', style: null, dataset: { store: l.store.key } }),
      `${l.store.label}: ${Math.round(l.points.at(-1)?.v ?? 0)}/min`))));
}

function renderCharts() {
  clear($('charts')).append(
    chart('Fallbacks and hedged reads (to this store)', 'fallback'),
    chart('Errors (store unavailable or breaker open)', 'error'),
    chart('Replayed writes (by target store)', 'replayed'),
  );
}

await refreshHealth();
await refreshMetrics();
setInterval(refreshHealth, HEALTH_EVERY);
setInterval(refreshMetrics, METRICS_EVERY);
