// The flow the console exists for: a UAS started through the API, a load test from the
// wizard against it, the live chart moving (job monitor and dashboard), the job
// passing its thresholds with the final numbers on screen, its report opening with the
// same numbers, and a load test against nobody ending FAIL with its failures shown.

import { signIn, goto, shot, assert, assertEq, uniq, apiToken, api, eventually, maybeServeFromDisk, startUas, waitFinished } from '../lib.mjs';

/** A UAS scenario that answers every INVITE 486 Busy Here. */
const BUSY_UAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]Busy[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" optional="true" timeout="2000" ontimeout="end"/>
  <label id="end"/>
</scenario>
`;

/** What a KPI card shows, as the user reads it. */
const kpiText = async (page, testid) => (await page.getByTestId(testid).innerText()).trim();

/** The chart's drawn state: how many points, and its path. */
const chartState = (page, testid) => page.getByTestId(testid).evaluate((svg) => ({
  points: Number(svg.getAttribute('data-points')),
  last: Number(svg.getAttribute('data-last') || 0),
  d: svg.querySelector('path.line')?.getAttribute('d') || '',
}));

export const tests = [
  {
    name: 'a load test from the wizard against a UAS: live chart moves, job succeeds, report opens',
    async fn({ page, context }) {
      const t = await apiToken();
      const info = await api(t, 'GET', '/load-test');
      assertEq(info.status, 200, 'GET /load-test (the wizard reads its catalogue there)');
      const uas = await startUas(t);
      try {
        await signIn(page);
        // A second tab on the dashboard watches /live while the test runs.
        const dash = await context.newPage();
        await maybeServeFromDisk(context);
        await dash.goto(page.url().replace(/#.*$/, '#/dashboard'));
        await dash.waitForSelector('[data-testid="dash-cps"]');

        await goto(page, '#/load');
        // The five load-test scenarios are offered, each saying what it does.
        const offered = await page.getByTestId('lt-scenario').locator('optgroup[label="Load-test scenarios"] option').allInnerTexts();
        for (const want of ['invite_media — INVITE with SDP, RTP both ways', 'invite_media_early — early media: a 183 with SDP',
          'invite_media_early_180 — early media in a 180', 'invite_media_savpf — SRTP', 'invite_media_scale — RTP, 30 s hold']) {
          assert(offered.some((o) => o.startsWith(want)), `wizard offers "${want}…": ${offered.join(' | ')}`);
        }
        await page.getByTestId('lt-director').fill(`127.0.0.1:${uas.port}`);
        await page.getByTestId('lt-scenario').selectOption('uac');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-calls').fill('120');
        await page.getByTestId('lt-rate').fill('15');
        await page.getByTestId('lt-hold').fill('200');
        await page.getByTestId('lt-concurrency').fill('10');
        await page.getByTestId('lt-next').click();
        // The default thresholds: success ratio ≥ 95 %, no failed call.
        const rows = await page.getByTestId('th-metric').evaluateAll((els) => els.map((e) => e.value));
        assert(JSON.stringify(rows) === JSON.stringify(['success', 'failed']), `default thresholds: ${JSON.stringify(rows)}`);
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-next').click();
        await shot(page, 'load-wizard-review');
        await page.getByTestId('lt-run').click();
        await page.waitForFunction(() => /^#\/load\/.+/.test(location.hash));
        const jobId = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[2]));

        // The live chart moves: more points, and a different line, a moment later.
        const first = await eventually(async () => { const s = await chartState(page, 'lt-cps'); return s.points >= 2 && s; }, { timeout: 20000, what: 'the first points of the calls/s chart' });
        const later = await eventually(async () => { const s = await chartState(page, 'lt-cps'); return s.points > first.points && s.d !== first.d && s; }, { timeout: 15000, what: 'the calls/s chart to move' });
        assert(later.points > first.points, 'the chart gained points');
        const created = Number((await page.getByTestId('kpi-created').innerText()).replace(/,/g, ''));
        assert(created > 0, `calls are being created (${created})`);
        await shot(page, 'load-monitor-running');
        // The dashboard's /live chart saw the run too.
        await eventually(async () => { const s = await chartState(dash, 'dash-cps'); return s.points >= 2 && s.d.length > 0; }, { timeout: 10000, what: 'the dashboard chart to draw /live data' });
        await shot(dash, 'dashboard-live');
        await dash.close();

        // The job succeeds, the gates pass, and the report opens.
        const verdict = page.getByTestId('verdict');
        await eventually(async () => (await verdict.getAttribute('data-state')) === 'pass', { timeout: 60000, interval: 500, what: 'a PASS verdict' });
        const j = await api(t, 'GET', `/jobs/${encodeURIComponent(jobId)}`);
        assert(j.body.job.status === 'succeeded', `job succeeded: ${JSON.stringify(j.body.job)}`);
        // The final numbers the user reads: every call of 120 succeeded, none failed.
        await eventually(async () => (await kpiText(page, 'kpi-succeeded')) === '120', { timeout: 15000, what: 'the final succeeded KPI' });
        assertEq(await kpiText(page, 'kpi-created'), '120', 'calls created');
        assertEq(await kpiText(page, 'kpi-failed'), '0', 'calls failed');
        assertEq(await kpiText(page, 'kpi-active'), '0', 'calls active once finished');
        const gates = await page.getByTestId('gate').allInnerTexts();
        assert(gates.length === 2 && gates.every((g) => g.includes('pass')), `both thresholds pass: ${JSON.stringify(gates)}`);
        assert(gates[0].includes('success_ratio>=95%') && gates[1].includes('failed_calls<=0'), `threshold texts: ${JSON.stringify(gates)}`);
        const frame = page.getByTestId('report-frame');
        await frame.waitFor({ timeout: 15000 });
        const reportText = await page.frameLocator('[data-testid="report-frame"]').locator('body').innerText();
        assert(reportText.length > 50, 'the report has content');
        await shot(page, 'load-monitor-done');

        await page.getByTestId('lt-open-report').click();
        await page.waitForFunction((id) => location.hash === `#/reports?report=${encodeURIComponent(id)}`, jobId);
        await page.getByTestId('report-kpis').waitFor();
        // The report's numbers are the run's: 120 calls, all succeeded.
        assertEq(await kpiText(page, 'sum-total'), '120', 'report: total calls');
        assertEq(await kpiText(page, 'sum-succeeded'), '120', 'report: succeeded');
        assertEq(await kpiText(page, 'sum-failed'), '0', 'report: failed');
        assertEq(await kpiText(page, 'sum-ratio'), '100.0%', 'report: success ratio');
        assertEq(await page.getByTestId('verdict').getAttribute('data-state'), 'pass', 'report: verdict');
        await page.getByTestId('report-frame').waitFor();
        await shot(page, 'report');

        // The job monitor shows the same job with its charts and artifacts.
        await goto(page, `#/jobs/${encodeURIComponent(jobId)}`);
        await eventually(async () => (await chartState(page, 'job-cps')).points >= 2, { what: 'the job monitor chart from /events' });
        await page.getByTestId('tab-artifacts').click();
        await page.getByTestId('download-summary').waitFor();
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-summary').click()]);
        assert((await download.suggestedFilename()).includes('summary'), 'summary downloads');
        await shot(page, 'job-detail');
        await goto(page, '#/jobs');
        const row = page.locator(`tr[data-job="${jobId}"]`);
        await row.waitFor();
        assertEq((await row.getByTestId('job-status').innerText()).trim(), 'succeeded', 'the job row\'s status');
        await shot(page, 'jobs');
        await goto(page, '#/reports');
        await shot(page, 'reports');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'a load test whose calls all fail ends FAIL, with its failures on screen',
    async fn({ page }) {
      // A UAS that answers every INVITE 486 Busy Here: every call fails at once.
      const t = await apiToken();
      const busy = uniq('busy');
      const c = await api(t, 'POST', '/scenarios', { id: busy, name: 'Busy UAS', role: 'uas', xml: BUSY_UAS });
      assertEq(c.status, 201, `create the busy scenario: ${JSON.stringify(c.body)}`);
      const uas = await startUas(t, { scenario: busy });
      try {
        await signIn(page);
        await goto(page, '#/load');
        await page.getByTestId('lt-director').fill(`127.0.0.1:${uas.port}`);
        await page.getByTestId('lt-scenario').selectOption('uac');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-calls').fill('3');
        await page.getByTestId('lt-rate').fill('10');
        for (let i = 0; i < 3; i++) await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-run').click();
        await page.waitForFunction(() => /^#\/load\/.+/.test(location.hash));
        const jobId = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[2]));
        const verdict = page.getByTestId('verdict');
        await eventually(async () => (await verdict.getAttribute('data-state')) === 'fail', { timeout: 60000, interval: 500, what: 'a FAIL verdict' });
        assertEq((await verdict.locator('.big').innerText()).trim(), 'FAIL', 'the verdict says FAIL');
        const job = await waitFinished(t, jobId);
        assertEq(job.status, 'failed', 'job status');
        assertEq(job.exit_code, 2, 'exit code (a threshold failed)');
        assertEq(job.error, 'threshold failed: success ratio 0 %: must be at least 95 %; failed calls 3: must be at most 0', 'job error');
        await eventually(async () => (await page.getByTestId('job-error').count()) === 1, { what: 'the job\'s error on the page' });
        assertEq((await page.getByTestId('job-error').innerText()).trim(), `Why: ${job.error}`, 'the page shows the job\'s error');
        await eventually(async () => (await kpiText(page, 'kpi-failed')) === '3', { timeout: 15000, what: 'the final failed KPI' });
        assertEq(await kpiText(page, 'kpi-created'), '3', 'calls created');
        assertEq(await kpiText(page, 'kpi-succeeded'), '0', 'calls succeeded');
        const gates = await page.getByTestId('gate').allInnerTexts();
        assert(gates.length === 2 && gates.every((g) => g.includes('fail')), `both thresholds fail: ${JSON.stringify(gates)}`);
        await shot(page, 'load-monitor-fail');
        await goto(page, '#/jobs');
        const row = page.locator(`tr[data-job="${jobId}"]`);
        await row.waitFor();
        assertEq((await row.getByTestId('job-status').innerText()).trim(), 'failed', 'the job row\'s status');
      } finally {
        await uas.stop();
      }
    },
  },
  {
    name: 'a soak load test stops from the monitor',
    async fn({ page }) {
      const t = await apiToken();
      const info = await api(t, 'GET', '/load-test');
      assertEq(info.status, 200, 'GET /load-test (the wizard reads its catalogue there)');
      const uas = await startUas(t);
      try {
        await signIn(page);
        await goto(page, '#/load');
        await page.getByTestId('lt-director').fill(`127.0.0.1:${uas.port}`);
        await page.getByTestId('lt-scenario').selectOption('uac');
        await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-calls').fill('0');
        await page.getByTestId('lt-rate').fill('5');
        for (let i = 0; i < 3; i++) await page.getByTestId('lt-next').click();
        await page.getByTestId('lt-run').click();
        await page.waitForFunction(() => /^#\/load\/.+/.test(location.hash));
        await eventually(async () => Number(await page.getByTestId('lt-cps').getAttribute('data-points')) >= 1, { timeout: 20000, what: 'soak stats' });
        await page.getByTestId('lt-stop').click();
        await page.getByRole('button', { name: 'Stop job' }).click();
        const verdict = page.getByTestId('verdict');
        await eventually(async () => (await verdict.innerText()).includes('Stopped'), { timeout: 30000, interval: 500, what: 'the Stopped verdict' });
      } finally {
        await uas.stop();
      }
    },
  },
];
