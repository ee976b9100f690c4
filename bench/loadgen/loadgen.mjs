// Load generator for rtcsite signaling (driven by bench/run.py).
// node loadgen.mjs CONFIG.json  -> prints one JSON result line per step on stdout.
// config.system: "rtcsite" (default, raw WebSocket frames) or "yardstick" (the Socket.IO
// server in bench/yardstick, driven with socket.io-client); the scenarios are the same.
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import WebSocket from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = () => performance.timeOrigin + performance.now(); // ms, shared clock on one machine
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function openRtcsite(url, session) {
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

// The next frame of `type` (or of one of several types) that `peer` receives.
function next(peer, type, timeout = 30000) {
  const types = [].concat(type);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${types.join(" or ")}`)), timeout);
    const check = (frame) => {
      if (types.includes(frame.type)) { clearTimeout(timer); resolve(frame); }
      else peer.waiters.push(check);
    };
    peer.waiters.push(check);
  });
}

// The yardstick: `session` is its token; events become frames of rtcsite's shape ({type, ...}).
function openYardstick(url, token) {
  return new Promise((resolve, reject) => {
    const socket = io(`${url}/signal`, {
      auth: { token: token ?? "bench" },
      transports: ["websocket"],
      forceNew: true, // one connection per peer, as rtcsite's generator opens one WebSocket each
      reconnection: false,
      timeout: config.connectTimeout ?? 30000,
    });
    const peer = { socket, id: null, waiters: [], onFrame: null };
    const deliver = (type) => (data) => {
      const frame = { type, ...data };
      if (peer.onFrame) peer.onFrame(frame);
      for (const w of peer.waiters.splice(0)) w(frame);
    };
    for (const type of ["offer", "answer", "candidate", "peer-joined"]) socket.on(type, deliver(type));
    socket.once("connect", () => { peer.id = socket.id; resolve(peer); });
    socket.once("connect_error", (e) => reject(e));
    socket.once("disconnect", (reason) => reject(new Error(`disconnected ${reason}`)));
  });
}

// What differs between the systems; everything else in a scenario is shared.
const drivers = {
  rtcsite: {
    open: openRtcsite,
    async join(peer, room) {
      peer.ws.send(JSON.stringify({ type: "join", room }));
      return next(peer, ["joined", "error"]);
    },
    send(peer, type, frame) { peer.ws.send(JSON.stringify({ type, ...frame })); },
    // A clean close (1000), as socket.io-client's disconnect() is: the server removes the
    // peer at once instead of holding it for the resume window and reaping it later.
    close(peer) {
      if (peer.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => { peer.ws.terminate(); resolve(); }, 10000);
        peer.ws.once("close", () => { clearTimeout(timer); resolve(); });
        peer.ws.close(1000);
      });
    },
  },
  yardstick: {
    open: openYardstick,
    async join(peer, room) {
      const reply = await peer.socket.timeout(30000).emitWithAck("join", { room });
      return reply.error ? { type: "error", code: reply.error } : { type: "joined", ...reply };
    },
    send(peer, type, frame) { peer.socket.emit(type, frame); },
    close(peer) { peer.socket.disconnect(); return Promise.resolve(); },
  },
};
const driver = drivers[config.system ?? "rtcsite"];
const open = driver.open;

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function joined(peer, room) {
  const reply = await driver.join(peer, room);
  if (reply.type !== "joined") throw new Error(`join refused: ${reply.code}`);
}

async function pairs() {
  const list = [];
  for (let i = 0; i < config.pairs; i++) {
    const a = await open(config.servers[0], config.sessions[2 * i]);
    const b = await open(config.servers[1 % config.servers.length], config.sessions[2 * i + 1]);
    const room = config.rooms[i];
    await joined(a, room);
    const seen = next(a, "peer-joined");
    await joined(b, room);
    await seen;
    list.push({ a, b, room });
  }
  return list;
}

async function relay() {
  const list = await pairs();
  // "room": a frame without `to`, broadcast to the rest of the (two-peer) room.
  const direct = (config.pattern ?? "to") === "to";
  if (config.announce) out({ step: "ready" }); // bench/run.py reads the servers' CPU time here
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
        const payload = { type: "offer", sdp };
        driver.send(a, "offer", direct ? { room, to: b.id, payload } : { room, payload });
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
      step: "relay", pattern: direct ? "to" : "room", offered_rate: rate, sent, received, delivered: sent ? received / sent : 0,
      achieved_rate: sent / config.duration,
      p50_ms: percentile(latencies, 50), p90_ms: percentile(latencies, 90),
      p99_ms: percentile(latencies, 99), max_ms: latencies.at(-1) ?? null, elapsed_s: elapsed,
    });
  }
  await Promise.all(list.flatMap(({ a, b }) => [driver.close(a), driver.close(b)]));
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
  await Promise.all(peers.map((p) => driver.close(p)));
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
        const reply = await driver.join(peer, config.rooms[i % config.rooms.length]);
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
  await Promise.all(peers.filter(Boolean).map((p) => driver.close(p)));
}

const modes = { relay, idle, joins };
modes[config.mode]().then(() => process.exit(0), (error) => { out({ error: String(error) }); process.exit(1); });
