// Load generator for rtcsite signaling (driven by bench/run.py).
// node loadgen.mjs CONFIG.json  -> prints one JSON result line per step on stdout.
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = () => performance.timeOrigin + performance.now(); // ms, shared clock on one machine
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function open(url, session) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: session ? { Cookie: `sessionid=${session}` } : {},
      // The page's own origin: the server compares scheme, host and port.
      origin: config.origin ?? new URL(url).origin.replace(/^ws/, "http"),
      perMessageDeflate: false,
    });
    const peer = { ws, id: null, waiters: [], onFrame: null };
    const timer = setTimeout(() => reject(new Error("hello timeout")), config.connectTimeout ?? 30000);
    ws.on("message", (data) => {
      const frame = JSON.parse(data);
      if (frame.type === "hello") {
        peer.id = frame.peer;
        clearTimeout(timer);
        resolve(peer);
        return;
      }
      if (peer.onFrame) peer.onFrame(frame);
      for (const w of peer.waiters.splice(0)) w(frame);
    });
    ws.on("error", (e) => { clearTimeout(timer); reject(e); });
    ws.on("close", (code) => { clearTimeout(timer); reject(new Error(`closed ${code}`)); });
  });
}

function next(peer, type, timeout = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type}`)), timeout);
    const check = (frame) => {
      if (frame.type === type) { clearTimeout(timer); resolve(frame); }
      else peer.waiters.push(check);
    };
    peer.waiters.push(check);
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function pairs() {
  const list = [];
  for (let i = 0; i < config.pairs; i++) {
    const a = await open(config.servers[0], config.sessions[2 * i]);
    const b = await open(config.servers[1 % config.servers.length], config.sessions[2 * i + 1]);
    const room = config.rooms[i];
    a.ws.send(JSON.stringify({ type: "join", room }));
    await next(a, "joined");
    const seen = next(a, "peer-joined");
    b.ws.send(JSON.stringify({ type: "join", room }));
    await next(b, "joined");
    await seen;
    list.push({ a, b, room });
  }
  return list;
}

async function relay() {
  const list = await pairs();
  const pad = "x".repeat(Math.max(0, config.payload - 40));
  for (const rate of config.rates) {
    const latencies = [];
    let sent = 0;
    let received = 0;
    for (const { b } of list) {
      b.onFrame = (frame) => {
        if (frame.type !== "offer") return;
        received += 1;
        latencies.push(now() - Number(frame.payload.sdp.slice(0, 20)));
      };
    }
    const started = now();
    const end = started + config.duration * 1000;
    let owed = 0;
    let cursor = 0;
    let last = started;
    while (now() < end) {
      const t = now();
      owed += ((t - last) / 1000) * rate;
      last = t;
      while (owed >= 1) {
        const { a, b, room } = list[cursor++ % list.length];
        const sdp = now().toFixed(3).padStart(20, "0") + pad;
        a.ws.send(JSON.stringify({ type: "offer", room, to: b.id, payload: { type: "offer", sdp } }));
        sent += 1;
        owed -= 1;
      }
      await sleep(2);
    }
    const deadline = now() + (config.drain ?? 3000);
    while (received < sent && now() < deadline) await sleep(20);
    const elapsed = (now() - started) / 1000;
    latencies.sort((x, y) => x - y);
    out({
      step: "relay", offered_rate: rate, sent, received, delivered: sent ? received / sent : 0,
      achieved_rate: sent / config.duration,
      p50_ms: percentile(latencies, 50), p90_ms: percentile(latencies, 90),
      p99_ms: percentile(latencies, 99), max_ms: latencies.at(-1) ?? null, elapsed_s: elapsed,
    });
  }
  for (const { a, b } of list) { a.ws.terminate(); b.ws.terminate(); }
}

async function idle() {
  const peers = [];
  const batch = config.batch ?? 100;
  for (let i = 0; i < config.connections; i += batch) {
    const chunk = [];
    for (let j = i; j < Math.min(config.connections, i + batch); j++) {
      chunk.push(open(config.servers[j % config.servers.length], config.sessions[j % config.sessions.length]));
    }
    peers.push(...(await Promise.all(chunk)));
  }
  out({ step: "idle", ready: peers.length });
  await sleep(config.hold * 1000);
  for (const p of peers) p.ws.terminate();
}

async function joins() {
  const started = now();
  let failures = 0;
  const reasons = {};
  const fail = (why) => { failures += 1; reasons[why] = (reasons[why] || 0) + 1; };
  const tasks = [];
  for (let i = 0; i < config.peers; i++) {
    tasks.push((async () => {
      try {
        const peer = await open(config.servers[i % config.servers.length], config.sessions[i % config.sessions.length]);
        peer.ws.send(JSON.stringify({ type: "join", room: config.rooms[i % config.rooms.length] }));
        const reply = await Promise.race([next(peer, "joined"), next(peer, "error")]);
        if (reply.type !== "joined") fail(reply.code);
        return peer;
      } catch (error) {
        fail(String(error.message || error));
        return null;
      }
    })());
  }
  const peers = await Promise.all(tasks);
  const elapsed = (now() - started) / 1000;
  out({ step: "joins", peers: config.peers, joined: config.peers - failures, failures, reasons, elapsed_s: elapsed });
  for (const p of peers) p?.ws.terminate();
}

const modes = { relay, idle, joins };
modes[config.mode]().then(() => process.exit(0), (error) => { out({ error: String(error) }); process.exit(1); });
