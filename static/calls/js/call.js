// The call page: local media, one PeerLink per remote peer, controls, quality, recovery.
import { CLOSE_MESSAGES, ERROR_MESSAGES } from "./protocol.js";
import { PeerLink } from "./peer.js";
import { attachCalls, calls } from "./ring.js";
import { Signaling } from "./signaling.js";
import { describeQuality, el, notice, remoteTile, removeTile } from "./ui.js";

const config = JSON.parse(document.getElementById("call-config").textContent);
const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15, max: 15 } };

const state = {
  iceServers: config.iceServers,
  iceTransportPolicy: config.iceTransportPolicy,
  local: new MediaStream(),
  camera: null, // the camera track (kept while sharing the screen)
  mic: null,
  screen: null,
  muted: false,
  cameraOff: false,
  links: new Map(), // peer id -> { link, tile }
  ended: false,
  mediaNotice: "",
  linkNotice: null, // { peer, text }: the negotiation failure on show, if any
};
const signaling = new Signaling(config.wsPath);
window.rtc = { state, signaling, calls, links: state.links, stats }; // read-only hook for tests and debugging

// ---- local media ---------------------------------------------------------------------
async function getMedia() {
  const attempts = [
    { audio: true, video: VIDEO },
    { audio: true, video: false },
    { audio: false, video: VIDEO },
  ];
  let lastError = null;
  for (const constraints of attempts) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      lastError = error;
      if (error.name === "NotAllowedError") break;
    }
  }
  const why = {
    NotAllowedError: "Camera and microphone access was denied, so you joined without them (watch only).",
    NotReadableError: "Your camera or microphone is in use by another application; you joined without them.",
    NotFoundError: "No camera or microphone found; you joined watch-only.",
  }[lastError?.name] || "Your camera and microphone could not be started; you joined watch-only.";
  state.mediaNotice = why;
  notice(why, "warning");
  return null;
}

function setLocal(stream) {
  state.mic = stream?.getAudioTracks()[0] || null;
  state.camera = stream?.getVideoTracks()[0] || null;
  state.local = new MediaStream([state.mic, state.camera].filter(Boolean));
  // A media element with an empty stream never finishes loading (and holds the page's load event).
  document.getElementById("local-video").srcObject = state.local.getTracks().length ? state.local : null;
  document.getElementById("mute").disabled = !state.mic;
  document.getElementById("camera").disabled = !state.camera;
}

function outgoing(kind) {
  if (kind === "audio") return state.muted ? null : state.mic;
  if (state.screen) return state.screen;
  return state.cameraOff ? null : state.camera;
}

function applyOutgoing() {
  for (const { link } of state.links.values()) {
    link.replaceTrack("audio", outgoing("audio"));
    link.replaceTrack("video", outgoing("video"));
  }
}

// ---- peers ---------------------------------------------------------------------------
function addPeer(peer, user, initiator) {
  if (state.links.has(peer)) return state.links.get(peer);
  const link = new PeerLink({
    signaling,
    room: config.room,
    remotePeer: peer,
    user,
    config: { iceServers: state.iceServers, iceTransportPolicy: state.iceTransportPolicy },
    localStream: state.local,
    tracks: { audio: outgoing("audio"), video: outgoing("video") },
    initiator,
  });
  const name = user?.display_name || user?.username || "guest";
  const tile = remoteTile(peer, name);
  link.addEventListener("track", () => {
    if (!tile.video.srcObject) tile.video.srcObject = link.remoteStream; // only once there is media
  });
  link.addEventListener("state", ({ detail }) => {
    tile.state.textContent = detail;
    tile.tile.dataset.state = detail;
    if (detail === "connected") clearLinkNotice(peer); // whatever failed, the call works now
  });
  link.addEventListener("error", ({ detail }) => {
    const text = `The connection with ${name} ran into a problem (${detail.step}: ${detail.error?.message || detail.error}).`;
    state.linkNotice = { peer, text };
    notice(text, "error");
  });
  const entry = { link, tile };
  state.links.set(peer, entry);
  return entry;
}

// Connection trouble is over: show only what is still true (e.g. that we joined watch-only).
function clearNotice() {
  notice(state.mediaNotice || "", "warning");
}

// Take a peer's negotiation failure off the page, unless another notice has replaced it.
function clearLinkNotice(peer) {
  if (state.linkNotice?.peer !== peer) return;
  if (document.getElementById("notice").textContent === state.linkNotice.text) clearNotice();
  state.linkNotice = null;
}

function dropPeer(peer) {
  const entry = state.links.get(peer);
  if (!entry) return;
  clearLinkNotice(peer);
  entry.link.close();
  state.links.delete(peer);
  removeTile(peer);
}

function dropAll() {
  for (const peer of [...state.links.keys()]) dropPeer(peer);
}

async function join() {
  try {
    const joined = await signaling.request({ type: "join", room: config.room });
    clearNotice();
    for (const { peer, user } of joined.peers) addPeer(peer, user, true);
  } catch (error) {
    if (error.code) {
      notice(ERROR_MESSAGES[error.code] || error.message, "error");
      if (["room_full", "room_not_found", "forbidden"].includes(error.code)) signaling.close();
    }
  }
}

signaling.addEventListener("hello", ({ detail }) => {
  if (detail.resumed) {
    // Same peer id and rooms: the others never saw us leave. Repair what the gap broke.
    clearNotice();
    for (const { link } of state.links.values()) {
      if (link.state !== "connected") link.restartIce();
    }
    return;
  }
  dropAll(); // a new peer id: the others know us under it only after we join again
  join();
});
signaling.addEventListener("peer-joined", ({ detail }) => {
  if (detail.room === config.room) addPeer(detail.peer, detail.user, false);
});
signaling.addEventListener("peer-left", ({ detail }) => {
  if (detail.room === config.room) dropPeer(detail.peer);
});
for (const kind of ["offer", "answer"]) {
  signaling.addEventListener(kind, ({ detail }) => {
    if (detail.room !== config.room) return;
    const { link } = addPeer(detail.from, detail.user, false);
    // PeerLink reports its own failures (an "error" event); this only guards against a bug.
    link.handleDescription(detail.payload).catch((error) => console.error("offer/answer handling", error));
  });
}
signaling.addEventListener("candidate", ({ detail }) => {
  if (detail.room !== config.room) return;
  const { link } = addPeer(detail.from, detail.user, false);
  link.handleCandidate(detail.payload).catch((error) => console.error("candidate handling", error));
});
signaling.addEventListener("reconnecting", () => {
  if (!state.ended) notice("Connection lost, reconnecting…", "warning");
});
signaling.addEventListener("final", ({ detail }) => {
  notice(CLOSE_MESSAGES[detail.code] || "Disconnected.", "error");
});
signaling.addEventListener("error", ({ detail }) => {
  if (detail.code === "unavailable") notice(ERROR_MESSAGES.unavailable, "warning");
});

// ---- controls ------------------------------------------------------------------------
const buttons = {
  mute: document.getElementById("mute"),
  camera: document.getElementById("camera"),
  screen: document.getElementById("screen"),
  hangup: document.getElementById("hangup"),
  devices: document.getElementById("devices"),
};

// Mute and camera off stop sending (replaceTrack(null)), so the other side sees the track go quiet.
function toggle(button, flag, track, labels) {
  button.addEventListener("click", () => {
    state[flag] = !state[flag];
    if (state[track]) state[track].enabled = !state[flag];
    button.textContent = labels[Number(state[flag])];
    button.setAttribute("aria-pressed", String(state[flag]));
    applyOutgoing();
  });
}
toggle(buttons.mute, "muted", "mic", ["Mute", "Unmute"]);
toggle(buttons.camera, "cameraOff", "camera", ["Camera off", "Camera on"]);

async function stopSharing() {
  if (!state.screen) return;
  state.screen.onended = null;
  state.screen.stop();
  state.screen = null;
  buttons.screen.textContent = "Share screen";
  document.getElementById("local-video").srcObject = state.local.getTracks().length ? state.local : null;
  applyOutgoing();
}

buttons.screen.addEventListener("click", async () => {
  if (state.screen) return stopSharing();
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 } });
    state.screen = display.getVideoTracks()[0];
    state.screen.onended = () => stopSharing(); // the browser's own "Stop sharing" button
    buttons.screen.textContent = "Stop sharing";
    document.getElementById("local-video").srcObject = new MediaStream([state.screen]);
    applyOutgoing();
  } catch (error) {
    notice(error.name === "NotAllowedError" ? "Screen sharing was not allowed." : "Screen sharing failed.", "warning");
  }
});

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const select = buttons.devices;
  select.replaceChildren(el("option", { value: "" }, "Camera / microphone…"));
  for (const device of devices) {
    if (device.kind !== "videoinput" && device.kind !== "audioinput") continue;
    const label = device.label || (device.kind === "videoinput" ? "Camera" : "Microphone");
    select.append(el("option", { value: `${device.kind}:${device.deviceId}` }, label));
  }
}

buttons.devices.addEventListener("change", async () => {
  const [kind, deviceId] = buttons.devices.value.split(/:(.*)/s);
  if (!deviceId) return;
  const constraints = kind === "videoinput"
    ? { video: { ...VIDEO, deviceId: { exact: deviceId } } }
    : { audio: { deviceId: { exact: deviceId } } };
  try {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const track = stream.getTracks()[0];
    if (kind === "videoinput") {
      state.camera?.stop();
      state.camera = track;
    } else {
      state.mic?.stop();
      state.mic = track;
    }
    setLocal(new MediaStream([state.mic, state.camera].filter(Boolean)));
    applyOutgoing();
  } catch (error) {
    notice(error.name === "NotReadableError" ? "That device is in use by another application." : "Could not switch device.", "warning");
  }
});

function endCall(message) {
  if (state.ended) return;
  state.ended = true;
  signaling.send({ type: "leave", room: config.room });
  dropAll();
  for (const track of [state.mic, state.camera, state.screen]) track?.stop();
  signaling.close();
  document.body.classList.add("call-ended");
  notice(message || "You left the call.", "info");
}

buttons.hangup.addEventListener("click", () => {
  if (config.call) signaling.send({ type: "hangup", call: config.call });
  endCall("You hung up.");
  setTimeout(() => location.assign("/"), 1500);
});

// ---- quality and TURN refresh --------------------------------------------------------
async function stats() {
  const out = {};
  for (const [peer, { link, tile }] of state.links) {
    const s = await link.stats();
    tile.quality.textContent = describeQuality(s);
    out[peer] = s;
  }
  return out;
}
setInterval(() => stats().catch(() => {}), 3000);

async function refreshTurn() {
  try {
    const response = await fetch(config.turnRefreshUrl, { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.status);
    const body = await response.json();
    state.iceServers = body.iceServers;
    for (const { link } of state.links.values()) link.setIceServers(state.iceServers, state.iceTransportPolicy);
    window.rtc.turnRefreshedAt = Date.now();
    scheduleTurnRefresh(body.ttl);
  } catch {
    setTimeout(refreshTurn, 30000); // try again soon; current credentials are still valid
  }
}

function scheduleTurnRefresh(ttl) {
  if (ttl) setTimeout(refreshTurn, (ttl * 1000) / 2 - 5000);
}

// ---- start ---------------------------------------------------------------------------
attachCalls(signaling, {
  me: config.user.id,
  onEnded: (call) => {
    if (call.id === config.call) endCall("The call ended.");
  },
});
setLocal(await getMedia());
listDevices().catch(() => {});
scheduleTurnRefresh(config.turnTtl);
signaling.connect();
