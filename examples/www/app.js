// app.js - the httpz demo's status page: live numbers from the server's
// Server-Sent Events feed (GET /status/events, one JSON event a second with
// the running totals of hz_server_metrics), drawn on canvases; plus the
// upload, form, streamed-download and WebSocket demos. Plain JavaScript.
'use strict';

const $ = (id) => document.getElementById(id);
const HISTORY = 60; // seconds on the rate chart

// What the page has seen, also read by tests/browser.
const state = {
  events: 0,      // SSE events received
  first: null,    // the first event (the latency histogram counts from it)
  last: null,     // the latest event
  rate: [],       // {rps, conns} per event, the last HISTORY
  streamReads: [], // {t, bytes, text} per ReadableStream read of /stream
  wsReceived: [],  // WebSocket messages received
};
window.hzStatus = state;

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function fmtBytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(Math.round(n))) + ' ' + u[i];
}

function fmtSeconds(s) {
  if (s < 1e-3) return Math.round(s * 1e6) + ' µs';
  if (s < 1) return +(s * 1e3).toPrecision(3) + ' ms';
  return +s.toPrecision(3) + ' s';
}

// A canvas sized for the device's pixels; returns its 2D context and CSS size.
function surface(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width)), h = Math.max(1, Math.round(r.height));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  return { g, w, h };
}

// A "nice" axis maximum at or above v.
function niceMax(v) {
  if (v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawRate() {
  const { g, w, h } = surface($('chart-rate'));
  const pad = { l: 44, r: 44, t: 8, b: 18 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const maxA = niceMax(Math.max(1, ...state.rate.map((p) => p.rps)));
  const maxB = niceMax(Math.max(1, ...state.rate.map((p) => p.conns)));
  g.strokeStyle = css('--line');
  g.fillStyle = css('--dim');
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + ph - (ph * i) / 4;
    g.beginPath();
    g.moveTo(pad.l, y);
    g.lineTo(pad.l + pw, y);
    g.stroke();
    g.textAlign = 'right';
    g.fillText(String(+((maxA * i) / 4).toPrecision(3)), pad.l - 4, y + 4);
    g.textAlign = 'left';
    g.fillText(String(+((maxB * i) / 4).toPrecision(3)), pad.l + pw + 4, y + 4);
  }
  g.textAlign = 'center';
  g.fillText('-60 s', pad.l, h - 4);
  g.fillText('now', pad.l + pw, h - 4);
  const line = (key, max, color) => {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    state.rate.forEach((p, i) => {
      const x = pad.l + pw - ((state.rate.length - 1 - i) * pw) / (HISTORY - 1);
      const y = pad.t + ph - (ph * p[key]) / max;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  };
  line('conns', maxB, css('--b'));
  line('rps', maxA, css('--a'));
}

// Bars: the requests that finished since the page opened, per latency bucket.
function drawLatency() {
  const { g, w, h } = surface($('chart-lat'));
  const e = state.last, f = state.first;
  if (!e) return;
  const counts = [];
  let prev = 0;
  for (let i = 0; i < e.lat.length; i++) {
    const c = e.lat[i] - f.lat[i]; // cumulative buckets: "<= le"
    counts.push(c - prev);
    prev = c;
  }
  counts.push(e.lat_count - f.lat_count - prev); // above the last bound
  // Show the buckets up to the slowest one used (at least 8).
  let last = counts.length - 1;
  while (last > 7 && counts[last] === 0) last--;
  const pad = { l: 36, r: 6, t: 8, b: 30 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const max = niceMax(Math.max(1, ...counts));
  const bw = pw / (last + 1);
  g.fillStyle = css('--dim');
  g.textAlign = 'right';
  g.fillText(String(max), pad.l - 4, pad.t + 8);
  g.fillText('0', pad.l - 4, pad.t + ph);
  for (let i = 0; i <= last; i++) {
    const bh = (ph * counts[i]) / max;
    g.fillStyle = css('--c');
    g.fillRect(pad.l + i * bw + 1, pad.t + ph - bh, Math.max(1, bw - 2), bh);
    if (i % 2 === 0 || bw > 40) {
      g.save();
      g.fillStyle = css('--dim');
      g.translate(pad.l + i * bw + bw / 2, pad.t + ph + 4);
      g.textAlign = 'center';
      g.fillText(i < e.lat_le.length ? '≤' + fmtSeconds(e.lat_le[i]) : '>', 0, 10);
      g.restore();
    }
  }
}

// Horizontal bars: connections by protocol, requests by status class.
function drawMix() {
  const { g, w } = surface($('chart-mix'));
  const e = state.last;
  if (!e) return;
  const rows = [];
  for (const [k, v] of Object.entries(e.proto)) rows.push(['conn ' + k, v, css('--a')]);
  ['1xx', '2xx', '3xx', '4xx', '5xx'].forEach((k, i) => rows.push([k, e.status[i], css('--c')]));
  const names = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'other'];
  names.forEach((k, i) => { if (e.method[i]) rows.push([k, e.method[i], css('--b')]); });
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const rh = Math.min(22, 212 / rows.length);
  rows.forEach(([k, v, color], i) => {
    const y = 4 + i * rh;
    g.fillStyle = css('--dim');
    g.textAlign = 'right';
    g.fillText(k, 76, y + rh / 2 + 4);
    const bw = ((w - 140) * v) / max;
    g.fillStyle = color;
    g.fillRect(82, y + 2, Math.max(1, bw), rh - 4);
    g.fillStyle = css('--text');
    g.textAlign = 'left';
    g.fillText(String(v), 86 + bw, y + rh / 2 + 4);
  });
}

function onEvent(e) {
  const prev = state.last;
  state.events++;
  if (!state.first) state.first = e;
  state.last = e;
  const dt = prev ? (e.t - prev.t) / 1000 : 0;
  const rps = dt > 0 ? (e.requests - prev.requests) / dt : 0;
  state.rate.push({ rps, conns: e.conn_open });
  if (state.rate.length > HISTORY) state.rate.shift();
  $('events').textContent = state.events;
  $('server-info').textContent =
    `httpz ${e.server.version} · tls ${e.server.tls} · poller ${e.server.poller}`;
  $('rps').textContent = prev ? (rps < 10 ? rps.toFixed(1) : Math.round(rps)) : '–';
  $('conns').textContent = e.conn_open;
  $('inflight').textContent = e.in_flight;
  $('requests').textContent = e.requests;
  $('bytes-out').textContent = fmtBytes(e.bytes_out);
  $('mean-lat').textContent = e.lat_count ? fmtSeconds(e.lat_sum_ns / e.lat_count / 1e9) : '–';
  drawRate();
  drawLatency();
  drawMix();
}

function startFeed() {
  const es = new EventSource('/status/events');
  es.onopen = () => { $('feed-state').textContent = 'live'; };
  es.onerror = () => { $('feed-state').textContent = 'reconnecting'; };
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
}

// Some traffic to watch: /plaintext requests, 8 at a time, for 5 seconds.
async function generateLoad() {
  const btn = $('load');
  btn.disabled = true;
  const end = performance.now() + 5000;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        await (await fetch('/plaintext', { cache: 'no-store' })).text();
      } catch (err) {
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  btn.disabled = false;
}

// ---- forms -----------------------------------------------------------------

async function postAndShow(url, body, out) {
  out.textContent = 'sending…';
  try {
    const res = await fetch(url, { method: 'POST', body });
    const text = await res.text();
    out.textContent = `${res.status} ${res.statusText}\n${text}`;
    return res.ok ? JSON.parse(text) : null;
  } catch (err) {
    out.textContent = 'failed: ' + err;
    return null;
  }
}

$('upload-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await postAndShow('/upload', new FormData(ev.target), $('upload-result'));
  const tbody = $('upload-table').tBodies[0];
  tbody.textContent = '';
  for (const f of (r && r.files) || []) {
    const tr = tbody.insertRow();
    for (const v of [f.name, f.size, f.sha256]) tr.insertCell().textContent = v;
  }
});

$('form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  // URLSearchParams: sent as application/x-www-form-urlencoded.
  postAndShow('/form', new URLSearchParams(new FormData(ev.target)), $('form-result'));
});

// ---- streamed download -------------------------------------------------------

$('stream-start').addEventListener('click', async () => {
  const log = $('stream-log'), st = $('stream-state');
  log.textContent = '';
  state.streamReads = [];
  st.textContent = 'reading…';
  const t0 = performance.now();
  try {
    const res = await fetch('/stream?n=8&ms=250', { cache: 'no-store' });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = dec.decode(value, { stream: true });
      const t = Math.round(performance.now() - t0);
      state.streamReads.push({ t, bytes: value.byteLength, text });
      const li = document.createElement('li');
      li.textContent = `+${t} ms: ${value.byteLength} bytes: ${text.split('\n')[0].replace(/[ .]+$/, '')}`;
      log.appendChild(li);
    }
    st.textContent = `done: ${state.streamReads.length} reads`;
  } catch (err) {
    st.textContent = 'failed: ' + err;
  }
});

// ---- WebSocket echo ----------------------------------------------------------

let ws = null;
function wsLog(text) {
  const li = document.createElement('li');
  li.textContent = text.length > 60 ? `${text.slice(0, 60)}… (${text.length} characters)` : text;
  $('ws-log').appendChild(li);
}

function wsOpen() {
  return new Promise((resolve, reject) => {
    if (ws && ws.readyState === WebSocket.OPEN) return resolve(ws);
    const s = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/echo');
    $('ws-state').textContent = 'connecting';
    s.onopen = () => { ws = s; $('ws-state').textContent = 'open'; resolve(s); };
    s.onerror = () => reject(new Error('WebSocket error'));
    s.onclose = (ev) => { ws = null; $('ws-state').textContent = `closed (${ev.code})`; };
    s.onmessage = (m) => {
      state.wsReceived.push(m.data);
      wsLog('← ' + m.data);
    };
  });
}

$('ws-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const s = await wsOpen();
    const text = $('ws-input').value;
    s.send(text);
    wsLog('→ ' + text);
  } catch (err) {
    wsLog('failed: ' + err.message);
  }
});

// ---- start ---------------------------------------------------------------------

$('load').addEventListener('click', generateLoad);
const nav = performance.getEntriesByType('navigation')[0];
$('page-proto').textContent = (nav && nav.nextHopProtocol) || '?';
window.addEventListener('resize', () => { drawRate(); drawLatency(); drawMix(); });
drawRate();
startFeed();
