// The XML editor (textarea + line-number gutter + error line marks), the error parser
// for the server's `scenario.xml:L:C: reason` lines, and a side-by-side line diff. The
// editor's check as you type is the server's own (`POST /scenarios/check`), so it says
// what a save would say, at the same line and column.

import { h, clear } from './ui.js';

const LINE = 20; // px, matches .editor line-height

/** createEditor({value, readOnly}) → {el, value(), set(v), setErrors([{line, col, msg}]), goto(line), insert(text), onInput(fn)} */
export function createEditor({ value = '', readOnly = false, height } = {}) {
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const marks = h('div', { class: 'marks' });
  const ta = h('textarea', { spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off', readOnly, 'data-testid': 'xml-editor', 'aria-label': 'Scenario XML' });
  ta.value = value;
  const el = h('div', { class: 'editor' }, gutter, h('div', { class: 'body' }, marks, ta));
  if (height) el.style.height = `${height}px`;
  let errors = [];
  const inputFns = [];

  function paint() {
    const n = ta.value.split('\n').length;
    const errLines = new Set(errors.map((e) => e.line));
    let html = '';
    for (let i = 1; i <= n; i++) html += errLines.has(i) ? `<span class="err">${i}</span>\n` : `${i}\n`;
    gutter.innerHTML = html;
    clear(marks, errors.filter((e) => e.line >= 1 && e.line <= n).map((e) => h('div', { class: 'line-err', style: { top: `${10 + (e.line - 1) * LINE}px` }, title: e.msg, 'data-testid': 'error-line', 'data-line': String(e.line) })));
    sync();
  }
  function sync() {
    gutter.scrollTop = ta.scrollTop;
    marks.style.transform = `translate(${-ta.scrollLeft}px, ${-ta.scrollTop}px)`;
  }
  ta.addEventListener('scroll', sync);
  ta.addEventListener('input', () => { paint(); inputFns.forEach((f) => f()); });
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Tab' && !readOnly) {
      e.preventDefault();
      insert('  ');
    }
  });
  function insert(text) {
    const { selectionStart: a, selectionEnd: b } = ta;
    ta.setRangeText(text, a, b, 'end');
    ta.dispatchEvent(new Event('input'));
    ta.focus();
  }
  function goto(line, col = 1) {
    const lines = ta.value.split('\n');
    let pos = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) pos += lines[i].length + 1;
    ta.focus();
    ta.setSelectionRange(pos + Math.max(0, col - 1), pos + (lines[line - 1] || '').length);
    ta.scrollTop = Math.max(0, (line - 6) * LINE);
    sync();
  }
  requestAnimationFrame(paint);
  paint();
  return {
    el, textarea: ta,
    value: () => ta.value,
    set(v) { ta.value = v; paint(); },
    setErrors(list) { errors = list || []; paint(); },
    goto, insert,
    onInput(fn) { inputFns.push(fn); },
  };
}

/** Parses the server's validation message into [{line, col, msg, text}]. */
export function parseServerErrors(message) {
  const out = [];
  for (const raw of String(message || '').split('\n')) {
    const m = /(?:^|\s)[^\s:]*\.xml:(\d+):(\d+):\s*(.*)$/.exec(raw) || /(?:^|\s)[^\s:]*\.xml:(\d+):\s*(.*)$/.exec(raw);
    if (!m) continue;
    if (m.length === 4) out.push({ line: +m[1], col: +m[2], msg: m[3], text: raw.trim() });
    else out.push({ line: +m[1], col: 1, msg: m[2], text: raw.trim() });
  }
  return out;
}

/** Line diff (LCS). → [{op: '=', '-', '+', a, b}] with a/b the lines. */
export function diffLines(a, b) {
  const A = a.split('\n');
  const B = b.split('\n');
  const n = A.length, m = B.length;
  if (n * m > 4e6) {
    return [...A.map((x) => ({ op: '-', a: x })), ...B.map((x) => ({ op: '+', b: x }))];
  }
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = A[i] === B[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (A[i] === B[j]) { out.push({ op: '=', a: A[i], b: B[j] }); i++; j++; }
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push({ op: '-', a: A[i++] });
    else out.push({ op: '+', b: B[j++] });
  }
  while (i < n) out.push({ op: '-', a: A[i++] });
  while (j < m) out.push({ op: '+', b: B[j++] });
  return out;
}

/** Side-by-side diff view: left = old, right = new; changed runs are aligned with padding. */
export function diffView(oldText, newText, leftTitle, rightTitle) {
  const ops = diffLines(oldText, newText);
  const left = h('div', { class: 'left' }, h('div', { class: 'col-head' }, leftTitle));
  const right = h('div', {}, h('div', { class: 'col-head' }, rightTitle));
  let ln = 0, rn = 0, adds = 0, dels = 0;
  const line = (cls, n, text) => h('div', { class: ['ln', cls] }, h('span', { class: 'n' }, n ?? ''), h('span', {}, text ?? ''));
  for (let k = 0; k < ops.length;) {
    if (ops[k].op === '=') {
      left.append(line('', ++ln, ops[k].a));
      right.append(line('', ++rn, ops[k].b));
      k++;
      continue;
    }
    const dl = [], al = [];
    while (k < ops.length && ops[k].op !== '=') { if (ops[k].op === '-') dl.push(ops[k].a); else al.push(ops[k].b); k++; }
    dels += dl.length; adds += al.length;
    const rows = Math.max(dl.length, al.length);
    for (let r = 0; r < rows; r++) {
      left.append(r < dl.length ? line('del', ++ln, dl[r]) : line('pad'));
      right.append(r < al.length ? line('add', ++rn, al[r]) : line('pad'));
    }
  }
  const el = h('div', { class: 'diff', 'data-testid': 'diff' }, left, right);
  return { el, adds, dels };
}
