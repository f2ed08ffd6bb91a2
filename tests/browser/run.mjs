// tests/browser/run.mjs - the demo's web app (examples/www/) in headless
// Chromium, over HTTPS with a certificate the browser trusts. Started by
// run.sh; see tests/browser/README.md.
//
// For the run it makes a test CA and a server certificate for 127.0.0.1,
// and trusts the CA in the NSS database of a temporary HOME (Chromium's
// certificate store on Linux), so nothing is waived: no certificate-error
// switch is given. Then it starts the demo with that certificate and drives
// the page with playwright-core over the Chrome DevTools protocol:
//   - the page and its files come over --proto (nextHopProtocol);
//   - the status page's numbers move with the server's (SSE feed);
//   - a reload revalidates the static files: 304 (and the server counts them);
//   - the streamed download arrives piece by piece (fetch + ReadableStream);
//   - files uploaded with the multipart form come back with their sizes and
//     SHA-256; the URL-encoded form comes back decoded;
//   - WebSocket messages are echoed;
//   - a screenshot of the status page goes to OUT/status.png.
// Parts whose server side is not in this tree or build (the demo has no
// /upload, /form or /ws/echo route; build.h has no HZ_HAVE_HTTP2 1) are not run: the test then
// ends with 77 (ctest SKIP) after everything else passed, naming them.
'use strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createRequire } from 'node:module';

// The whole run: about 20 s on an idle machine; the deadline and the step
// timeouts leave room for a loaded CI machine (ctest's timeout is above).
const DEADLINE_MS = 100000;

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['demo', 'src', 'out', 'proto', 'chromium'])
  if (!args[k]) throw new Error(`run.mjs: --${k} missing`);
if (!['http/1.1', 'h2'].includes(args.proto)) throw new Error('run.mjs: --proto http/1.1 or h2');

const require = createRequire(path.join(path.resolve(args.out), 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const notTested = [];
class Skip extends Error {}
let failed = 0;
const cleanups = [];

function check(cond, what) {
  if (cond) {
    log('ok  ', what);
  } else {
    log('FAIL', what);
    failed++;
  }
  return cond;
}

async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (err) {
      log('cleanup:', err.message);
    }
  }
}

const watchdog = setTimeout(async () => {
  log(`FAIL: the run took more than ${DEADLINE_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, DEADLINE_MS);

// ---- what this tree can serve -------------------------------------------------

function demoSources() {
  const dir = path.join(args.src, 'examples');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.c'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
}
const sources = demoSources();
const has = {
  upload: sources.includes('"/upload"'),
  form: sources.includes('"/form"'),
  ws: sources.includes('"/ws/echo"'),
  // HTTP/2 is optional in the build: its generated build.h says.
  h2: !!args['build-h'] && /^#define HZ_HAVE_HTTP2 1$/m.test(fs.readFileSync(args['build-h'], 'utf8')),
};

// ---- certificates -------------------------------------------------------------

const work = fs.mkdtempSync(path.join(path.resolve(args.out), 'run-'));
cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));

function makeCerts() {
  const f = (n) => path.join(work, n);
  const ossl = (...a) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=httpz browser test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', f('key.pem'), '-out', f('srv.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ossl('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('cert.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

// The CA, trusted for TLS servers in the NSS database of a fresh HOME.
function trustCA(caFile) {
  const home = path.join(work, 'home');
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  try {
    execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], { stdio: 'pipe' });
    execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-n', 'httpz browser test CA', '-t', 'C,,',
      '-i', caFile], { stdio: 'pipe' });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Skip('no certutil (Debian: apt-get install libnss3-tools)');
    throw err;
  }
  return home;
}

// ---- the demo -------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts the demo; resolves with its HTTPS port once it listens.
async function startDemo(certs) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const tlsPort = await freePort(); // may be taken meanwhile: then retry
    const logFile = path.join(path.resolve(args.out), `demo-${args.proto.replace(/[/.]/g, '')}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(args.demo, ['--addr', '127.0.0.1', '--port', '0', '--tls-port', String(tlsPort),
      '--cert', certs.cert, '--key', certs.key, '--loops', '2',
      '--access-log', path.join(work, 'access.log'),
      '--www', path.join(args.src, 'examples', 'www')], { stdio: ['ignore', out, out], cwd: work });
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      const text = fs.readFileSync(logFile, 'utf8');
      if (/listening on/.test(text)) up = true;
      else if (child.exitCode !== null) break;
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (up) {
      cleanups.push(async () => {
        child.kill('SIGTERM');
        const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 8000))]);
        if (code === 'timeout') child.kill('SIGKILL');
        check(code === 0, `the demo stopped cleanly on SIGTERM (exit ${code})`);
      });
      log(`demo up, HTTPS port ${tlsPort} (log ${logFile})`);
      return tlsPort;
    }
    child.kill('SIGKILL');
    await exited;
    log(`demo did not start on port ${tlsPort}:\n${fs.readFileSync(logFile, 'utf8')}`);
  }
  throw new Error('the demo did not start');
}

// The ALPN protocol the demo picks when offered h2 and http/1.1.
function alpn(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca), ALPNProtocols: ['h2', 'http/1.1'] },
      () => {
        resolve(s.alpnProtocol || 'none');
        s.end();
      });
    s.on('error', reject);
  });
}

// GET over HTTPS from node (the CA given): the server's own counters.
function metrics(port, ca) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/metrics', ca: fs.readFileSync(ca), agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const num = (re) => {
          const m = re.exec(body);
          return m ? Number(m[1]) : NaN;
        };
        resolve({
          s3xx: num(/^httpz_responses_total\{code="3xx"\} (\d+)$/m),
          aborted: num(/^httpz_requests_aborted_total (\d+)$/m),
          wsH2: num(/^httpz_websocket_http2_opened_total (\d+)$/m),
        });
      });
    }).on('error', reject);
  });
}

// ---- the steps --------------------------------------------------------------------

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function stepProtocol(page) {
  const protos = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return [nav.nextHopProtocol, ...performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/app/')).map((e) => e.nextHopProtocol)];
  });
  check(protos.length >= 3 && protos.every((p) => p === args.proto),
    `page and files over ${args.proto} (nextHopProtocol: ${protos.join(', ')})`);
}

async function stepLive(page) {
  await page.waitForFunction(() => window.hzStatus && window.hzStatus.events >= 2, null, { timeout: 10000 });
  const before = await page.evaluate(() => window.hzStatus.last.requests);
  const shown0 = await page.textContent('#requests');
  await page.click('#load'); // 5 s of /plaintext requests from the page
  await page.waitForFunction(() => parseFloat(document.getElementById('rps').textContent) > 0, null,
    { timeout: 10000 });
  const rps = await page.textContent('#rps');
  await page.waitForFunction((b) => window.hzStatus.last.requests > b + 50, before, { timeout: 16000 });
  const shown1 = await page.textContent('#requests');
  check(Number(shown1) > Number(shown0), `the page's request count moves (${shown0} -> ${shown1}, ${rps} requests/s shown)`);
  const st = await page.evaluate(() => ({
    conns: window.hzStatus.last.conn_open,
    lat: window.hzStatus.last.lat_count - window.hzStatus.first.lat_count,
    https: window.hzStatus.last.proto.https,
    h2: window.hzStatus.last.proto.h2,
  }));
  check(st.conns >= 1 && st.lat > 50 && st.https >= 1,
    `open connections ${st.conns}, ${st.lat} latencies counted, ${st.https} TLS connections`);
  // The protocol mix counts this page's own connection as HTTP/2 over h2.
  check(args.proto !== 'h2' || st.h2 >= 1, `${st.h2} HTTP/2 connections in the protocol mix`);
  await page.waitForFunction(() => !document.getElementById('load').disabled, null, { timeout: 16000 });
}

// The demo's access log (combined format, written within a second): the
// status of every request, as the server sent it.
function accessLog() {
  try {
    return fs.readFileSync(path.join(work, 'access.log'), 'utf8');
  } catch (err) {
    return '';
  }
}

async function stepReload(page, port, ca) {
  const files = ['/', '/app/app.css', '/app/app.js', '/app/favicon.svg'];
  const logBefore = accessLog().length;
  const m0 = await metrics(port, ca);
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => window.hzStatus && window.hzStatus.events >= 1, null, { timeout: 10000 });
  // Server side: each file answered 304 (conditional GET). The access log
  // is flushed once a second: poll it for a bounded while.
  const re = (f) => new RegExp(`"GET ${f.replace(/[.]/g, '\\.')} HTTP/[0-9.]+" 304 `);
  let tail = '';
  for (let i = 0; i < 80; i++) {
    tail = accessLog().slice(logBefore);
    if (files.every((f) => re(f).test(tail))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = tail.split('\n').filter((l) => / "GET (\/|\/app\/\S*) HTTP/.test(l))
    .map((l) => l.replace(/^.*"GET (\S+) HTTP\/[0-9.]+" (\d+) .*$/, '$1 $2'));
  check(files.every((f) => re(f).test(tail)), `reload: the server answered 304 for the page and its files (${seen.join(', ')})`);
  const m1 = await metrics(port, ca);
  check(m1.s3xx - m0.s3xx >= files.length, `the server counted ${m1.s3xx - m0.s3xx} 3xx answers across the reload`);
  // Browser side: only heads crossed the network (the files are > 2 KiB;
  // Chromium reports a revalidated body as 0 bytes or as the cached size).
  const ent = await page.evaluate(() => [performance.getEntriesByType('navigation')[0],
    ...performance.getEntriesByType('resource').filter((e) => e.name.includes('/app/app.'))]
    .map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize })));
  check(ent.length === 3 && ent.every((e) => e.transfer > 0 && e.transfer < 1000),
    `reload: only heads crossed the network (${ent.map((e) => `${e.name} ${e.transfer} B`).join(', ')})`);
}

async function stepStream(page) {
  await page.click('#stream-start');
  await page.waitForFunction(() => /^(done|failed)/.test(document.getElementById('stream-state').textContent),
    null, { timeout: 20000 });
  const reads = await page.evaluate(() => window.hzStatus.streamReads);
  const text = reads.map((r) => r.text).join('');
  const pieces = text.split('\n').filter(Boolean);
  const expect = Array.from({ length: 8 }, (_, i) => `piece ${i + 1} of 8`);
  check(pieces.length === 8 && pieces.every((p, i) => p.startsWith(expect[i] + ' ') && p.length === 1023),
    `download: 8 pieces of 1024 bytes in order (${text.length} bytes)`);
  // The server sends a piece every 250 ms: read all at once (buffered), the
  // first and last reads would be moments apart.
  const span = reads.length ? reads[reads.length - 1].t - reads[0].t : 0;
  check(reads.length >= 4 && span >= 1000,
    `download read piece by piece: ${reads.length} reads over ${span} ms (${reads.map((r) => r.t).join(' ')})`);
}

// A download the page gives up on: the server sees the client go (its
// next tick is cancelled), counts an aborted request and keeps serving.
async function stepAbort(page, port, ca) {
  const m0 = await metrics(port, ca);
  const got = await page.evaluate(async () => {
    const ac = new AbortController();
    const res = await fetch('/stream?n=100&ms=100', { signal: ac.signal, cache: 'no-store' });
    const reader = res.body.getReader();
    let n = 0;
    for (let i = 0; i < 2; i++) n += (await reader.read()).value.byteLength;
    ac.abort();
    return n;
  });
  let m1 = m0;
  for (let i = 0; i < 100 && !(m1.aborted > m0.aborted); i++) {
    await new Promise((r) => setTimeout(r, 100));
    m1 = await metrics(port, ca);
  }
  check(got >= 1024 && m1.aborted > m0.aborted,
    `an abandoned download is seen by the server (read ${got} B; aborted requests ${m0.aborted} -> ${m1.aborted})`);
}

async function stepUpload(page) {
  if (!has.upload) {
    notTested.push('upload (the demo has no POST /upload)');
    return;
  }
  const files = [
    { name: 'big.bin', buffer: randomBytes(3 * 1024 * 1024 + 17) },
    { name: 'hello.txt', buffer: Buffer.from('hello, httpz\r\n--not-a-boundary\r\n') },
    { name: 'empty.dat', buffer: Buffer.alloc(0) },
  ];
  // From disk: Chromium reads them itself (a buffer would cross the
  // DevTools protocol in base64, slowly).
  const dir = path.join(work, 'upload');
  fs.mkdirSync(dir);
  for (const f of files) fs.writeFileSync(path.join(dir, f.name), f.buffer);
  await page.setInputFiles('#upload-files', files.map((f) => path.join(dir, f.name)));
  log('upload: files chosen');
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction(() => !/^sending/.test(document.getElementById('upload-result').textContent) &&
    document.getElementById('upload-result').textContent !== '', null, { timeout: 30000 });
  const out = await page.textContent('#upload-result');
  const nl = out.indexOf('\n');
  let got = null;
  try {
    got = JSON.parse(out.slice(nl + 1));
  } catch (err) {
    // reported below
  }
  check(out.startsWith('200') && got && Array.isArray(got.files), `upload answered 200 + JSON (${out.slice(0, 80)})`);
  if (!got || !Array.isArray(got.files)) return;
  const ok = files.every((f, i) => {
    const g = got.files[i];
    return g && g.field === 'files' && g.name === f.name && g.size === f.buffer.length && g.sha256 === sha256(f.buffer);
  });
  check(ok && got.files.length === files.length,
    `upload: ${files.length} files back with their sizes and SHA-256 (${got.files.map((f) => `${f.name} ${f.size}`).join(', ')})`);
  check(got.fields && got.fields.note === 'from the status page', 'upload: the text field came along');
  const rows = await page.$$eval('#upload-table tbody tr', (trs) => trs.length);
  check(rows === files.length, `the page lists the ${rows} files`);
}

async function stepForm(page) {
  if (!has.form) {
    notTested.push('form (the demo has no POST /form)');
    return;
  }
  const name = 'Ada Lovelace', message = 'héllo & welcome = 100%+1 ✓';
  await page.fill('#form-name', name);
  await page.fill('#form-message', message);
  await page.click('#form button[type=submit]');
  await page.waitForFunction(() => !/^sending/.test(document.getElementById('form-result').textContent) &&
    document.getElementById('form-result').textContent !== '', null, { timeout: 10000 });
  const out = await page.textContent('#form-result');
  let got = null;
  try {
    got = JSON.parse(out.slice(out.indexOf('\n') + 1));
  } catch (err) {
    // reported below
  }
  check(out.startsWith('200') && got && got.fields && got.fields.name === name && got.fields.message === message,
    `form: fields back decoded (${out.replace(/\n/g, ' ').slice(0, 120)})`);
}

async function stepWebSocket(page, port, ca) {
  if (!has.ws) {
    notTested.push('WebSocket (the demo has no /ws/echo)');
    return;
  }
  const msgs = ['hello, httpz', 'ünïcödé ✓ ' + 'x'.repeat(300)]; // the second needs a 16-bit length
  for (const m of msgs) {
    await page.fill('#ws-input', m);
    await page.click('#ws-send');
    await page.waitForFunction((t) => window.hzStatus.wsReceived.includes(t), m, { timeout: 10000 })
      .catch(() => {});
  }
  const got = await page.evaluate(() => window.hzStatus.wsReceived);
  const state = await page.textContent('#ws-state');
  const shown = await page.$$eval('#ws-log li', (lis) => lis.length);
  check(got.length === msgs.length && msgs.every((m, i) => got[i] === m) && state === 'open' && shown === 4,
    `WebSocket: ${got.length} of ${msgs.length} messages echoed in order, socket ${state}, ${shown} lines shown`);
  // Which carrier the browser chose: an RFC 8441 stream of the page's h2
  // connection (the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL), or
  // a connection of its own with an HTTP/1.1 upgrade.
  const m = await metrics(port, ca);
  if (!Number.isNaN(m.wsH2))
    log(`WebSocket carrier: ${m.wsH2 > 0 ? 'an HTTP/2 stream (RFC 8441)' : 'HTTP/1.1 upgrade'} (httpz_websocket_http2_opened_total ${m.wsH2})`);
  if (args.proto === 'http/1.1' && !Number.isNaN(m.wsH2))
    check(m.wsH2 === 0, `no WebSocket over HTTP/2 with --disable-http2 (${m.wsH2})`);
  // Chromium opens WebSockets as RFC 8441 streams of the page's h2
  // connection when the server advertises it (this demo does).
  if (args.proto === 'h2' && !Number.isNaN(m.wsH2))
    check(m.wsH2 >= 1, `the WebSocket went over the page's HTTP/2 connection (RFC 8441): ${m.wsH2}`);
}

// ---- main ---------------------------------------------------------------------------

let browser;
try {
  if (args.proto === 'h2' && !has.h2) throw new Skip(`built without HTTP/2 (no HZ_HAVE_HTTP2 1 in ${args['build-h']})`);
  const certs = makeCerts();
  const home = trustCA(certs.ca);
  const port = await startDemo(certs);
  const chosen = await alpn(port, certs.ca);
  if (args.proto === 'h2')
    check(chosen === 'h2', `the demo offers h2 by ALPN (chose ${chosen})`);

  browser = await chromium.launch({
    executablePath: args.chromium,
    // HOME: the NSS database that trusts the test CA. http/1.1: the
    // browser must not use h2 even when the demo offers it.
    env: { ...process.env, HOME: home },
    args: args.proto === 'http/1.1' ? ['--disable-http2'] : [],
    timeout: 40000,
  });
  cleanups.push(() => browser.close());
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 1100 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => check(false, `no script error on the page (${err.message})`));
  const base = `https://127.0.0.1:${port}`;
  const res = await page.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
  check(res.status() === 200, `GET / over HTTPS with the trusted test CA: ${res.status()}`);
  const sec = await res.securityDetails();
  log(`TLS: ${sec && sec.protocol}, issuer ${sec && sec.issuer}`);

  await stepProtocol(page);
  await stepLive(page);
  await stepReload(page, port, certs.ca);
  await stepStream(page);
  await stepAbort(page, port, certs.ca);
  await stepUpload(page);
  await stepForm(page);
  await stepWebSocket(page, port, certs.ca);

  // The screenshot (README's picture): the status page after a little load.
  // Three more events with traffic, so the chart has something to show.
  const ev = await page.evaluate(() => window.hzStatus.events);
  await page.click('#load');
  await page.waitForFunction((n) => window.hzStatus.events >= n + 3, ev, { timeout: 16000 });
  const shot = args.screenshot || path.join(path.resolve(args.out), `status-${args.proto.replace(/[/.]/g, '')}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  check(fs.statSync(shot).size > 10000, `screenshot ${shot}`);
} catch (err) {
  if (err instanceof Skip) {
    await cleanup();
    console.log(`browser: SKIP: ${err.message}`);
    process.exit(77);
  }
  log('FAIL:', err.stack || err.message);
  failed++;
}
await cleanup();
clearTimeout(watchdog);
if (failed) {
  log(`${failed} check(s) FAILED`);
  process.exit(1);
}
if (notTested.length) {
  log(`browser: SKIP: everything else passed; NOT TESTED: ${notTested.join('; ')}`);
  process.exit(77);
}
log('all passed');
process.exit(0);
