// SIP trace Records as the Live Trace and Calls pages show them: a message's label
// (method, or status and reason), its time of day to the millisecond, its direction
// in words, and the dialog with the whole message.
//
// A Record (GET /api/v2/sip/trace) is {seq, ts, kind, dir: send|recv, peer, scenario,
// summary (first line), method, status (0 for a request), call_id, raw, raw_truncated,
// size, src, dst, transport}; a debug record has kind and dir "app", level "debug" and
// its line as summary and raw.

import { h, modal, icon, toast } from './ui.js';

/** "INVITE" for a request, "180 Ringing" for a response (the reason from its first line). */
export function messageLabel(r) {
  if (!r) return '';
  // A debug record (kind "app"): its line.
  if (r.kind && r.kind !== 'sip') return String(r.summary || r.kind);
  if (r.status) {
    const m = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/i.exec(String(r.summary || '').trim());
    const reason = m ? m[2].trim() : '';
    return reason ? `${r.status} ${reason}` : String(r.status);
  }
  if (r.method) return r.method;
  return String(r.summary || '').split(' ')[0] || '?';
}

/** "12:03:04.567" (local time), or the raw value when it is no time. */
export function clockMs(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts ?? '–');
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** "sent" / "received". */
export function dirWord(dir) {
  return dir === 'send' ? 'sent' : dir === 'recv' ? 'received' : dir === 'app' ? 'debug' : String(dir || '?');
}

/** The arrow glyph of a direction, seen from this server: → sent, ← received. */
export function dirArrow(dir) {
  return dir === 'send' ? '→' : dir === 'recv' ? '←' : '·';
}

/** Opens a dialog with the whole message and where it went; `callLink` adds a link to
 *  the call's page (its ladder). */
export function messageDialog(r, { callLink = false } = {}) {
  const text = String(r.raw ?? '');
  const body = h('div', { class: 'stack' },
    h('dl', { class: 'kv' },
      h('dt', {}, 'Time'), h('dd', {}, `${clockMs(r.ts)} (${r.ts})`),
      h('dt', {}, 'Direction'), h('dd', {}, `${dirWord(r.dir)} ${r.transport ? `over ${r.transport.toUpperCase()}` : ''}`),
      h('dt', {}, 'From → to'), h('dd', { class: 'mono' }, `${r.src || '?'} → ${r.dst || '?'}`),
      h('dt', {}, 'Call-ID'), h('dd', { class: 'mono' }, r.call_id || '–',
        callLink && r.call_id ? [' ', h('a', { href: `#/calls/${encodeURIComponent(r.call_id)}`, class: 'small', 'data-testid': 'open-call', onclick: () => m.close() }, 'Ladder of this call')] : null),
      r.scenario ? [h('dt', {}, 'Scenario'), h('dd', {}, r.scenario)] : null,
      h('dt', {}, 'Size'), h('dd', {}, `${r.size ?? text.length} bytes${r.raw_truncated ? ' (shown cut at 16 KiB)' : ''}`)),
    h('pre', { class: 'sip-raw', 'data-testid': 'sip-raw' }, text));
  const m = modal({
    title: `${messageLabel(r)} · ${dirWord(r.dir)}`, size: 'wide', body,
    foot: [
      h('button', { onclick: () => navigator.clipboard?.writeText(text).then(() => toast('Message copied.', 'ok'), () => {}) }, icon('copy'), 'Copy'),
      h('button', { class: 'primary', onclick: () => m.close() }, 'Close')],
  });
  return m;
}
