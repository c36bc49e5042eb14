// The Reports page's ZIP export: two finished load tests are picked with their check
// boxes, "Download ZIP" downloads one file, and that file, read here by its central
// directory (not by our writer), holds a folder per run with summary.json and
// report.html, the summaries equal to the runs' own. Screenshots in both themes.

import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import {
  signIn, goto, shotBoth, assert, assertEq, apiToken, api, startUas, waitFinished,
} from '../lib.mjs';

/** A load test through the API (setup, not under test); returns the job. */
async function loadTest(t, body) {
  const r = await api(t, 'POST', '/load-test/run', { scenario_id: 'uac', health_enabled: false, ...body });
  assertEq(r.status, 202, `start a load test: ${JSON.stringify(r.body)}`);
  return r.body.job;
}

/** The entries of a ZIP as {name: Buffer}, in central-directory order. */
function readZip(buf) {
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert(end >= 0, 'the download is a ZIP (end of central directory found)');
  const count = buf.readUInt16LE(end + 10);
  let at = buf.readUInt32LE(end + 16);
  const out = new Map();
  for (let i = 0; i < count; i++) {
    assertEq(buf.readUInt32LE(at), 0x02014b50, `central header ${i}`);
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const extra = buf.readUInt16LE(at + 30);
    const comment = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(data, data + size);
    out.set(name, method === 8 ? inflateRawSync(raw) : raw);
    at += 46 + nameLen + extra + comment;
  }
  return out;
}

export const tests = [
  {
    name: 'the reports page downloads the picked runs as one ZIP with a folder per run',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      try {
        const d = `127.0.0.1:${uas.port}`;
        const a = await loadTest(t, { director: d, total_calls: 5, rate: 10, name: 'zip run a' });
        const b = await loadTest(t, { director: d, total_calls: 8, rate: 10, name: 'zip run b' });
        for (const j of [a, b]) await waitFinished(t, j.id);
        await signIn(page);
        await goto(page, '#/reports');
        const button = page.getByTestId('export-zip');
        assert(await button.isDisabled(), 'nothing picked: the button is off');
        for (const j of [a, b]) await page.locator(`tr[data-job="${j.id}"]`).getByTestId('report-pick').check();
        assertEq((await button.innerText()).trim(), 'Download ZIP (2)', 'the button counts the picked runs');
        await shotBoth(page, 'reports-export');
        const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
        assertEq(download.suggestedFilename(), 'reports-2.zip', 'the file name');
        const zip = readZip(await readFile(await download.path()));
        // In the list's order (newest first).
        const order = (await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.dataset.job))).filter((id) => id === a.id || id === b.id);
        assertEq(order.length, 2, 'both runs are listed');
        assertEq(JSON.stringify([...zip.keys()]), JSON.stringify(order.flatMap((id) => [`${id}/summary.json`, `${id}/report.html`])), 'the entries');
        for (const [j, calls] of [[a, 5], [b, 8]]) {
          const own = (await api(t, 'GET', `/jobs/${encodeURIComponent(j.id)}/artifacts/summary`)).body;
          const got = JSON.parse(zip.get(`${j.id}/summary.json`).toString('utf8'));
          assertEq(JSON.stringify(got), JSON.stringify(own), `${j.id}: summary.json is the run's own`);
          assertEq(got.success_calls, calls, `${j.id}: its calls`);
          assert(zip.get(`${j.id}/report.html`).toString('utf8').includes('<svg'), `${j.id}: report.html`);
        }
        // Picking every run, then none, turns the button off again.
        await page.getByTestId('report-pick-all').check();
        await page.getByTestId('report-pick-all').uncheck();
        assert(await button.isDisabled(), 'nothing picked again: the button is off');
      } finally {
        await uas.stop();
      }
    },
  },
];
