// The flow the console exists for: a UAS started through the API, a load test from the
// wizard against it, the live chart moving (job monitor and dashboard), the job
// passing its thresholds, and its report opening.

import { signIn, goto, shot, assert, uniq, apiToken, api, eventually, freeUdpPort, maybeServeFromDisk } from '../lib.mjs';

async function startUas(t) {
  const port = await freeUdpPort();
  const id = uniq('lt-uas');
  const c = await api(t, 'POST', '/servers', { id, name: 'Load-test UAS', scenario_ref: 'uas', transports: [{ transport: 'u1', local_ip: '127.0.0.1', local_port: port, enabled: true }] });
  assert(c.status === 201, `create UAS profile: ${JSON.stringify(c.body)}`);
  const s = await api(t, 'POST', `/servers/${id}/start`, {});
  assert(s.status === 201 || s.status === 200, `start UAS: ${s.status} ${JSON.stringify(s.body)}`);
  const job = s.body.job || s.body;
  await eventually(async () => (await api(t, 'GET', `/jobs/${job.id}`)).body?.job?.status === 'running', { what: 'the UAS job to run' });
  return { id, port, job };
}

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
      if (info.status === 404) return { skip: 'this master has no /load-test yet' };
      const uas = await startUas(t);
      try {
        await signIn(page);
        // A second tab on the dashboard watches /live while the test runs.
        const dash = await context.newPage();
        await maybeServeFromDisk(context);
        await dash.goto(page.url().replace(/#.*$/, '#/dashboard'));
        await dash.waitForSelector('[data-testid="dash-cps"]');

        await goto(page, '#/load');
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
        await page.locator(`tr[data-job="${jobId}"]`).waitFor();
        await shot(page, 'jobs');
        await goto(page, '#/reports');
        await shot(page, 'reports');
      } finally {
        await api(t, 'POST', `/servers/${uas.id}/stop`, {});
      }
    },
  },
  {
    name: 'a soak load test stops from the monitor',
    async fn({ page }) {
      const t = await apiToken();
      const info = await api(t, 'GET', '/load-test');
      if (info.status === 404) return { skip: 'this master has no /load-test yet' };
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
        await api(t, 'POST', `/servers/${uas.id}/stop`, {});
      }
    },
  },
];
