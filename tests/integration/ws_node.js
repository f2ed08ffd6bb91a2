// ws_node.js - the demo's /ws/echo against the npm "ws" client (strict:
// it fails the connection on any protocol violation of ours): echo of text
// and binary with and without permessage-deflate, a fragmented message with
// a ping between its fragments, invalid UTF-8 (1007), an oversize message
// (1009), the closing handshake, over ws:// and wss://. Run by ws_node.sh.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const WebSocket = require('ws');

const demoExe = process.argv[2];
const TIMEOUT = 20000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function startDemo(tlsPort) {
  return new Promise((resolve, reject) => {
    const p = spawn(demoExe, ['--port', '0', '--tls-port', String(tlsPort), '--loops', '1', '--quiet'],
                    { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on [^ ]*:(\d+) /.exec(out);
      if (m) resolve({ proc: p, port: Number(m[1]) });
    });
    p.on('exit', (c) => reject(new Error('demo exited ' + c + ': ' + out)));
  });
}

function open(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, Object.assign({ rejectUnauthorized: false, maxPayload: 4 << 20 }, opts));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for a message')), TIMEOUT);
    ws.once('message', (data, isBinary) => { clearTimeout(t); resolve({ data, isBinary }); });
  });
}

function closed(ws) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for the close')), TIMEOUT);
    ws.once('close', (code) => { clearTimeout(t); resolve(code); });
    ws.on('error', () => {});
  });
}

function check(cond, what) {
  if (!cond) throw new Error('failed: ' + what);
}

async function scenarios(url) {
  for (const deflate of [true, false]) {
    const ws = await open(url, { perMessageDeflate: deflate });
    check((ws.extensions || '').includes('permessage-deflate') === deflate, 'extension ' + ws.extensions);
    ws.send('hello');
    let m = await next(ws);
    check(!m.isBinary && m.data.toString() === 'hello', 'text echo');
    const big = Buffer.alloc(200000, 'ab');
    ws.send(big, { binary: true });
    m = await next(ws);
    check(m.isBinary && m.data.equals(big), 'binary echo');
    // Fragments with a ping between them.
    const pong = new Promise((r) => ws.once('pong', (d) => r(d.toString())));
    ws.send('frag-', { fin: false });
    ws.ping('between');
    ws.send('ment', { fin: true });
    m = await next(ws);
    check(m.data.toString() === 'frag-ment', 'fragmented echo: ' + m.data);
    check((await pong) === 'between', 'pong payload');
    const c = closed(ws);
    ws.close(1000, 'bye');
    check((await c) === 1000, 'close code');
  }
  // Invalid UTF-8 in a text frame: 1007 (ws does not check what it sends).
  let ws = await open(url, { perMessageDeflate: false });
  let c = closed(ws);
  ws.send(Buffer.from([0x6f, 0x6b, 0xc0, 0xaf]), { binary: false });
  check((await c) === 1007, 'invalid UTF-8 gets 1007');
  // Over the demo's 1 MiB message limit: 1009.
  ws = await open(url, { perMessageDeflate: false });
  c = closed(ws);
  ws.send(Buffer.alloc(2 << 20), { binary: true });
  check((await c) === 1009, 'oversize gets 1009');
}

(async () => {
  const tlsPort = await freePort();
  const demo = await startDemo(tlsPort);
  try {
    await scenarios(`ws://127.0.0.1:${demo.port}/ws/echo`);
    await scenarios(`wss://127.0.0.1:${tlsPort}/ws/echo`);
  } finally {
    demo.proc.removeAllListeners('exit');
    demo.proc.kill('SIGTERM');
  }
  console.log('ws_node: ok (ws:// and wss://)');
})().catch((e) => { console.error('ws_node: ' + (e && e.stack || e)); process.exit(1); });
