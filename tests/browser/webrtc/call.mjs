// A real browser in a WebRTC call: headless Debian Chromium (fake audio device) runs the
// JsSIP library from npm, bundled here with esbuild, over SIP-over-WebSocket.
//
// Calling (default): places one call without registering; once it is confirmed, waits
// `hold_ms`, reads the peer connection's getStats() (inbound-rtp and outbound-rtp audio)
// and hangs up with a BYE.
// Answering (`--answer`): registers as the given URI, writes the file $READY_FILE (when
// set) once registered, answers the first call, reads getStats() every 250 ms while it
// lasts, and stops when the caller hangs up.
// Either way it prints one JSON line: {confirmed, ended, cause, packetsReceived,
// packetsSent, codec, error}.
//
// Usage: node webrtc/call.mjs ws://127.0.0.1:PORT sip:service@127.0.0.1:PORT [hold_ms]
//        node webrtc/call.mjs --answer ws://127.0.0.1:PORT sip:user@127.0.0.1 [limit_ms]
// Chromium: $CHROMIUM, else /usr/bin/chromium. The page is served from 127.0.0.1 (a
// secure context, so getUserMedia works) by a throw-away HTTP server on a free port.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { launchOptions } from '../lib.mjs';

const argv = process.argv.slice(2);
const answer = argv[0] === '--answer';
const [wsUrl, target, holdArg] = answer ? argv.slice(1) : argv;
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
  if (answer) {
    await tab.exposeFunction('markReady', () => {
      if (process.env.READY_FILE) writeFileSync(process.env.READY_FILE, 'registered\n');
    });
    result = await tab.evaluate(answerCall, { wsUrl, target, limitMs: Number(holdArg || 30000) });
  } else result = await tab.evaluate(async ({ wsUrl, target, holdMs }) => {
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

/** In the page: register as `target`, answer the first call, count its audio. */
async function answerCall({ wsUrl, target, limitMs }) {
  const out = { confirmed: false, ended: false, cause: null, packetsReceived: 0, packetsSent: 0, codec: null, error: null };
  const socket = new JsSIP.WebSocketInterface(wsUrl);
  const ua = new JsSIP.UA({ sockets: [socket], uri: target, register: true, session_timers: false });
  await new Promise((resolve) => {
    const timer = setTimeout(() => { out.error = 'timed out'; resolve(); }, limitMs);
    ua.on('registered', () => window.markReady());
    ua.on('registrationFailed', (e) => { out.error = `registration failed: ${e.cause}`; clearTimeout(timer); resolve(); });
    ua.on('newRTCSession', ({ session, originator }) => {
      if (originator !== 'remote') return;
      let poll = null;
      const read = async () => {
        if (!session.connection) return;
        const stats = await session.connection.getStats();
        let rx = 0;
        let tx = 0;
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio') rx += s.packetsReceived || 0;
          if (s.type === 'outbound-rtp' && s.kind === 'audio') tx += s.packetsSent || 0;
          if (s.type === 'codec' && !out.codec) out.codec = s.mimeType;
        });
        out.packetsReceived = Math.max(out.packetsReceived, rx);
        out.packetsSent = Math.max(out.packetsSent, tx);
      };
      session.on('confirmed', () => { out.confirmed = true; poll = setInterval(read, 250); });
      session.on('ended', (e) => { out.ended = true; out.cause = e.cause; clearInterval(poll); clearTimeout(timer); resolve(); });
      session.on('failed', (e) => { out.cause = e.cause; out.error = `failed: ${e.cause}`; clearInterval(poll); clearTimeout(timer); resolve(); });
      session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
    });
    ua.start();
  });
  ua.stop();
  return out;
}
process.exit(result.error ? 1 : 0);
