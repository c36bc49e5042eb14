// A real browser calls a WebRTC SIP endpoint: headless Debian Chromium (fake audio
// device) runs the JsSIP library from npm, bundled here with esbuild, and places one call
// over SIP-over-WebSocket without registering; after the call is confirmed it waits,
// reads the peer connection's getStats() (inbound-rtp and outbound-rtp audio), hangs up
// with a BYE and prints one JSON line: {confirmed, ended, cause, packetsReceived,
// packetsSent, codec, error}.
//
// Usage: node webrtc/call.mjs ws://127.0.0.1:PORT sip:service@127.0.0.1:PORT [hold_ms]
// Chromium: $CHROMIUM, else /usr/bin/chromium. The page is served from 127.0.0.1 (a
// secure context, so getUserMedia works) by a throw-away HTTP server on a free port.
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { launchOptions } from '../lib.mjs';

const [wsUrl, target, holdArg] = process.argv.slice(2);
if (!wsUrl || !target) {
  console.error('usage: node webrtc/call.mjs ws://HOST:PORT sip:USER@HOST:PORT [hold_ms]');
  process.exit(2);
}
const holdMs = Number(holdArg || 3000);
const here = dirname(fileURLToPath(import.meta.url));

const bundle = await build({
  entryPoints: [join(here, '..', 'node_modules', 'jssip', 'lib', 'JsSIP.js')],
  bundle: true, format: 'iife', globalName: 'JsSIP', platform: 'browser', write: false, logLevel: 'error',
});
const page = `<!doctype html><meta charset="utf-8"><title>jssip call</title><script src="/jssip.js"></script>`;
const server = createServer((req, res) => {
  if (req.url === '/jssip.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(bundle.outputFiles[0].text);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}/`;

const opts = launchOptions();
opts.args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  // Host candidates as addresses, not mDNS names: the peer is a plain SIP endpoint.
  '--disable-features=WebRtcHideLocalIpsWithMdns');
const browser = await chromium.launch(opts);
let result;
try {
  const ctx = await browser.newContext();
  const tab = await ctx.newPage();
  tab.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
  await tab.goto(base);
  result = await tab.evaluate(async ({ wsUrl, target, holdMs }) => {
    const out = { confirmed: false, ended: false, cause: null, packetsReceived: 0, packetsSent: 0, codec: null, error: null };
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    const ua = new JsSIP.UA({ sockets: [socket], uri: 'sip:browser@127.0.0.1', register: false, session_timers: false });
    const done = new Promise((resolve) => {
      const timer = setTimeout(() => { out.error = 'timed out'; resolve(); }, holdMs + 20000);
      ua.on('connected', () => {
        const session = ua.call(target, {
          mediaConstraints: { audio: true, video: false },
          pcConfig: { iceServers: [] },
        });
        session.on('confirmed', async () => {
          out.confirmed = true;
          await new Promise((r) => setTimeout(r, holdMs));
          const stats = await session.connection.getStats();
          stats.forEach((s) => {
            if (s.type === 'inbound-rtp' && s.kind === 'audio') out.packetsReceived += s.packetsReceived || 0;
            if (s.type === 'outbound-rtp' && s.kind === 'audio') out.packetsSent += s.packetsSent || 0;
            if (s.type === 'codec' && !out.codec) out.codec = s.mimeType;
          });
          session.terminate();
        });
        session.on('ended', (e) => { out.ended = true; out.cause = e.cause; clearTimeout(timer); resolve(); });
        session.on('failed', (e) => { out.cause = e.cause; out.error = `failed: ${e.cause}`; clearTimeout(timer); resolve(); });
      });
    });
    ua.start();
    await done;
    ua.stop();
    return out;
  }, { wsUrl, target, holdMs });
} catch (e) {
  result = { error: String(e) };
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
process.exit(result.error ? 1 : 0);
