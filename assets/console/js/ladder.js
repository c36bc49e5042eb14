// A call's SIP messages as a ladder diagram (SVG): one vertical lane per address, one
// arrow per message from its sender's lane to its receiver's, labelled with the method
// or status and the time since the call's first message. Clicking an arrow (or its
// label) calls `onPick(record)`.
//
// `ladderModel` is the layout's logic, free of the DOM: lanes in order of first
// appearance (the first message's sender on the left), arrows in time order.

import { messageLabel, clockMs } from './sip-messages.js';

const SVG = 'http://www.w3.org/2000/svg';
const LANE_GAP = 300;
const LEFT = 150;
const TOP = 56;
const ROW = 44;

/** {lanes:[address], arrows:[{from, to, label, at_ms, time, record}]} */
export function ladderModel(records) {
  const recs = [...(records || [])].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  const lanes = [];
  const lane = (addr) => {
    const a = addr || '?';
    let i = lanes.indexOf(a);
    if (i < 0) { lanes.push(a); i = lanes.length - 1; }
    return i;
  };
  const t0 = recs.length ? Date.parse(recs[0].ts) : 0;
  const arrows = recs.map((r) => {
    const from = lane(r.src);
    const to = lane(r.dst);
    const t = Date.parse(r.ts);
    return { from, to, label: messageLabel(r), at_ms: Number.isNaN(t) || Number.isNaN(t0) ? null : t - t0, time: clockMs(r.ts), record: r };
  });
  // One lane only (both ends unknown): a second one so arrows have somewhere to go.
  if (lanes.length < 2) lanes.push('?');
  return { lanes, arrows };
}

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtOffset(ms) {
  if (ms === null) return '';
  return ms < 1000 ? `+${ms} ms` : `+${(ms / 1000).toFixed(3)} s`;
}

/** The diagram; `names` labels lanes (address → "this server"). */
export function ladderSvg(model, { onPick, names = {} } = {}) {
  const { lanes, arrows } = model;
  const width = LEFT + (lanes.length - 1) * LANE_GAP + 120;
  const height = TOP + arrows.length * ROW + 30;
  const svg = el('svg', { class: 'ladder', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'SIP ladder diagram', 'data-testid': 'ladder' });
  const defs = el('defs');
  for (const kind of ['req', 'resp', 'bad']) {
    const marker = el('marker', { id: `ladder-head-${kind}`, viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '8', markerHeight: '8', orient: 'auto-start-reverse' });
    marker.append(el('path', { d: 'M0 0 L10 5 L0 10 z', class: `head ${kind}` }));
    defs.append(marker);
  }
  svg.append(defs);
  const x = (i) => LEFT + i * LANE_GAP;
  lanes.forEach((addr, i) => {
    svg.append(el('text', { x: x(i), y: 18, class: 'lane-name', 'text-anchor': 'middle' }, names[addr] || 'peer'));
    svg.append(el('text', { x: x(i), y: 36, class: 'lane-addr', 'text-anchor': 'middle' }, addr));
    svg.append(el('line', { x1: x(i), y1: TOP - 10, x2: x(i), y2: height - 10, class: 'lane' }));
  });
  arrows.forEach((a, n) => {
    const y = TOP + n * ROW + 26;
    const kind = a.record?.status >= 300 ? 'bad' : a.record?.status ? 'resp' : 'req';
    const g = el('g', { class: `arrow ${kind}`, 'data-testid': 'ladder-arrow', tabindex: '0' });
    const x1 = x(a.from);
    const x2 = x(a.to);
    if (x1 === x2) {
      g.append(el('path', { d: `M${x1} ${y - 8} h40 v12 h-40`, class: 'shaft', 'marker-end': `url(#ladder-head-${kind})`, fill: 'none' }));
    } else {
      g.append(el('line', { x1, y1: y, x2, y2: y, class: 'shaft', 'marker-end': `url(#ladder-head-${kind})` }));
    }
    const mid = x1 === x2 ? x1 + 60 : (x1 + x2) / 2;
    g.append(el('text', { x: mid, y: y - 7, 'text-anchor': x1 === x2 ? 'start' : 'middle', class: 'label', 'data-testid': 'ladder-label' }, a.label));
    g.append(el('text', { x: 12, y: y + 4, class: 'time' }, a.time));
    g.append(el('text', { x: 12, y: y + 17, class: 'offset' }, fmtOffset(a.at_ms)));
    // A wide invisible band makes the arrow easy to click.
    g.append(el('rect', { x: Math.min(x1, x2) - 4, y: y - 24, width: Math.max(Math.abs(x2 - x1), 60) + 8, height: 32, class: 'hit' }));
    const title = el('title', {}, `${a.label} · ${a.record?.src} → ${a.record?.dst} · ${a.time}`);
    g.append(title);
    if (onPick) {
      g.addEventListener('click', () => onPick(a.record));
      g.addEventListener('keydown', (e) => { if (e.key === 'Enter') onPick(a.record); });
    }
    svg.append(g);
  });
  return svg;
}
