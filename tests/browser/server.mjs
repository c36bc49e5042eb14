// Real peers for the console tests of `gossipper server` (server.test.mjs): one
// `gossipper server -ui_data_dir` (the built-in uas on a loopback SIP port, the console
// and /api/v2 + /api/v1 on a loopback API port, a fresh temp data dir), started once on
// first use and killed when the runner exits; SIPp's built-in uac making a bounded
// number of calls to it; tshark reading a pcap. Every wait has a deadline.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freeUdpPort, eventually, assert, AssertionError } from './lib.mjs';

const BIN = process.env.GOSSIPPER_BIN || new URL('../../target/debug/gossipper', import.meta.url).pathname;
const SIPP = process.env.SIPP || 'sipp';
const TSHARK = process.env.TSHARK || 'tshark';

/** A free loopback TCP port (bound and released). */
export function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

let server = null;

/**
 * The one `gossipper server` of this run: {base, sipPort, log(), stop()}. Started with v1 on
 * (`-legacy_api_v1`), the internal users of its data dir (admin / sipcapture).
 */
export function gossipperServer() {
  if (!server) server = start();
  return server;
}

/** Another server of its own, with `/api/v1` off (`-legacy_api_v1=false`); killed at exit. */
export function gossipperServerWithoutV1() {
  return start({ v1: false });
}

async function start({ v1 = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gossipper-browser-server-'));
  const sipPort = await freeUdpPort();
  const apiPort = await freeTcpPort();
  const logPath = join(dir, 'server.log');
  const out = openSync(logPath, 'a');
  const env = { ...process.env };
  for (const k of ['GOSSIPPER_BOOTSTRAP_USERNAME', 'GOSSIPPER_BOOTSTRAP_PASSWORD', 'GOSSIPPER_JWT_SECRET', 'GOSSIPPER_API_TOKEN']) delete env[k];
  const args = ['server', '-sn', 'uas', '-i', '127.0.0.1', '-p', String(sipPort), '-nostdin', '-timeout', '900s',
    '-api_addr', `127.0.0.1:${apiPort}`, '-ui_data_dir', join(dir, 'data'), `-legacy_api_v1=${v1}`];
  const child = spawn(BIN, args, { stdio: ['ignore', out, out], env });
  const log = () => { try { return readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n'); } catch { return ''; } };
  let exited = null;
  child.on('exit', (code, sig) => { exited = `exit ${code ?? sig}`; });
  process.on('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); });
  const base = `http://127.0.0.1:${apiPort}`;
  await eventually(async () => {
    if (exited) throw new AssertionError(`gossipper server ended (${exited}):\n${log()}`);
    const r = await fetch(`${base}/api/v2/health`);
    return r.ok && (await r.json()).mode === 'server';
  }, { timeout: 30000, what: `gossipper server on ${base} (${BIN} ${args.join(' ')})` }).catch((e) => {
    throw new AssertionError(`${e.message}\n${log()}`);
  });
  const stop = () => { try { child.kill('SIGTERM'); } catch { /* gone */ } };
  return { base, sipPort, log, dir, stop };
}

/**
 * SIPp's built-in uac: `calls` calls at 10/s to the server, Call-IDs `<tag>-<n>-<pid>@127.0.0.1`.
 * Resolves {callIds} once SIPp has exited 0 (all calls passed).
 */
export async function sippCalls(sipPort, calls, tag) {
  const port = await freeUdpPort();
  const args = ['-sn', 'uac', '-i', '127.0.0.1', '-p', String(port), '-r', '10', '-m', String(calls),
    '-cid_str', `${tag}-%u-%p@%s`, '-nostdin', '-timeout', '30s', `127.0.0.1:${sipPort}`];
  const child = spawn(SIPP, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  child.stdout.on('data', () => {});
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('killed after 40 s'); }, 40000);
    child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    child.on('error', (e) => { clearTimeout(timer); resolve(`cannot start ${SIPP}: ${e.message}`); });
  });
  assert(code === 0, `sipp ${args.join(' ')} ended with ${code}:\n${err}`);
  const callIds = Array.from({ length: calls }, (_, i) => `${tag}-${i + 1}-${child.pid}@127.0.0.1`);
  return { callIds, pid: child.pid };
}

/** `tshark -r file` with `port` read as SIP: the SIP packets' one-line summaries. */
export function tsharkSip(file, port) {
  return new Promise((resolve, reject) => {
    execFile(TSHARK, ['-r', file, '-d', `udp.port==${port},sip`, '-Y', 'sip', '-T', 'fields', '-e', 'sip.Call-ID', '-e', 'sip.Method', '-e', 'sip.Status-Code'],
      { timeout: 30000 }, (e, stdout, stderr) => {
        if (e) reject(new AssertionError(`tshark -r ${file}: ${e.message}\n${stderr}`));
        else resolve(stdout.split('\n').filter(Boolean).map((l) => { const [callId, method, status] = l.split('\t'); return { callId, method, status }; }));
      });
  });
}
