// The console inside `gossipper server -ui_data_dir` (issue #18 items 5 and 6): the Live
// Trace page, the Calls page with its ladder, the dashboard's v1 panel and the "legacy
// engine" toggle, against a real server (server.mjs) called by real SIPp on loopback.
// And in `gossipper ui` (BASE): the same routes say they need `gossipper server`.

import { readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { signIn, goto, shotBoth, assert, assertEq, eventually, apiAt, apiToken, uniq, ADMIN } from '../lib.mjs';
import { gossipperServer, gossipperServerWithoutV1, sippCalls, tsharkSip } from '../server.mjs';

/** The entry names of a ZIP, in order, as `unzip -Z1` lists them. */
function unzipList(path) {
  return execFileSync('unzip', ['-Z1', path], { encoding: 'utf8' }).trim().split('\n').join(' ');
}

/** The trace rows the page shows: [{label, callId}]. */
async function traceRows(page) {
  return page.$$eval('[data-testid="trace-row"]', (trs) => trs.map((tr) => ({
    label: tr.querySelector('[data-testid="trace-label"]').textContent,
    callId: tr.querySelector('[data-testid="trace-callid-cell"]').textContent,
  })));
}

/** What the server's built-in uas exchanges per call, seen from the server. */
const LADDER = ['INVITE', '180', '200', 'ACK', 'BYE', '200'];
const first = (label) => label.split(' ')[0];

export const tests = [
  {
    name: 'in gossipper ui, #/sip and #/calls say they need gossipper server, and their nav entries are hidden',
    async fn({ page }) {
      await signIn(page);
      assertEq(await page.locator('.nav a[data-nav="sip"]').isVisible(), false, 'Live trace nav entry in gossipper ui');
      for (const p of ['sip', 'calls']) {
        await goto(page, `#/${p}`);
        const text = await page.getByTestId('needs-server').innerText();
        assert(text.includes('needs gossipper server'), `#/${p} says it needs gossipper server: ${text}`);
      }
    },
  },
  {
    name: 'server: the live trace shows SIPp’s INVITE and 200 with its Call-ID; pause, clear, text, pcap and ZIP exports',
    async fn({ page }) {
      const srv = await gossipperServer();
      const t = await apiToken(ADMIN, srv.base);
      assertEq((await apiAt(srv.base, t, 'POST', '/sip/trace/clear', {})).status, 200, 'clear the ring before the test');
      await signIn(page, ADMIN, srv.base);
      assert(await page.locator('.nav a[data-nav="sip"]').isVisible(), 'the Live trace nav entry shows in gossipper server');
      await goto(page, '#/sip');
      assert(await page.getByTestId('capture-sip').isChecked(), 'SIP capture is shown on');
      await eventually(async () => (await page.getByTestId('trace-status').innerText()).includes('live (WebSocket)'), { what: 'the page to follow the trace over its WebSocket' });

      const tag = uniq('trace');
      const { callIds } = await sippCalls(srv.sipPort, 3, tag);
      await eventually(async () => (await traceRows(page)).length >= 18, { what: '18 rows (3 calls × 6 messages)' });
      const rows = await traceRows(page);
      for (const id of callIds) {
        const mine = rows.filter((r) => r.callId === id).map((r) => first(r.label));
        assertEq(mine.join(' '), LADDER.join(' '), `the rows of SIPp's call ${id}`);
      }
      assert(rows.some((r) => r.label === 'INVITE') && rows.some((r) => r.label === '200 OK'), 'INVITE and 200 OK rows');

      // The Call-ID filter keeps one call's rows.
      await page.getByTestId('trace-callid').fill(callIds[1]);
      const filtered = await traceRows(page);
      assertEq(filtered.length, 6, 'rows with the second Call-ID');
      assert(filtered.every((r) => r.callId === callIds[1]), 'every filtered row has that Call-ID');
      // A row opens the whole message.
      await page.locator('[data-testid="trace-row"]').first().click();
      const raw = await page.getByTestId('sip-raw').innerText();
      assert(raw.startsWith('INVITE sip:') && raw.includes(`Call-ID: ${callIds[1]}`), `the INVITE's text: ${raw.slice(0, 200)}`);
      // ... whose dialog links to the call's ladder.
      await page.getByTestId('open-call').click();
      await page.waitForFunction((h) => document.getElementById('page')?.dataset.ready === h, `#/calls/${encodeURIComponent(callIds[1])}`);
      assertEq(await page.locator('[data-testid="ladder-label"]').count(), 6, 'ladder arrows of the call opened from the trace');
      await goto(page, '#/sip');
      await eventually(async () => (await traceRows(page)).length >= 18, { what: 'the trace rows again' });
      await shotBoth(page, 'server-trace');

      // The pcap export: tshark reads as many SIP messages as the page shows.
      const shown = (await traceRows(page)).length;
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-pcap').click()]);
      const pcap = join(tmpdir(), `${tag}.pcap`);
      await dl.saveAs(pcap);
      const packets = await tsharkSip(pcap, srv.sipPort);
      assertEq(packets.length, shown, 'SIP packets tshark reads in the pcap export');
      for (const id of callIds) assertEq(packets.filter((p) => p.callId === id).length, 6, `packets of ${id} in the pcap`);
      const [dlText] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-text').click()]);
      const txt = join(tmpdir(), `${tag}.txt`);
      await dlText.saveAs(txt);
      const text = readFileSync(txt, 'utf8');
      for (const id of callIds) assert(text.includes(`Call-ID: ${id}`), `the text export has ${id}`);
      // The ZIP export: the same text and a pcap, read by unzip (not by our writer).
      const [dlZip] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-zip').click()]);
      const zipPath = join(tmpdir(), `${tag}.zip`);
      await dlZip.saveAs(zipPath);
      assertEq(unzipList(zipPath), 'sip-trace.txt sip-trace.pcap', 'the trace ZIP\u2019s entries');
      const zipText = execFileSync('unzip', ['-p', zipPath, 'sip-trace.txt'], { encoding: 'utf8' });
      for (const id of callIds) assert(zipText.includes(`Call-ID: ${id}`), `the ZIP's text has ${id}`);

      // Pause: SIPp's next calls reach the server but not the page; resume brings them.
      await page.getByTestId('trace-pause').click();
      const before = (await traceRows(page)).length;
      const more = await sippCalls(srv.sipPort, 2, `${tag}-paused`);
      await eventually(async () => {
        const r = await apiAt(srv.base, t, 'GET', `/sip/trace?limit=500&call_id=${encodeURIComponent(more.callIds[1])}`);
        return r.body.messages?.length === 6;
      }, { what: 'the server to trace the calls made while paused' });
      await page.waitForTimeout(2500);
      assertEq((await traceRows(page)).length, before, 'rows while paused');
      assert((await page.getByTestId('trace-status').innerText()).includes('paused'), 'the status says paused');
      await page.getByTestId('trace-pause').click();
      await eventually(async () => (await traceRows(page)).length === before + 12, { what: 'the 12 messages of the paused time after Resume' });

      // Clear empties the page and the server's ring.
      await page.getByTestId('trace-clear').click();
      await eventually(async () => (await traceRows(page)).length === 0, { what: 'no row after Clear' });
      assert((await page.locator('#page').innerText()).includes('No SIP message yet'), 'the empty trace says so');
      assertEq((await apiAt(srv.base, t, 'GET', '/sip/trace?limit=500')).body.messages.length, 0, 'messages left on the server');

      // The Debug switch turns debug records on (app + level debug) on the server, and off.
      await page.getByTestId('capture-debug').click();
      await eventually(async () => {
        const c = (await apiAt(srv.base, t, 'GET', '/sip/trace/capture')).body;
        return c.app === true && c.level === 'debug';
      }, { what: 'debug capture on on the server' });
      await page.getByTestId('capture-debug').click();
      await eventually(async () => {
        const c = (await apiAt(srv.base, t, 'GET', '/sip/trace/capture')).body;
        return c.app === false && c.level === 'info';
      }, { what: 'debug capture off again' });

      // SIP capture off: the switch turns it off on the server.
      await page.getByTestId('capture-sip').click();
      await eventually(async () => (await apiAt(srv.base, t, 'GET', '/sip/trace/capture')).body.sip === false, { what: 'capture off on the server' });
      await page.getByTestId('capture-sip').click();
      await eventually(async () => (await apiAt(srv.base, t, 'GET', '/sip/trace/capture')).body.sip === true, { what: 'capture on again' });
      rmSync(pcap, { force: true });
      rmSync(txt, { force: true });
      rmSync(zipPath, { force: true });
    },
  },
  {
    name: 'server: the calls list shows SIPp’s calls and the ladder draws INVITE → 180 → 200 → ACK → BYE → 200',
    async fn({ page }) {
      const srv = await gossipperServer();
      await signIn(page, ADMIN, srv.base);
      const { callIds } = await sippCalls(srv.sipPort, 2, uniq('calls'));
      // SIPp is done, but the server's uas lingers 4 s after its 200 to the BYE: the call
      // is not in the catalogue yet, and its page draws what the live trace has of it (once
      // the trace has it: the shards hand their messages over every 100 ms).
      const t = await apiToken(ADMIN, srv.base);
      await eventually(async () => (await apiAt(srv.base, t, 'GET', `/sip/trace?limit=500&call_id=${encodeURIComponent(callIds[1])}`)).body.messages?.length === 6,
        { interval: 50, what: 'the last call’s 6 messages in the trace' });
      await goto(page, `#/calls/${encodeURIComponent(callIds[1])}`);
      assert(await page.getByTestId('call-not-finished').isVisible(), 'a call still lingering is said to be not in the catalogue');
      const early = await page.$$eval('[data-testid="ladder-label"]', (ts) => ts.map((t) => t.textContent));
      assertEq(early.map(first).join(' '), LADDER.join(' '), `the ladder from the trace (${early.join(', ')})`);
      await goto(page, '#/calls');
      await eventually(async () => {
        const ids = await page.$$eval('[data-testid="call-link"]', (as) => as.map((a) => a.textContent));
        return callIds.every((id) => ids.includes(id));
      }, { what: 'both of SIPp’s calls in the list' });
      const row = page.locator('[data-testid="call-row"]', { has: page.locator(`a:text-is("${callIds[0]}")`) });
      assert((await row.innerText()).includes('success'), `the call's result: ${await row.innerText()}`);
      await shotBoth(page, 'server-calls');

      await page.locator(`[data-testid="call-link"]:text-is("${callIds[0]}")`).click();
      await page.waitForFunction((h) => document.getElementById('page')?.dataset.ready === h, `#/calls/${encodeURIComponent(callIds[0])}`);
      assertEq(await page.getByTestId('call-id').innerText(), callIds[0], 'the call page names the call');
      const labels = await page.$$eval('[data-testid="ladder-label"]', (ts) => ts.map((t) => t.textContent));
      assertEq(labels.map(first).join(' '), LADDER.join(' '), `the ladder's labels (${labels.join(', ')})`);
      assertEq(await page.locator('svg.ladder .lane').count(), 2, 'lanes (SIPp and the server)');
      await page.locator('[data-testid="ladder-arrow"]').nth(3).click();
      const raw = await page.getByTestId('sip-raw').innerText();
      assert(raw.startsWith('ACK sip:') && raw.includes(callIds[0]), `the ACK's text: ${raw.slice(0, 200)}`);
      await page.keyboard.press('Escape');
      // Download ZIP: the call's JSON, its messages as text and as a pcap.
      const [dlCall] = await Promise.all([page.waitForEvent('download'), page.getByTestId('call-zip').click()]);
      const callZip = join(tmpdir(), `${uniq("call")}.zip`);
      await dlCall.saveAs(callZip);
      assertEq(unzipList(callZip), 'call.json sip.txt sip.pcap', 'the call ZIP\u2019s entries');
      const detail = JSON.parse(execFileSync('unzip', ['-p', callZip, 'call.json'], { encoding: 'utf8' }));
      assertEq(detail.call_id, callIds[0], 'call.json names the call');
      assertEq(detail.sip.length, 6, 'call.json holds the call\u2019s 6 messages');
      rmSync(callZip, { force: true });
      await shotBoth(page, 'server-call-ladder');
    },
  },
  {
    name: 'server: the v1 panel adds a dynamic client, sets its rate (GET /api/v1/control agrees), pauses it and removes it; the legacy toggle, its transports and scenario',
    async fn({ page }) {
      const srv = await gossipperServer();
      const t = await apiToken(ADMIN, srv.base);
      await signIn(page, ADMIN, srv.base);
      await goto(page, '#/dashboard');
      await page.getByTestId('v1-panel').waitFor();
      await page.locator('[data-engine="primary"]').waitFor();
      assert((await page.locator('[data-engine="primary"]').innerText()).includes('answers calls'), 'the primary engine is the UAS');

      // Add a client calling the server's own SIP port.
      await page.getByTestId('v1-add-client').click();
      await page.getByTestId('v1-client-remote').fill(`127.0.0.1:${srv.sipPort}`);
      await page.getByTestId('v1-client-rate').fill('1');
      await page.getByTestId('v1-client-start').click();
      const id = await eventually(async () => {
        const ids = await page.$$eval('[data-testid="v1-engine"]', (trs) => trs.map((tr) => tr.dataset.engine));
        return ids.find((x) => x !== 'primary');
      }, { what: 'the dynamic client in the panel' });
      const listed = (await apiAt(srv.base, t, 'GET', '/api/v1/clients')).body.clients.map((c) => c.id);
      assert(listed.includes(id), `GET /api/v1/clients lists ${id}: ${listed}`);
      await eventually(async () => Number((await page.getByTestId(`v1-total-${id}`).innerText()).replace(/,/g, '')) >= 1, { what: `${id} to place a call` });

      // Rate: type it, Apply; the server's control state says so.
      await page.getByTestId(`v1-rate-${id}`).fill('4.5');
      await page.getByTestId(`v1-apply-${id}`).click();
      await eventually(async () => {
        const c = (await apiAt(srv.base, t, 'GET', '/api/v1/control')).body;
        return c.engines?.find((e) => e.id === id)?.rate === 4.5;
      }, { what: `GET /api/v1/control to give ${id} rate 4.5` });
      // Pause and resume.
      await page.getByTestId(`v1-pause-${id}`).click();
      await eventually(async () => (await apiAt(srv.base, t, 'GET', '/api/v1/control')).body.engines?.find((e) => e.id === id)?.paused === true, { what: `${id} paused` });
      await eventually(async () => (await page.getByTestId(`v1-state-${id}`).innerText()) === 'paused', { what: 'the row to say paused' });
      await shotBoth(page, 'server-dashboard-v1');
      await page.getByTestId(`v1-pause-${id}`).click();
      await eventually(async () => (await apiAt(srv.base, t, 'GET', '/api/v1/control')).body.engines?.find((e) => e.id === id)?.paused === false, { what: `${id} resumed` });

      // The legacy engine toggle shows the v1 view alone, and is remembered.
      await page.getByTestId('legacy-on').click();
      await page.waitForFunction(() => document.getElementById('page')?.dataset.ready === '#/dashboard');
      await page.getByTestId('v1-panel').waitFor();
      assertEq(await page.getByTestId('kpi-running').count(), 0, 'v2 KPIs in the legacy view');
      await page.reload();
      await page.getByTestId('v1-panel').waitFor();
      assertEq(await page.getByTestId('kpi-running').count(), 0, 'the legacy view after a reload');
      // Its transports: listener 0 off and on again, as GET /api/v1/transports says.
      const listener = async () => (await apiAt(srv.base, t, 'GET', '/api/v1/transports')).body.listeners?.[0]?.enabled;
      await page.getByTestId('v1-listener-0').click();
      await eventually(async () => (await listener()) === false, { what: 'listener 0 off' });
      await page.getByTestId('v1-listener-0').waitFor();
      await eventually(async () => !(await page.getByTestId('v1-listener-0').isChecked()), { what: 'the switch to show off' });
      await page.getByTestId('v1-listener-0').click();
      await eventually(async () => (await listener()) === true, { what: 'listener 0 on again' });
      // Its scenario: the running uas, replaced live by an edited copy.
      assertEq(await page.getByTestId('v1-scenario-name').innerText(), 'uas', 'the running scenario');
      const xml = await page.getByTestId('v1-scenario-xml').inputValue();
      assert(xml.includes('<scenario name="Basic UAS responder">'), 'the uas XML is shown');
      await page.getByTestId('v1-scenario-xml').fill(xml.replace('<scenario name="Basic UAS responder">', '<scenario name="Browser UAS">'));
      await page.getByTestId('v1-scenario-apply').click();
      await eventually(async () => (await apiAt(srv.base, t, 'GET', '/api/v1/scenario')).body.xml?.includes('<scenario name="Browser UAS">'), { what: 'GET /api/v1/scenario to show the applied XML' });
      await shotBoth(page, 'server-dashboard-legacy');
      await page.getByTestId('legacy-off').click();
      await page.getByTestId('kpi-running').waitFor();

      // Remove the client.
      await page.getByTestId(`v1-remove-${id}`).click();
      await eventually(async () => (await page.locator(`[data-engine="${id}"]`).count()) === 0, { what: `${id} gone from the panel` });
      const after = (await apiAt(srv.base, t, 'GET', '/api/v1/clients')).body.clients.map((c) => c.id);
      assert(!after.includes(id), `GET /api/v1/clients no longer lists ${id}: ${after}`);
    },
  },
  {
    name: 'server with -legacy_api_v1=false: no v1 panel nor legacy toggle, the Live SIP pages still there',
    async fn({ page }) {
      const srv = await gossipperServerWithoutV1();
      const h = await (await fetch(`${srv.base}/api/v2/health`)).json();
      assertEq(h.legacy_api_v1, false, 'health says v1 is off');
      await signIn(page, ADMIN, srv.base);
      await goto(page, '#/dashboard');
      await page.getByTestId('kpi-running').waitFor();
      assertEq(await page.getByTestId('v1-panel').count(), 0, 'v1 panels');
      assertEq(await page.getByTestId('legacy-toggle').count(), 0, 'legacy toggles');
      assert(await page.locator('.nav a[data-nav="sip"]').isVisible(), 'the Live trace nav entry');
      assert(await page.locator('.nav a[data-nav="calls"]').isVisible(), 'the Calls nav entry');
      srv.stop();
    },
  },
];
