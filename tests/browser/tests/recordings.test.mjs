// Recordings: a UAS job started with record_wav records each call of a uac_pcap client
// job; the job page lists the WAV files and plays one in the page.

import { signIn, goto, shot, assert, assertEq, uniq, apiToken, api, eventually, freeUdpPort, BASE } from '../lib.mjs';

export const tests = [
  {
    name: 'a recorded call is listed on its job page and plays in the browser',
    async fn({ page }) {
      const t = await apiToken();
      const port = await freeUdpPort();
      const uas = uniq('rec-uas');
      const uac = uniq('rec-uac');
      let r = await api(t, 'POST', '/servers', { id: uas, scenario_ref: 'uas', transports: [{ transport: 'u1', local_ip: '127.0.0.1', local_port: port, enabled: true }] });
      assert(r.status === 201, `create UAS profile: ${JSON.stringify(r.body)}`);
      r = await api(t, 'POST', '/clients', { id: uac, scenario_ref: 'uac_pcap', remote_ip: '127.0.0.1', remote_port: port, rate: 10, transports: [{ transport: 'u1', local_ip: '127.0.0.1', enabled: true }] });
      assert(r.status === 201, `create uac_pcap profile: ${JSON.stringify(r.body)}`);
      r = await api(t, 'POST', `/servers/${uas}/start`, { record_wav: true });
      assert(r.status === 201, `start UAS: ${r.status} ${JSON.stringify(r.body)}`);
      const serverJob = r.body.id;
      try {
        await eventually(async () => (await api(t, 'GET', `/jobs/${serverJob}`)).body?.job?.status === 'running', { what: 'the UAS job to run' });
        r = await api(t, 'POST', `/clients/${uac}/start`, { engine: { total_calls: 2, max_concurrent: 2 } });
        assert(r.status === 201, `start uac_pcap: ${r.status} ${JSON.stringify(r.body)}`);
        const clientJob = r.body.id;
        const done = await eventually(async () => { const j = (await api(t, 'GET', `/jobs/${clientJob}`)).body?.job; return j?.finished_at && j; }, { timeout: 60000, what: 'the client job to finish' });
        assert(done.status === 'succeeded', `client job: ${JSON.stringify(done)}`);
        await eventually(async () => ((await api(t, 'GET', `/jobs/${serverJob}/recordings`)).body?.recordings || []).length === 2, { timeout: 20000, what: 'two recordings on the UAS job' });

        await signIn(page);
        await goto(page, `#/jobs/${encodeURIComponent(serverJob)}`);
        await page.getByTestId('tab-recordings').click();
        const play = page.getByTestId('recording-play');
        await play.first().waitFor();
        assert(await play.count() === 2, `two rows with a Play button, got ${await play.count()}`);
        // The first row is the first file the API lists: its size as the page shows it,
        // and its length as the browser decodes it, are the file's own.
        const first = (await api(t, 'GET', `/jobs/${serverJob}/recordings`)).body.recordings[0];
        const bytes = Buffer.from(await (await fetch(`${BASE}/api/v2/jobs/${serverJob}/recordings/${first.name}`, { headers: { Authorization: `Bearer ${t}` } })).arrayBuffer());
        assertEq(bytes.length, first.size_bytes, 'the listed size is the file size');
        const row = play.first().locator('xpath=ancestor::tr');
        assertEq((await row.locator('td').first().innerText()).trim(), first.name, 'the first row is that file');
        const shown = await page.evaluate(async (n) => (await import('/assets/js/ui.js')).fmtBytes(n), first.size_bytes);
        assertEq((await row.locator('td.num').innerText()).trim(), shown, 'the size shown');
        const wavSeconds = bytes.readUInt32LE(bytes.indexOf('data') + 4) / (2 * 8000);
        await play.first().click();
        const audio = page.locator('audio');
        await audio.waitFor();
        // The browser decoded the WAV: its length is the file's (8 kHz, 16-bit mono).
        const seconds = await audio.evaluate((a) => new Promise((resolve) => {
          if (a.readyState >= 1) resolve(a.duration);
          else a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
          a.addEventListener('error', () => resolve(-1), { once: true });
        }));
        assert(wavSeconds >= 4, `the recording holds the 4 s tone uac_pcap plays: ${wavSeconds} s`);
        assert(Math.abs(seconds - wavSeconds) < 0.001, `the browser plays ${seconds} s of a ${wavSeconds} s recording`);
        await shot(page, 'job-recordings');
      } finally {
        await api(t, 'POST', `/servers/${uas}/stop`);
      }
    },
  },
];
