// Numbers a tester can trust (issue 17), as the console shows them: target against
// actual with progress and ETA, the concurrency the wizard computes and its warnings,
// SIPp's per-message table live and final, thresholds and a verdict that is never green
// by default, runs with names and notes compared like with like, the failure paths, the
// dashboard counting each call once, the media formats, the default-password prompt and
// the scenario editor's server-side check. Each test screenshots its pages in both
// themes; the assertions read what a user reads (numbers and words).

import {
  signIn, goto, shotBoth, assert, assertEq, uniq, apiToken, api, eventually, freeUdpPort,
  startUas, waitFinished, BASE,
} from '../lib.mjs';

const text = (page, id) => page.getByTestId(id).innerText();
const num = (s) => Number(String(s).replace(/[^0-9.]/g, ''));

/** A load test through the API (setup, not under test); returns the job. */
async function loadTest(t, body) {
  const r = await api(t, 'POST', '/load-test/run', { scenario_id: 'uac', health_enabled: false, ...body });
  assertEq(r.status, 202, `start a load test: ${JSON.stringify(r.body)}`);
  return r.body.job;
}

/** A PCM WAV of `seconds` at `rate` Hz with `channels` channels, 16-bit. */
function wav(rate, channels, seconds) {
  const frames = Math.round(rate * seconds);
  const data = frames * channels * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0); b.writeUInt32LE(36 + data, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * channels * 2, 28); b.writeUInt16LE(channels * 2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(data, 40);
  return b;
}

/** The five cells of a per-message table row, as read on the page. */
async function msgRow(page, label) {
  const cells = await page.getByTestId('msg-table').locator(`tr[data-step="${label}"]`).first().locator('td').allInnerTexts();
  return cells.map((c) => c.trim());
}

/** Every row of the page's per-message table equals summary.json's `messages` (blank
 *  cells are columns SIPp does not show for that kind of step). */
async function tableMatchesSummary(page, summary) {
  const rows = await page.getByTestId('msg-table').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.innerText.trim())));
  assertEq(rows.length, summary.messages.length, 'one row per step');
  summary.messages.forEach((m, i) => {
    const [, msgs, retrans, timeout, unexpected] = rows[i];
    const want = [m.messages, m.retrans, m.timeouts, m.unexpected].map(String);
    const got = [msgs, retrans, timeout, unexpected];
    got.forEach((g, k) => assert(g === '' || g === want[k], `step ${i} (${m.label}) column ${k + 1}: page ${g}, summary ${want[k]}`));
    assertEq(msgs, m.kind === 'nop' ? '' : String(m.messages), `step ${i} (${m.label}) messages`);
  });
}

export const tests = [
  {
    name: 'the wizard computes the concurrency of rate × hold and warns when a limit throttles the run',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/load');
      await page.getByTestId('lt-director').fill('127.0.0.1:5999');
      // Scenarios that place calls, each once: no UAS, no 3PCC half, no out-of-call answerer.
      const offered = await page.getByTestId('lt-scenario').locator('option').evaluateAll((os) => os.map((o) => o.value));
      assertEq(offered.filter((v) => v === 'uac').length, 1, `uac listed once: ${offered}`);
      for (const server of ['uas', 'branchs', 'ooc_default', '3pcc-A', '3pcc-C-A']) assert(!offered.includes(server), `${server} is not offered: ${offered}`);
      assert(offered.includes('invite_media') && offered.includes('branchc'), `UAC scenarios offered: ${offered}`);
      await page.getByTestId('lt-next').click();
      await page.getByTestId('lt-calls').fill('1000');
      await page.getByTestId('lt-rate').fill('100');
      await page.getByTestId('lt-hold').fill('2000');
      assertEq(await page.getByTestId('lt-concurrency').inputValue(), '245', 'the computed limit: ⌈100 × 2⌉ × 1.2 + 5');
      const hint = await text(page, 'lt-concurrency-hint');
      assert(hint.includes('keep about 200 calls open; suggested limit 245'), `hint: ${hint}`);
      await page.getByTestId('lt-concurrency').fill('2');
      const warned = await text(page, 'lt-concurrency-hint');
      assert(warned.includes('A limit of 2 throttles the run.'), `hint with a low limit: ${warned}`);
      await shotBoth(page, 'trust-wizard-load');
      for (let i = 0; i < 3; i++) await page.getByTestId('lt-next').click();
      const w = await text(page, 'lt-warnings');
      assert(w.includes('that needs 200 open calls') && w.includes('throttled to about 1 calls/s'), `review warning: ${w}`);
      assertEq(await text(page, 'lt-expected'), 'about 16m 42s', '1,000 calls at the throttled 1 call/s, plus the 2 s hold');
      await shotBoth(page, 'trust-wizard-review');
    },
  },
  {
    name: 'a throttled run shows target against actual, progress and ETA live, and its verdict says the target was missed',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      try {
        await signIn(page);
        await goto(page, '#/load');
        await page.getByTestId('lt-director').fill(`127.0.0.1:${uas.port}`);
        await page.getByTestId('lt-scenario').selectOption('uac');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-calls').fill('16');
        await page.getByTestId('lt-rate').fill('10');
        await page.getByTestId('lt-hold').fill('1000');
        await page.getByTestId('lt-concurrency').fill('2');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-name').fill('throttled on purpose');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-run').click();
        await page.waitForFunction(() => /^#\/load\/.+/.test(location.hash));
        const id = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[2]));
        assertEq(await text(page, 'job-title'), 'throttled on purpose', 'the run carries its name');

        // Live: "N of 16", a progress bar, an ETA and the throttle warning.
        // The count and the bar read in one go (they move between two reads).
        const live = await eventually(async () => {
          const r = await page.evaluate(() => ({
            calls: document.querySelector('[data-testid="tv-calls-actual"]')?.innerText,
            pct: document.querySelector('[data-testid="tv-progress"]')?.getAttribute('data-pct'),
          }));
          const m = /^(\d+) of 16$/.exec(r.calls || '');
          return m && Number(m[1]) >= 2 && Number(m[1]) < 16 ? { n: Number(m[1]), pct: Number(r.pct) } : null;
        }, { timeout: 20000, what: 'live progress "N of 16"' });
        assertEq(await text(page, 'tv-calls-asked'), '16', 'calls asked');
        assertEq(await text(page, 'tv-rate-asked'), '10 calls/s', 'rate asked');
        assertEq(await text(page, 'tv-hold-asked'), '1,000 ms', 'hold asked');
        assertEq(await text(page, 'tv-conc-asked'), 'limit 2 (rate × hold needs 10)', 'concurrency asked');
        assertEq(live.pct.toFixed(1), ((100 * live.n) / 16).toFixed(1), `the bar shows ${live.n} of 16`);
        assert(/^about \d+s left$/.test(await text(page, 'tv-eta')), `ETA: ${await text(page, 'tv-eta')}`);
        const throttle = await text(page, 'tv-throttle');
        assert(throttle.includes('A limit of 2 open calls cannot sustain 10 calls/s held 1,000 ms (that needs about 10)'), `throttle warning: ${throttle}`);
        await shotBoth(page, 'trust-throttled-running');

        // Finished: FAIL, because the run did not do what it was asked.
        const verdict = page.getByTestId('verdict');
        await eventually(async () => (await verdict.getAttribute('data-state')) === 'fail', { timeout: 40000, interval: 500, what: 'the FAIL verdict' });
        const v = await text(page, 'verdict-text');
        assert(/target not reached: achieved [\d.]+ calls\/s of the 10 asked for; the concurrency limit of 2 held calls back for [\d.]+ s \(rate × hold needs about 10 calls open at once\)/.test(v), `verdict: ${v}`);
        assert(/ran for \d+s/.test(await text(page, 'job-sub')), `a finished run "ran for": ${await text(page, 'job-sub')}`);
        // The table shows the summary's own numbers.
        const s = (await api(t, 'GET', `/jobs/${encodeURIComponent(id)}/artifacts/summary`)).body;
        assertEq(s.verdict.status, 'fail', 'summary verdict');
        await eventually(async () => (await msgRow(page, 'INVITE'))[1] === String(s.messages[0].messages), { what: 'the final INVITE count' });
        assertEq((await msgRow(page, 'INVITE'))[1], '16', 'INVITEs sent');
        await tableMatchesSummary(page, s);
        assertEq(await text(page, 'tv-calls-actual'), '16 of 16', 'every call was created in the end');
        const achieved = num(await text(page, 'tv-rate-actual'));
        assert(Math.abs(achieved - s.achieved.rate_cps) < 0.01 && achieved < 3, `achieved rate ${achieved} (summary ${s.achieved.rate_cps})`);
        await page.getByTestId('report-frame').waitFor({ timeout: 20000 });
        await shotBoth(page, 'trust-throttled-done');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'a run without thresholds is "No thresholds", never PASS',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      try {
        const job = await loadTest(t, { director: `127.0.0.1:${uas.port}`, total_calls: 5, rate: 10, name: 'nothing judged' });
        await waitFinished(t, job.id);
        await signIn(page);
        await goto(page, `#/load/${encodeURIComponent(job.id)}`);
        const verdict = page.getByTestId('verdict');
        await eventually(async () => (await verdict.getAttribute('data-state')) === 'idle' && (await verdict.innerText()).includes('No thresholds'), { what: 'the No thresholds verdict' });
        assert(!(await verdict.innerText()).includes('PASS'), 'not a pass');
        assert((await text(page, 'no-thresholds')).includes('No thresholds were set'), 'the thresholds panel says so');
        await page.getByTestId('report-frame').waitFor({ timeout: 20000 });
        const report = await page.frameLocator('[data-testid="report-frame"]').locator('body').innerText();
        assert(report.includes('NO THRESHOLDS') && !report.includes('PASS'), 'report.html says NO THRESHOLDS');
        await shotBoth(page, 'trust-no-thresholds');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'against a dead target: retransmissions live, response time "–", and a run where every call failed is FAIL',
    async fn({ page }) {
      const t = await apiToken();
      const dead = await freeUdpPort();
      const job = await loadTest(t, { director: `127.0.0.1:${dead}`, total_calls: 1, rate: 1, name: 'dead target' });
      await signIn(page);
      await goto(page, `#/load/${encodeURIComponent(job.id)}`);
      // The INVITE is retransmitted (T1 = 500 ms, doubling): the KPI, the table and the chart show it.
      await eventually(async () => num(await text(page, 'kpi-retrans')) >= 2, { timeout: 15000, what: 'retransmissions counted live' });
      const invite = await msgRow(page, 'INVITE');
      assert(Number(invite[2]) >= 2, `INVITE row retransmissions: ${JSON.stringify(invite)}`);
      await eventually(async () => { const v = JSON.parse(await page.getByTestId('lt-failed').getAttribute('data-values') || '[]'); return v[1] > 0; }, { what: 'retransmissions per second on the chart' });
      assertEq(await text(page, 'kpi-p99'), '–', 'no response: p99 is "–", not 0 ms');
      assertEq((await page.locator('.chart', { has: page.getByTestId('lt-rt') }).locator('.now').innerText()).trim(), '–', 'the response-time chart says "–"');
      assertEq(await text(page, 'kpi-failed'), '0', 'nothing failed yet');
      await shotBoth(page, 'trust-dead-target-running');
      // Timer B (64 × T1 = 32 s) fails the call.
      const verdict = page.getByTestId('verdict');
      await eventually(async () => (await verdict.getAttribute('data-state')) === 'fail', { timeout: 60000, interval: 500, what: 'the FAIL verdict' });
      // The job's own error ("1 of 1 calls failed") stands until the summary is fetched; then
      // the summary's reason. A loaded machine showed the first at the first look.
      let v = '';
      try {
        await eventually(async () => (v = await text(page, 'verdict-text')).includes('every call failed (1 of 1)'),
          { timeout: 15000, interval: 250, what: "the summary's reason" });
      } catch (e) {
        throw new Error(`verdict: ${v} (${e.message})`);
      }
      const s = (await api(t, 'GET', `/jobs/${encodeURIComponent(job.id)}/artifacts/summary`)).body;
      assert(s.health.pass === null && s.verdict.status === 'fail', `summary: health ${JSON.stringify(s.health)}, verdict ${s.verdict.status}`);
      const invTimeouts = s.messages.reduce((n, m) => n + m.timeouts, 0);
      assert(invTimeouts >= 1, `a timeout is counted on a step: ${JSON.stringify(s.messages)}`);
      await eventually(async () => (await msgRow(page, 'INVITE'))[2] === String(s.messages[0].retrans), { what: 'the final table' });
      await tableMatchesSummary(page, s);
      await shotBoth(page, 'trust-dead-target-done');
    },
  },
  {
    name: 'after Stop the monitor waits for the report instead of showing a 404',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      try {
        const job = await loadTest(t, { director: `127.0.0.1:${uas.port}`, total_calls: 0, rate: 5, call_duration_ms: 3000, name: 'stopped soak' });
        await signIn(page);
        await goto(page, `#/load/${encodeURIComponent(job.id)}`);
        await eventually(async () => num(await text(page, 'kpi-created')) >= 3, { timeout: 20000, what: 'calls' });
        await page.getByTestId('lt-stop').click();
        await page.getByRole('button', { name: 'Stop job' }).click();
        const seen = new Set();
        await eventually(async () => {
          seen.add(await page.locator('#page').innerText());
          return (await page.getByTestId('report-frame').count()) > 0;
        }, { timeout: 30000, interval: 100, what: 'the report after Stop' });
        for (const s of seen) assert(!/has no report_html artifact|not found/i.test(s), `no 404 text while waiting: ${s.slice(0, 300)}`);
        assertEq(await page.getByTestId('verdict').getAttribute('data-state'), 'stopped', 'the verdict says Stopped');
        assert((await text(page, 'verdict-text')).includes('The run was stopped before it finished.'), 'and why');
        await shotBoth(page, 'trust-stopped');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'a job that could not run shows its reason on its job page and its report page',
    async fn({ page }) {
      const t = await apiToken();
      const cid = uniq('cli');
      const c = await api(t, 'POST', '/clients', { id: cid, scenario_ref: 'uac', remote_ip: '127.0.0.1', remote_port: 5999, rate: 1,
        transports: [{ transport: 'u1', local_ip: '127.0.0.1', enabled: true }] });
      assertEq(c.status, 201, `client profile: ${JSON.stringify(c.body)}`);
      const r = await api(t, 'POST', '/jobs', { profile_kind: 'client', profile_id: cid, scenario_id: 'no_such_scenario', name: 'cannot run' });
      assertEq(r.status, 201, `job: ${JSON.stringify(r.body)}`);
      assertEq(r.body.status, 'failed', 'the job failed at once');
      await signIn(page);
      await goto(page, `#/reports?report=${encodeURIComponent(r.body.id)}`);
      const missing = await page.getByTestId('report-missing').innerText();
      assert(missing.includes('This job left no report.') && missing.includes('scenario "no_such_scenario" is neither a stored scenario nor a built-in'), `report page: ${missing}`);
      await shotBoth(page, 'trust-report-reason');
      await goto(page, `#/jobs/${encodeURIComponent(r.body.id)}`);
      assert((await text(page, 'job-error')).includes('no_such_scenario'), 'the job page says why');
      assertEq(await text(page, 'job-title'), 'cannot run', 'by its name');
      await shotBoth(page, 'trust-job-reason');
    },
  },
  {
    name: 'the dashboard counts each call once and shows the running jobs whole',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      let job;
      try {
        job = await loadTest(t, { director: `127.0.0.1:${uas.port}`, total_calls: 0, rate: 10, name: 'dashboard soak with a long name to fill the column' });
        await signIn(page);
        await goto(page, '#/dashboard');
        // 10 calls/s between two jobs of this master: 10 placed and 10 answered, not 20.
        await eventually(async () => {
          const placed = num(await text(page, 'kpi-cps'));
          const hint = await page.getByTestId('kpi-cps').locator('xpath=..').locator('.hint').innerText();
          const answered = num(hint);
          return placed >= 8 && placed <= 12 && answered >= 8 && answered <= 12 && hint.startsWith('answered: ');
        }, { timeout: 20000, interval: 500, what: 'about 10 calls/s placed and 10 answered' });
        const box = page.locator('.card', { has: page.getByRole('heading', { name: 'Running jobs' }) });
        const wrap = box.locator('.table-wrap');
        const fits = await wrap.evaluate((el) => el.scrollWidth <= el.clientWidth + 1);
        assert(fits, 'the running-jobs table is not cut off');
        const vw = page.viewportSize().width;
        for (const b of await box.getByRole('button', { name: 'Stop' }).all()) {
          const r = await b.boundingBox();
          assert(r && r.x + r.width <= vw, `a Stop button is inside the window (${r && r.x + r.width} > ${vw})`);
        }
        assert((await box.innerText()).includes('dashboard soak with a long name'), 'the job shows by its name');
        await shotBoth(page, 'trust-dashboard');
      } finally {
        if (job) await api(t, 'POST', `/jobs/${encodeURIComponent(job.id)}/stop`, {});
        await uas.stop();
      }
    },
  },
  {
    name: 'runs have names and notes, their request reads as a list, and comparisons say when loads differ',
    async fn({ page }) {
      const t = await apiToken();
      const uas = await startUas(t);
      let a, b, c;
      try {
        const d = `127.0.0.1:${uas.port}`;
        a = await loadTest(t, { director: d, total_calls: 20, rate: 20, name: 'baseline 20 cps', health_enabled: true });
        b = await loadTest(t, { director: d, total_calls: 20, rate: 40, name: 'faster 40 cps' });
        c = await loadTest(t, { director: d, total_calls: 20, rate: 20, name: 'baseline again', health_enabled: true });
        for (const j of [a, b, c]) await waitFinished(t, j.id);
        await signIn(page);
        await goto(page, '#/jobs');
        const row = page.locator(`tr[data-job="${a.id}"]`);
        await row.waitFor();
        const rowText = await row.innerText();
        assert(rowText.includes('baseline 20 cps') && rowText.includes('20 calls at 20/s') && rowText.includes(`→ ${d} · 2 thresholds`), `jobs list row: ${rowText}`);
        await shotBoth(page, 'trust-jobs-list');

        await goto(page, `#/jobs/${encodeURIComponent(a.id)}`);
        await page.getByTestId('edit-label').click();
        await page.getByTestId('label-notes').fill('SBC build 4.2, TLS off');
        await page.getByTestId('label-save').click();
        await eventually(async () => (await page.getByTestId('job-notes').count()) && (await text(page, 'job-notes')) === 'SBC build 4.2, TLS off', { what: 'the notes on the page' });
        assertEq((await api(t, 'GET', `/jobs/${encodeURIComponent(a.id)}`)).body.job.notes, 'SBC build 4.2, TLS off', 'the notes are stored');
        await page.getByTestId('tab-spec').click();
        const field = (k) => page.getByTestId('request').locator(`dd[data-field="${k}"]`).innerText();
        assertEq(await field('Rate'), '20 calls/s', 'Parameters: rate');
        assertEq(await field('Calls'), '20', 'Parameters: calls');
        assertEq(await field('Name'), 'baseline 20 cps', 'Parameters: name');
        assert((await field('Thresholds')).includes('success_ratio>=95%'), 'Parameters: thresholds (the API default gates)');
        assert((await field('Notes')).includes('SBC build 4.2'), 'Parameters: notes');
        assert(!(await page.getByTestId('request').innerText()).includes('{'), 'not raw JSON');
        await shotBoth(page, 'trust-job-parameters');

        await goto(page, `#/reports?report=${encodeURIComponent(a.id)}&compare=${encodeURIComponent(b.id)}`);
        const differs = await text(page, 'compare-differs');
        assert(differs.includes('rate asked') && !differs.includes('calls asked') && !differs.includes('target'), `compare A with B: ${differs}`);
        const cmp = page.getByTestId('compare');
        const rateRow = await cmp.locator('tr[data-row="Rate asked"]').innerText();
        assert(rateRow.includes('20 calls/s') && rateRow.includes('40 calls/s'), `rate row: ${rateRow}`);
        const heads = await cmp.locator('th').allTextContents();
        assert(heads.some((x) => x.startsWith('baseline 20 cps (')) && heads.some((x) => x.startsWith('faster 40 cps (')), `columns by name: ${heads}`);
        // The creation-window rate lines up with what was asked, no hold tail.
        const rates = (await cmp.locator('tr[data-measure="Calls/s (creation window)"] td').allInnerTexts()).map(num);
        assert(Math.abs(rates[1] - 20) < 1 && Math.abs(rates[2] - 40) < 2, `creation-window rates: ${rates}`);
        const frame = await page.frameLocator('[data-testid="report-frame"]').locator('body').textContent();
        // The report draws the summary's response-time buckets: 1-2-5 edges from 10 µs up,
        // starting at the one that holds the fastest answer (on loopback a sub-millisecond
        // one on a quiet machine, not on a loaded one: so the edges are checked, not 0.x).
        const sa = (await api(t, 'GET', `/jobs/${encodeURIComponent(a.id)}/artifacts/summary`)).body;
        const edges = (sa.invite_rtt?.distribution || []).map((b) => b.le_ms);
        assert(edges.length > 0, `a response-time distribution in the summary: ${JSON.stringify(sa.invite_rtt)}`);
        const oneTwoFive = (ms) => { const m = ms / 10 ** Math.floor(Math.log10(ms) + 1e-9); return [1, 2, 5].some((k) => Math.abs(m - k) < 1e-6); };
        assert(edges.every(oneTwoFive), `1-2-5 bucket edges: ${edges}`);
        const dist = frame.slice(frame.indexOf('Response time distribution'));
        for (const e of edges) assert(dist.includes(`≤${e}`), `the report draws the ≤${e} ms bucket of the summary (${edges})`);
        await shotBoth(page, 'trust-compare-differs');
        await goto(page, `#/reports?report=${encodeURIComponent(a.id)}&compare=${encodeURIComponent(c.id)}`);
        assert((await text(page, 'compare-same')).includes('like with like'), 'same loads compare like with like');
        await shotBoth(page, 'trust-compare-same');
        await goto(page, '#/reports');
        assert((await page.locator(`tr[data-job="${a.id}"]`).innerText()).includes('baseline 20 cps'), 'reports list by name');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'the media page shows a WAV’s format and warns about one scenarios cannot play',
    async fn({ page }) {
      const t = await apiToken();
      const good = uniq('prompt');
      const hifi = uniq('music');
      for (const [name, body] of [[good, wav(8000, 1, 0.5)], [hifi, wav(44100, 2, 1)]]) {
        const r = await fetch(`${BASE}/api/v2/media/wav/${name}`, { method: 'POST', headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'audio/wav' }, body });
        assertEq(r.status, 201, `upload ${name}`);
      }
      await signIn(page);
      await goto(page, '#/media');
      const fmt = (n) => page.locator(`tr[data-media="wav/${n}"]`).getByTestId('media-format').innerText();
      await page.locator(`tr[data-media="wav/${hifi}"]`).waitFor();
      assertEq(await fmt(good), '8 kHz · mono · 16-bit · 0.5 s', 'an 8 kHz prompt');
      const w = await page.locator(`tr[data-media="wav/${hifi}"]`).getByTestId('media-warning').innerText();
      assert(w.includes('44100 Hz, 2 channels: scenarios play 8 kHz mono 8- or 16-bit PCM only'), `warning: ${w}`);
      assert((await fmt(hifi)).startsWith('44.1 kHz · stereo · 16-bit · 1 s'), `format: ${await fmt(hifi)}`);
      assertEq(await page.locator(`tr[data-media="wav/${good}"]`).getByTestId('media-warning').count(), 0, 'no warning on a playable WAV');
      await shotBoth(page, 'trust-media');
    },
  },
  {
    name: 'the scenario editor checks with the server’s words and positions, and errors do not stack',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/scenarios/new');
      await page.getByTestId('scenario-id').fill(uniq('chk'));
      const bad = '<?xml version="1.0"?>\n<scenario name="x">\n  <send>\n    <![CDATA[OPTIONS sip:x SIP/2.0\n]]>\n  </send>\n  <frobnicate/>\n</scenario>\n';
      await page.getByTestId('xml-editor').fill(bad);
      const t = await apiToken();
      const server = await api(t, 'POST', '/scenarios/check', { xml: bad });
      assertEq(server.status, 400, 'the server refuses it');
      const where = /scenario\.xml:(\d+):(\d+)/.exec(server.body.error);
      assert(where, `server error: ${server.body.error}`);
      await eventually(async () => (await text(page, 'scenario-errors')).includes(where[0]), { what: 'the server’s error in the editor' });
      assertEq(await page.getByTestId('error-line').first().getAttribute('data-line'), where[1], 'the marked line is the server’s');
      assert((await text(page, 'scenario-errors')).includes('frobnicate'), 'in the engine’s words');
      for (let i = 0; i < 3; i++) {
        // Each save's refusal has come back before the next click.
        await Promise.all([
          page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/api/v2/scenarios') && r.request().method() !== 'GET'),
          page.getByTestId('scenario-save').click(),
        ]);
      }
      assertEq(await page.locator('#toasts .toast.error').count(), 1, 'three failed saves, one error toast');
      await shotBoth(page, 'trust-editor-check');
    },
  },
  {
    name: 'the sign-in page shows the default password only while it works, and its user is asked to change it',
    async fn({ page }) {
      const status = await api(null, 'GET', '/auth/status');
      assertEq(status.body.default_password?.username, 'admin', 'a fresh master names its default password (run against a fresh data dir)');
      await page.goto(`${BASE}/`);
      await eventually(async () => (await text(page, 'login-hint')).includes('admin / sipcapture'), { what: 'the default-password hint' });
      await shotBoth(page, 'trust-login-default');
      await signIn(page);
      await page.getByTestId('default-password-banner').waitFor();
      assert((await text(page, 'default-password-banner')).includes('default password of a fresh install'), 'the banner says why');
      await shotBoth(page, 'trust-default-password-banner');
      await page.getByTestId('change-default-password').click();
      const dlg = page.locator('.modal');
      await dlg.locator('input[name="current_password"]').fill('sipcapture');
      await dlg.locator('input[name="new_password"]').fill('changed-pass-17');
      await dlg.locator('input[type="password"]').nth(2).fill('changed-pass-17');
      await dlg.getByRole('button', { name: 'Change password' }).click();
      await page.getByText('Your password was changed').waitFor();
      assertEq(await page.getByTestId('default-password-banner').count(), 0, 'the banner is gone');
      assertEq((await api(null, 'GET', '/auth/status')).body.default_password, null, 'the server no longer names a default password');
      await page.getByTestId('user-menu').click();
      await page.getByTestId('sign-out').click();
      await page.getByTestId('login-hint').waitFor();
      await eventually(async () => (await text(page, 'login-hint')) === 'Use your gossipper account.', { what: 'no default advertised any more' });
      await shotBoth(page, 'trust-login-changed');
      // Put the password back for the tests that sign in as admin after this one.
      const tk = await apiToken({ username: 'admin', password: 'changed-pass-17' });
      const back = await api(tk, 'POST', '/me/password', { current_password: 'changed-pass-17', new_password: 'sipcapture' });
      assertEq(back.status, 200, 'restore the password');
    },
  },
];
