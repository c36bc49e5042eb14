// Hand-drawn SVG time-series charts (no library): live line charts for the dashboard,
// the job monitor and the load-test monitor.
//
// A chart keeps its points ([{t: ms, v: [..]}]) and redraws into its own width on every
// push or resize. The SVG carries data-points (how many points are drawn) and
// data-last (the last value of the first series), which the browser tests read.

import { h, fmtNum } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const M = { l: 46, r: 14, t: 10, b: 24 };

function s(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** A "nice" upper bound and step for an axis from 0 to max. */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  return { max: Math.ceil(max / step - 1e-9) * step || step, step };
}

function fmtAxis(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 ? 2 : 0)}`;
}

function clock(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export class TimeChart {
  /**
   * @param {object} o
   * @param {string} o.title
   * @param {{name: string, color: string}[]} o.series
   * @param {string} [o.unit]   shown after the current value
   * @param {number} [o.windowMs] live window; null shows all points
   * @param {number} [o.height]
   * @param {string} [o.testid]
   */
  constructor({ title, series, unit = '', windowMs = 5 * 60 * 1000, height = 170, testid, digits = 0 }) {
    this.series = series;
    this.unit = unit;
    this.windowMs = windowMs;
    this.height = height;
    this.digits = digits;
    this.points = [];
    this.maxPoints = 3600;
    this.now = h('div', { class: 'now' }, '–');
    this.svg = s('svg', { height, role: 'img', 'aria-label': title, 'data-points': '0' });
    if (testid) this.svg.setAttribute('data-testid', testid);
    this.tip = h('div', { class: 'tip', hidden: true });
    this.nodata = h('div', { class: 'nodata' }, 'Waiting for data…');
    const legend = series.length > 1
      ? h('div', { class: 'chart-legend' }, series.map((x) => h('span', {}, h('i', { style: { background: x.color } }), x.name)))
      : null;
    this.el = h('div', { class: 'card chart' },
      h('div', { class: 'chart-head' }, h('h3', {}, title), this.now), legend,
      h('div', { style: { position: 'relative' } }, this.svg, this.nodata, this.tip));
    this.svg.addEventListener('mousemove', (e) => this.hover(e));
    this.svg.addEventListener('mouseleave', () => { this.tip.hidden = true; this.cross?.remove(); this.cross = null; });
    this.ro = new ResizeObserver(() => this.render());
    this.ro.observe(this.el);
  }

  /** Appends one point (t in ms; values aligned with series; null = gap-free skip). */
  push(t, values) {
    const last = this.points[this.points.length - 1];
    if (last && t < last.t) return;
    if (last && t === last.t) last.v = values;
    else this.points.push({ t, v: values });
    if (this.points.length > this.maxPoints) this.points.splice(0, this.points.length - this.maxPoints);
    this.schedule();
  }

  setData(points) {
    this.points = points.slice(-this.maxPoints);
    this.schedule();
  }

  clear() { this.points = []; this.schedule(); }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.render(); });
  }

  visible() {
    if (!this.windowMs || !this.points.length) return this.points;
    const end = this.points[this.points.length - 1].t;
    return this.points.filter((p) => p.t >= end - this.windowMs);
  }

  render() {
    const W = this.svg.clientWidth || this.el.clientWidth || 400;
    const H = this.height;
    const pts = this.visible();
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.svg.replaceChildren();
    this.svg.setAttribute('data-points', String(pts.length));
    const last = pts[pts.length - 1];
    const lastV = last ? last.v[0] : null;
    this.svg.setAttribute('data-last', lastV === null || lastV === undefined ? '' : String(lastV));
    this.svg.setAttribute('data-values', last ? JSON.stringify(last.v) : '');
    this.now.replaceChildren(last ? fmtNum(lastV, this.digits) : '–', this.unit && last ? h('small', {}, ` ${this.unit}`) : '');
    this.nodata.hidden = pts.length > 0;

    let max = 0;
    for (const p of pts) for (const v of p.v) if (v > max) max = v;
    const { max: ymax, step } = niceScale(max);
    const x0 = pts.length ? pts[0].t : Date.now() - (this.windowMs || 60000);
    let x1 = last ? last.t : Date.now();
    if (this.windowMs && x1 - x0 < this.windowMs && pts.length) x1 = Math.max(x1, x0 + Math.min(this.windowMs, 60000));
    if (x1 <= x0) x1 = x0 + 1000;
    const iw = W - M.l - M.r;
    const ih = H - M.t - M.b;
    const X = (t) => M.l + ((t - x0) / (x1 - x0)) * iw;
    const Y = (v) => M.t + ih - (v / ymax) * ih;
    this.geom = { X, Y, x0, x1, pts, iw };

    const grid = s('g', { class: 'grid' });
    for (let v = 0; v <= ymax + 1e-9; v += step) {
      const y = Y(v);
      grid.append(s('line', { x1: M.l, x2: W - M.r, y1: y, y2: y }));
      const tx = s('text', { x: M.l - 8, y: y + 3.5, 'text-anchor': 'end' });
      tx.textContent = fmtAxis(v);
      grid.append(tx);
    }
    const ticks = Math.max(2, Math.min(6, Math.floor(iw / 110)));
    for (let i = 0; i <= ticks; i++) {
      const t = x0 + ((x1 - x0) * i) / ticks;
      const tx = s('text', { x: X(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' });
      tx.textContent = clock(t);
      grid.append(tx);
    }
    this.svg.append(grid);

    this.series.forEach((ser, i) => {
      const g = s('g', { class: 'series' });
      let d = '';
      for (const p of pts) {
        const v = p.v[i];
        if (v === null || v === undefined || Number.isNaN(v)) continue;
        d += `${d ? 'L' : 'M'}${X(p.t).toFixed(1)},${Y(v).toFixed(1)}`;
      }
      if (!d) return;
      if (i === 0 && pts.length > 1) {
        const first = pts.find((p) => p.v[0] !== null && p.v[0] !== undefined);
        g.append(s('path', { class: 'area', fill: ser.color, d: `${d}L${X(last.t).toFixed(1)},${Y(0)}L${X(first.t).toFixed(1)},${Y(0)}Z` }));
      }
      g.append(s('path', { class: 'line', stroke: ser.color, d }));
      if (pts.length === 1) g.append(s('circle', { cx: X(last.t), cy: Y(last.v[i] || 0), r: 3, fill: ser.color }));
      this.svg.append(g);
    });
  }

  hover(e) {
    const g = this.geom;
    if (!g || !g.pts.length) return;
    const rect = this.svg.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const t = g.x0 + ((x - M.l) / g.iw) * (g.x1 - g.x0);
    let best = g.pts[0];
    for (const p of g.pts) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
    const px = g.X(best.t);
    if (!this.cross) { this.cross = s('line', { class: 'cross' }); this.svg.append(this.cross); }
    this.cross.setAttribute('x1', px); this.cross.setAttribute('x2', px);
    this.cross.setAttribute('y1', M.t); this.cross.setAttribute('y2', this.height - M.b);
    this.tip.replaceChildren(h('div', { class: 'faint' }, clock(best.t)),
      this.series.map((ser, i) => h('div', {}, h('span', { style: { color: ser.color } }, '● '), `${ser.name}: `, h('b', {}, fmtNum(best.v[i], 2)))));
    this.tip.hidden = false;
    const left = px + 12 + 160 > rect.width ? px - 170 : px + 12;
    this.tip.style.left = `${left}px`;
    this.tip.style.top = '8px';
  }

  destroy() { this.ro.disconnect(); cancelAnimationFrame(this.pending); }
}

/**
 * Turns worker "stats" lines into chart points. Cumulative counters become per-second
 * rates between lines; gauges (active calls, cps, percentiles) are taken as they are.
 */
export class StatsSeries {
  constructor() { this.prev = null; }

  /** @returns {{t, cps, active, failedPerS, retransPerS, timeoutsPerS, failed, created, succeeded, p50, p90, p99, steps, …} | null} */
  add(line) {
    if (!line || (line.kind && line.kind !== 'stats')) return null;
    const st = line.stats || line;
    const t = typeof line.ts === 'number' ? line.ts : Date.parse(line.ts) || Date.now();
    const num = (k) => (typeof st[k] === 'number' ? st[k] : null);
    const created = num('calls_created');
    const failed = num('calls_failed') ?? 0;
    const retrans = num('retransmissions') ?? 0;
    const timeouts = num('timeouts') ?? 0;
    const p = this.prev;
    let cps = num('cps');
    let failedPerS = 0, retransPerS = 0, timeoutsPerS = 0;
    if (p && t > p.t) {
      const dt = (t - p.t) / 1000;
      if (cps === null && created !== null) cps = Math.max(0, (created - p.created) / dt);
      failedPerS = Math.max(0, (failed - p.failed) / dt);
      retransPerS = Math.max(0, (retrans - p.retrans) / dt);
      timeoutsPerS = Math.max(0, (timeouts - p.timeouts) / dt);
    }
    this.prev = { t, created: created ?? 0, failed, retrans, timeouts };
    return {
      t,
      cps: cps ?? 0,
      active: num('calls_active') ?? 0,
      failedPerS,
      failed,
      created: created ?? 0,
      succeeded: num('calls_succeeded') ?? 0,
      retrans,
      timeouts,
      retransPerS,
      timeoutsPerS,
      // null until the first response was timed: charts and KPIs show "–", not 0 ms.
      p50: num('response_time_p50_ms'),
      p90: num('response_time_p90_ms'),
      p99: num('response_time_p99_ms'),
      peak: num('peak_calls') ?? 0,
      firstCallMs: num('first_call_ms'),
      lastCallMs: num('last_call_ms'),
      limitBlockedMs: num('limit_blocked_ms') ?? 0,
      callLengthAvg: num('call_length_avg_ms'),
      steps: Array.isArray(st.steps) ? st.steps : null,
    };
  }
}

/** The four standard charts (calls/s, active calls, failures with retransmissions and
 *  timeouts, response time). */
export function standardCharts(prefix, windowMs, { split = false } = {}) {
  const css = getComputedStyle(document.documentElement);
  const c = (n) => css.getPropertyValue(n).trim() || '#4f5bd5';
  // split: calls placed (client jobs) and calls answered (server jobs) apart, so a call
  // between two jobs of this master is counted once on each side, never twice on one.
  const cpsSeries = split ? [{ name: 'placed/s', color: c('--c1') }, { name: 'answered/s', color: c('--c2') }] : [{ name: 'calls/s', color: c('--c1') }];
  const activeSeries = split ? [{ name: 'placed', color: c('--c5') }, { name: 'answered', color: c('--c4') }] : [{ name: 'active', color: c('--c5') }];
  const charts = {
    cps: new TimeChart({ title: split ? 'Calls per second, placed and answered' : 'Calls per second', series: cpsSeries, unit: split ? 'placed/s' : 'cps', windowMs, testid: `${prefix}-cps`, digits: 1 }),
    active: new TimeChart({ title: split ? 'Active calls, placed and answered' : 'Active calls', series: activeSeries, windowMs, testid: `${prefix}-active` }),
    failed: new TimeChart({ title: 'Failures, retransmissions and timeouts per second', series: [{ name: 'failed calls/s', color: c('--c3') }, { name: 'retransmissions/s', color: c('--c4') }, { name: 'timeouts/s', color: c('--c5') }], unit: 'failed/s', windowMs, testid: `${prefix}-failed`, digits: 1 }),
    rt: new TimeChart({ title: 'Response time', series: [{ name: 'p50', color: c('--c2') }, { name: 'p99', color: c('--c4') }], unit: 'ms p50', windowMs, testid: `${prefix}-rt`, digits: 1 }),
  };
  charts.push = (pt) => {
    charts.cps.push(pt.t, split ? [pt.cps, pt.cpsAnswered ?? 0] : [pt.cps]);
    charts.active.push(pt.t, split ? [pt.active, pt.activeAnswered ?? 0] : [pt.active]);
    charts.failed.push(pt.t, [pt.failedPerS, pt.retransPerS ?? 0, pt.timeoutsPerS ?? 0]);
    if (pt.p50 !== null || pt.p99 !== null) charts.rt.push(pt.t, [pt.p50, pt.p99]);
  };
  charts.el = h('div', { class: 'grid g2' }, charts.cps.el, charts.active.el, charts.failed.el, charts.rt.el);
  charts.destroy = () => ['cps', 'active', 'failed', 'rt'].forEach((k) => charts[k].destroy());
  return charts;
}
