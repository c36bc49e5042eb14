// The anchor of perf/webrtc_scale.py: how many concurrent WebRTC calls one headless
// Chromium running JsSIP holds. One page, one JsSIP UA (no registration) over
// SIP-over-WebSocket, N calls placed 10 per 100 ms; once all are confirmed (or the set-up
// limit passes) it waits `settle_ms`, then reads every call's getStats() twice, 2 s apart:
// a call holds when both its received and its sent audio packets grew by at least 80 in
// those 2 s (50 packets/s at 20 ms, with room for a scheduling hiccup). Then it hangs up
// every call (BYE).
//
// Prints one JSON line: {n, confirmed, failed, holding, causes}.
//
// Usage: node webrtc/anchor.mjs ws://127.0.0.1:PORT sip:service@127.0.0.1:PORT N [settle_ms]
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { launchOptions } from '../lib.mjs';

const [wsUrl, target, nArg, settleArg] = process.argv.slice(2);
const n = Number(nArg);
if (!wsUrl || !target || !(n > 0)) {
  console.error('usage: node webrtc/anchor.mjs ws://HOST:PORT sip:USER@HOST:PORT N [settle_ms]');
  process.exit(2);
}
const settleMs = Number(settleArg || 3000);
const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, '..', 'node_modules', 'jssip', 'lib', 'JsSIP.js')],
  bundle: true, format: 'iife', globalName: 'JsSIP', platform: 'browser', write: false, logLevel: 'error',
});
const server = createServer((req, res) => {
  if (req.url === '/jssip.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(bundle.outputFiles[0].text);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><meta charset="utf-8"><title>anchor</title><script src="/jssip.js"></script>');
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const opts = launchOptions();
opts.args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns');
const browser = await chromium.launch(opts);
let result;
try {
  const tab = await (await browser.newContext()).newPage();
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  result = await tab.evaluate(async ({ wsUrl, target, n, settleMs }) => {
    const out = { n, confirmed: 0, failed: 0, holding: 0, causes: {} };
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    const ua = new JsSIP.UA({ sockets: [socket], uri: 'sip:anchor@127.0.0.1', register: false, session_timers: false });
    await new Promise((ok) => { ua.on('connected', ok); ua.start(); });
    const sessions = [];
    let settled = 0;
    const allSettled = new Promise((resolve) => {
      const limit = setTimeout(resolve, 30000 + n * 50);
      const one = () => { settled += 1; if (settled === n) { clearTimeout(limit); resolve(); } };
      for (let i = 0; i < n; i += 1) {
        setTimeout(() => {
          const s = ua.call(target, { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
          sessions.push(s);
          s.on('confirmed', () => { out.confirmed += 1; one(); });
          s.on('failed', (e) => { out.failed += 1; out.causes[e.cause] = (out.causes[e.cause] || 0) + 1; one(); });
        }, Math.floor(i / 10) * 100);
      }
    });
    await allSettled;
    await new Promise((r) => setTimeout(r, settleMs));
    const counts = async () => Promise.all(sessions.map(async (s) => {
      if (!s.connection || !s.isEstablished()) return null;
      let rx = 0;
      let tx = 0;
      (await s.connection.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') rx += r.packetsReceived || 0;
        if (r.type === 'outbound-rtp' && r.kind === 'audio') tx += r.packetsSent || 0;
      });
      return { rx, tx };
    }));
    const before = await counts();
    await new Promise((r) => setTimeout(r, 2000));
    const after = await counts();
    after.forEach((a, i) => {
      const b = before[i];
      if (a && b && a.rx - b.rx >= 80 && a.tx - b.tx >= 80) out.holding += 1;
    });
    sessions.forEach((s) => { try { s.terminate(); } catch { /* already ended */ } });
    await new Promise((r) => setTimeout(r, 1000));
    ua.stop();
    return out;
  }, { wsUrl, target, n, settleMs });
} catch (e) {
  result = { n, error: String(e) };
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
process.exit(result.error ? 1 : 0);
