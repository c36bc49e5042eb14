// #/media: the WAV / PCAP library — drag-and-drop (or pick) upload, list (a WAV with its
// sample rate, channels, sample size and length, and a warning when scenarios cannot
// play it: they play 8 kHz mono PCM), listen, download and delete. Uploads are the raw
// file body (no multipart).

import * as api from '../api.js';
import { h, clear, icon, toast, showError, confirmDialog, table, emptyState, fmtBytes, fmtAgo, fmtNum, fmtDuration, badge, safeName } from '../ui.js';

/** "8 kHz · mono · 16-bit · 2.5 s" for a WAV's format. */
function formatText(a) {
  if (!a) return '–';
  const rate = a.sample_rate % 1000 === 0 ? `${a.sample_rate / 1000} kHz` : `${fmtNum(a.sample_rate / 1000, 2)} kHz`;
  const ch = a.channels === 1 ? 'mono' : a.channels === 2 ? 'stereo' : `${a.channels} channels`;
  const len = a.duration_ms < 60000 ? `${fmtNum(a.duration_ms / 1000, 1)} s` : fmtDuration(a.duration_ms);
  return `${rate} · ${ch} · ${a.bits_per_sample}-bit · ${len}`;
}

const KINDS = { wav: /\.wav$/i, pcap: /\.(pcap|cap)$/i };

export async function render(ctx) {
  const listBox = h('div', { class: 'card' });
  const progress = h('div');
  const picker = h('input', { type: 'file', multiple: true, accept: '.wav,.pcap,.cap', hidden: true, 'data-testid': 'media-file' });
  const drop = h('div', { class: 'drop', tabindex: 0, role: 'button', 'data-testid': 'media-drop', onclick: () => picker.click(),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') picker.click(); } },
  h('div', { style: { marginBottom: '6px' } }, icon('upload')),
  h('div', { class: 'big' }, 'Drop WAV or PCAP files here'),
  h('div', {}, 'or click to choose. Names keep letters, digits, . _ - ; reference them in scenarios as ', h('code', {}, '[[media:wav/name]]'), '.'));
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => upload([...e.dataTransfer.files]));
  picker.addEventListener('change', () => { upload([...picker.files]); picker.value = ''; });

  ctx.el.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Media'), h('div', { class: 'sub' }, 'Audio and packet captures that scenarios play.'))),
    drop, picker, progress, h('div', { class: 'mt' }), listBox);

  async function upload(files) {
    for (const f of files) {
      const kind = Object.keys(KINDS).find((k) => KINDS[k].test(f.name));
      if (!kind) { toast(`${f.name}: only .wav and .pcap files can be uploaded.`, 'error', 'Upload refused'); continue; }
      const name = safeName(f.name);
      const row = h('div', { class: 'alert info', style: { marginTop: '10px' } }, h('span', { class: 'spin' }), ` Uploading ${f.name} (${fmtBytes(f.size)})…`);
      progress.append(row);
      try {
        const r = await api.request('POST', `/media/${kind}/${encodeURIComponent(name)}`, { body: f, headers: { 'Content-Type': kind === 'wav' ? 'audio/wav' : 'application/vnd.tcpdump.pcap' } });
        const asset = await r.json().catch(() => ({}));
        row.remove();
        if (asset.warning) toast(asset.warning, 'error', `Uploaded ${kind}/${name}, but scenarios cannot play it`, { key: `media-warn:${name}` });
        else toast(`Uploaded ${kind}/${name}${asset.audio ? ` (${formatText(asset.audio)})` : ''}.`, 'ok');
      } catch (e) {
        row.remove();
        showError(e, `upload ${f.name}`);
      }
    }
    refresh();
  }

  async function listen(m, cell) {
    try {
      const b = await api.blob(`/media/wav/${encodeURIComponent(m.name)}`);
      const url = URL.createObjectURL(b);
      ctx.onCleanup(() => URL.revokeObjectURL(url));
      clear(cell, h('audio', { controls: true, autoplay: true, src: url }));
    } catch (e) { showError(e, 'play the file'); }
  }

  async function refresh() {
    try {
      const [w, p] = await Promise.all([api.get('/media/wav'), api.get('/media/pcap')]);
      const all = [...(w.media || []), ...(p.media || [])];
      clear(listBox, table([
        { label: 'Kind', render: (m) => badge('plain', m.kind) },
        { label: 'Name', render: (m) => h('div', {}, h('div', { class: 'mono', style: { fontWeight: 600 } }, m.name), h('div', { class: 'small faint mono' }, `[[media:${m.kind}/${m.name}]]`)) },
        { label: 'Format', render: (m) => h('div', { 'data-testid': 'media-format' }, m.kind === 'wav' ? formatText(m.audio) : '–',
          m.warning ? h('div', { class: 'small warn-text', 'data-testid': 'media-warning' }, icon('alert'), ' ', m.warning) : null) },
        { label: 'Size', cls: 'num', render: (m) => fmtBytes(m.size_bytes) },
        { label: 'Uploaded', render: (m) => fmtAgo(m.mod_time) },
        { label: 'Preview', render: (m) => { const c = h('div'); if (m.kind === 'wav') c.append(h('button', { class: 'sm', onclick: () => listen(m, c) }, icon('play'), 'Listen')); return c; } },
        { label: '', cls: 'actions', render: (m) => [
          h('button', { class: 'sm ghost', title: 'Download', 'aria-label': `Download ${m.name}`, onclick: () => api.download(`/media/${m.kind}/${encodeURIComponent(m.name)}`).catch((e) => showError(e, 'download')) }, icon('download')),
          h('button', { class: 'sm ghost danger', title: 'Delete', 'aria-label': `Delete ${m.name}`, 'data-testid': 'media-delete', onclick: async () => {
            if (!(await confirmDialog('Delete media', `Delete ${m.kind}/${m.name}? Scenarios that use it will fail to run.`, { okText: 'Delete', danger: true }))) return;
            try { await api.del(`/media/${m.kind}/${encodeURIComponent(m.name)}`); toast(`Deleted ${m.kind}/${m.name}.`, 'ok'); refresh(); } catch (e) { showError(e, 'delete the file'); }
          } }, icon('trash'))] },
      ], all, { rowAttrs: (m) => ({ 'data-media': `${m.kind}/${m.name}` }), empty: emptyState('No media yet', 'Uploaded files are listed here.') }));
    } catch (e) { showError(e, 'list media'); }
  }
  await refresh();
}
