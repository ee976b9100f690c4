// The call page: the pre-join screen, then the mesh of peer connections (mesh.js), the stage,
// the panels, media state, hands, owner controls and recovery. Signaling connects at once (so a
// newer server or a ringing call is noticed on the pre-join screen); the room is joined on "Join now".
import { ChatPanel } from "./chat.js";
import { wireControls } from "./controls.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { LocalMedia } from "./local.js";
import { JOIN_TO_WATCH } from "./media.js";
import { Mesh, nameOf } from "./mesh.js";
import { ParticipantsPanel } from "./participants.js";
import { Prejoin } from "./prejoin.js";
import { CLOSE_MESSAGES, ERROR_MESSAGES } from "./protocol.js";
import { attachCalls, calls } from "./ring.js";
import { SettingsDialog } from "./settings.js";
import { Signaling } from "./signaling.js";
import { Stage, wirePip } from "./speaker.js";
import { chime, toast } from "./toast.js";
import { el, notice, setButton, setCount, showMedia } from "./ui.js";

const config = JSON.parse(document.getElementById("call-config").textContent);
const $ = (id) => document.getElementById(id);
const localTile = document.querySelector(".tile.local");

const state = {
  iceServers: config.iceServers,
  iceTransportPolicy: config.iceTransportPolicy,
  local: null, // LocalMedia, once past the pre-join screen
  removed: [], // owner only: users removed from the room
  self: null, // our peer id in the room
  joined: false,
  entered: false, // past the pre-join screen
  ended: false,
};
const signaling = new Signaling(config.wsPath);
const chat = new ChatPanel($("chat-panel"), { send: sendChat, userId: config.user.id });
const people = new ParticipantsPanel($("people-panel"), { ownerControls: $("people-panel").dataset.owner === "true" });
const links = new Map();
const stage = new Stage($("stage"), { links, isMuted: (peer) => mesh.media.get(peer)?.audio === false });
const mesh = new Mesh({
  signaling,
  room: config.room,
  people,
  stage,
  links,
  localTile,
  getTracks: () => state.local.tracks,
  getIce: () => ({ iceServers: state.iceServers, iceTransportPolicy: state.iceTransportPolicy }),
});
state.links = links;
window.rtc = { state, signaling, calls, links, mesh, stage, chat, people, stats: () => mesh.stats() }; // for tests and debugging

// ---- the room ------------------------------------------------------------------------
async function join() {
  try {
    const joined = await signaling.request({ type: "join", room: config.room, media: state.local.state });
    state.joined = true;
    if (state.self && state.self !== signaling.peer) people.remove(state.self);
    state.self = signaling.peer;
    mesh.clearNotice();
    mesh.owner = joined.owner ?? mesh.owner;
    state.removed = joined.removed || [];
    people.upsert(state.self, { name: `${nameOf(config.user)} (you)`, self: true, owner: config.user.id === mesh.owner, media: state.local.state });
    people.setRemoved(state.removed);
    chat.load(joined.chat || []);
    for (const { peer, user, media } of joined.peers) mesh.add(peer, user, true, media);
    mesh.setHands(joined.hands);
  } catch (error) {
    if (error.code) {
      notice(ERROR_MESSAGES[error.code] || error.message, "error");
      if (["room_full", "room_not_found", "forbidden"].includes(error.code)) signaling.close();
    }
  }
}

async function sendChat(text) {
  if (!state.joined) throw Object.assign(new Error("not in the call"), { code: signaling.open ? "not_joined" : "closed" });
  try {
    await signaling.request({ type: "chat", room: config.room, text });
  } catch (error) {
    throw error.code ? error : Object.assign(error, { code: "closed" });
  }
}

// What a refusal means, for people: the server's own words where no message of ours fits better.
const why = (error) => (error.code !== "bad_frame" && ERROR_MESSAGES[error.code]) || error.message;

// A request whose refusal is shown as a toast; resolves with the reply, or null when refused.
function request(frame, failure) {
  return signaling.request({ room: config.room, ...frame }).catch((error) => {
    toast(interpolate(gettext("%(failure)s: %(why)s"), { failure, why: why(error) }), "error");
    return null;
  });
}

// Room frames count from the moment we ask to join, not from the reply: across two processes
// another joiner's offer can arrive before our `joined` reply, and dropping it would leave that
// link unnegotiated (each side waiting for the other).
const here = (frame) => frame.room === config.room && state.entered && !state.ended;

signaling.addEventListener("hello", ({ detail }) => {
  $("reconnecting").hidden = true;
  if (!state.entered || state.ended) return; // still on the pre-join screen
  if (detail.resumed) {
    // Same peer id and rooms: the others never saw us leave. Repair what the gap broke.
    mesh.clearNotice();
    for (const { link } of links.values()) {
      if (link.state !== "connected") link.restartIce();
    }
    return;
  }
  state.joined = false;
  mesh.dropAll(); // a new peer id: the others know us under it only after we join again
  join();
});
signaling.addEventListener("peer-joined", ({ detail }) => {
  if (!here(detail)) return;
  mesh.add(detail.peer, detail.user, false, detail.media);
  toast(interpolate(gettext("%(name)s joined"), { name: nameOf(detail.user) }));
  chime("up");
});
signaling.addEventListener("peer-left", ({ detail }) => {
  if (detail.room !== config.room) return;
  const entry = mesh.drop(detail.peer);
  if (!entry) return;
  toast(interpolate(detail.reason === "removed" ? gettext("%(name)s was removed from the call") : gettext("%(name)s left"), { name: entry.name }));
  chime("down");
});
signaling.addEventListener("chat", ({ detail }) => {
  if (here(detail)) chat.receive(detail, detail.from === state.self);
});
signaling.addEventListener("media", ({ detail }) => {
  if (here(detail)) mesh.setMedia(detail.from, { audio: detail.audio, video: detail.video, screen: detail.screen });
});
signaling.addEventListener("hand", ({ detail }) => {
  if (!here(detail)) return;
  const before = mesh.hands;
  mesh.setHands(detail.hands);
  const name = links.get(detail.peer)?.name;
  if (detail.raised && name && !before.includes(detail.peer)) toast(interpolate(gettext("%(name)s raised a hand"), { name }));
  if (!detail.raised && detail.peer === state.self && detail.by !== state.self) toast(gettext("The owner lowered your hand"));
});
signaling.addEventListener("removed", ({ detail }) => {
  if (detail.room !== config.room) return;
  if (detail.peer === state.self || (detail.user?.id === config.user.id && detail.ref === undefined)) {
    endCall(interpolate(gettext("%(name)s, the room's owner, removed you from this call."), { name: nameOf(detail.by) }), "error");
    return;
  }
  state.removed = [...state.removed.filter((u) => u.id !== detail.user.id), detail.user];
  people.setRemoved(state.removed);
  mesh.drop(detail.peer);
  toast(interpolate(gettext("%(name)s was removed and cannot come back until you let them in"), { name: nameOf(detail.user) }));
});
for (const kind of ["offer", "answer"]) {
  signaling.addEventListener(kind, ({ detail }) => {
    if (!here(detail)) return;
    const { link } = mesh.add(detail.from, detail.user, false);
    // PeerLink reports its own failures (an "error" event); this only guards against a bug.
    link.handleDescription(detail.payload).catch((error) => console.error("offer/answer handling", error));
  });
}
signaling.addEventListener("candidate", ({ detail }) => {
  if (!here(detail)) return;
  const { link } = mesh.add(detail.from, detail.user, false);
  link.handleCandidate(detail.payload).catch((error) => console.error("candidate handling", error));
});
signaling.addEventListener("reconnecting", () => {
  if (!state.ended) $("reconnecting").hidden = false;
});
signaling.addEventListener("final", ({ detail }) => {
  $("reconnecting").hidden = true;
  notice(CLOSE_MESSAGES[detail.code] || gettext("Disconnected."), "error");
});
signaling.addEventListener("error", ({ detail }) => {
  if (detail.code === "unavailable") notice(ERROR_MESSAGES.unavailable, "warning");
});

// Owner controls from the participant list (the server checks that we are the owner).
people.addEventListener("remove", ({ detail }) =>
  signaling.request({ type: "remove", room: config.room, peer: detail.peer })
    .catch((error) => people.removeFailed(detail.peer, interpolate(gettext("Could not remove: %(why)s"), { why: why(error) }))));
people.addEventListener("lower-hand", ({ detail }) =>
  request({ type: "hand", raised: false, peer: detail.peer }, gettext("Could not lower the hand")));
people.addEventListener("let-in", ({ detail }) => {
  const id = typeof detail.user === "object" ? detail.user.id : detail.user;
  request({ type: "let-in", user: id }, gettext("Could not let them in")).then((reply) => {
    if (!reply) return;
    state.removed = state.removed.filter((u) => u.id !== id);
    people.setRemoved(state.removed);
    toast(interpolate(gettext("%(name)s can join again"), { name: detail.name || nameOf(reply.user) }));
  });
});

// ---- local media ---------------------------------------------------------------------
function showLocal() {
  const local = state.local;
  const video = $("local-video");
  if ((video.srcObject?.getVideoTracks()[0] || null) !== local.camera) {
    video.srcObject = local.camera ? new MediaStream([local.camera]) : null;
  }
  showMedia(localTile, local.state);
  setButton($("mute"), { label: local.muted ? gettext("Unmute") : gettext("Mute"), pressed: local.muted, iconName: local.muted ? "mic-off" : "mic" });
  setButton($("camera"), { label: local.cameraOff ? gettext("Camera on") : gettext("Camera off"), pressed: local.cameraOff, iconName: local.cameraOff ? "cam-off" : "cam" });
  setButton($("screen"), { label: local.screen ? gettext("Stop sharing") : gettext("Share screen"), pressed: Boolean(local.screen) });
  $("mute").disabled = !local.mic;
  $("camera").disabled = !local.hasCamera;
  $("screen").disabled = !navigator.mediaDevices?.getDisplayMedia;
  showLocalScreen();
  if (state.self) people.upsert(state.self, { media: local.state });
}

// While we share, a tile shows what the others see.
function showLocalScreen() {
  let tile = document.querySelector(".tile.screen.local-screen");
  if (!state.local.screen) {
    tile?.remove();
    stage.arrange();
    return;
  }
  if (!tile) {
    tile = el("figure", { class: "tile screen local-screen", dataset: { peer: "self" } },
      el("video", { autoplay: true, playsInline: true, muted: true }),
      el("figcaption", {}, el("span", { class: "name" }, gettext("You are presenting"))));
    $("remotes").prepend(tile);
  }
  const video = tile.querySelector("video");
  if (video.srcObject?.getVideoTracks()[0] !== state.local.screen) video.srcObject = new MediaStream([state.local.screen]);
  stage.arrange();
}

async function toggleScreen() {
  const local = state.local;
  if (local.screen) return local.stopScreen();
  try {
    await local.startScreen();
  } catch (error) {
    toast(error.name === "NotAllowedError" ? gettext("Screen sharing was not allowed.") : gettext("Screen sharing failed."), "warning");
  }
}

// What to keep saying once in the call, when the pre-join screen found a device problem.
function mediaNotice({ mic, camera, problem }) {
  if (!problem) return "";
  const what = problem.split(" — ")[0].replace(JOIN_TO_WATCH, "").trim();
  if (!mic && !camera) return interpolate(gettext("%(problem)s You joined to listen and watch."), { problem: what });
  return problem;
}

// ---- leaving -------------------------------------------------------------------------
function endCall(message, kind = "info") {
  if (state.ended) return;
  state.ended = true;
  if (state.joined) signaling.send({ type: "leave", room: config.room });
  state.joined = false;
  mesh.dropAll();
  state.local?.stopAll();
  stage.close();
  signaling.close();
  $("reconnecting").hidden = true;
  document.body.classList.add("call-ended");
  notice(message || gettext("You left the call."), kind);
}

function leave() {
  if (config.call) signaling.send({ type: "hangup", call: config.call });
  endCall(gettext("You left the call."));
  setTimeout(() => location.assign("/"), 1500);
}

// ---- TURN refresh --------------------------------------------------------------------
async function refreshTurn() {
  try {
    const response = await fetch(config.turnRefreshUrl, { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.status);
    const body = await response.json();
    state.iceServers = body.iceServers;
    for (const { link } of links.values()) link.setIceServers(state.iceServers, state.iceTransportPolicy);
    window.rtc.turnRefreshedAt = Date.now();
    scheduleTurnRefresh(body.ttl);
  } catch {
    setTimeout(refreshTurn, 30000); // try again soon; current credentials are still valid
  }
}

function scheduleTurnRefresh(ttl) {
  if (ttl) setTimeout(refreshTurn, (ttl * 1000) / 2 - 5000);
}

// ---- panels and controls -------------------------------------------------------------
function syncToggle(panel, button) {
  const update = () => button.setAttribute("aria-pressed", String(!panel.hidden));
  new MutationObserver(update).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
  update();
}
syncToggle($("chat-panel"), $("chat-toggle"));
syncToggle($("people-panel"), $("people-toggle"));
chat.addEventListener("unread", ({ detail }) => {
  const unread = interpolate(ngettext("%(n)s unread message", "%(n)s unread messages", detail), { n: detail });
  setCount("chat-unread", detail, detail ? unread : "");
  $("chat-unread").hidden = !detail;
});
stage.addEventListener("layout", ({ detail }) =>
  setButton($("layout"), { label: detail === "grid" ? gettext("Speaker view") : gettext("Grid view"), pressed: detail === "speaker" }));
stage.addEventListener("speaker", ({ detail }) => {
  for (const peer of links.keys()) people.upsert(peer, { speaking: peer === detail });
});
wirePip($("pip"), stage);
const settings = new SettingsDialog($("settings-dialog"), {
  getLocal: () => state.local,
  getSpeaker: () => mesh.speakerId,
  setSpeaker: (id) => mesh.setSpeakerOutput(id),
});
wireControls({
  mute: () => state.local.toggleMute(),
  camera: () => state.local.toggleCamera().catch((error) => toast(error.message, "warning")),
  screen: toggleScreen,
  hand: () => request({ type: "hand", raised: !mesh.hands.includes(state.self) }, gettext("Could not raise your hand")),
  chat: () => chat.setOpen(!chat.open),
  people: () => people.setOpen(!people.open),
  layout: () => stage.toggleLayout(),
  settings: () => settings.toggle(),
  leave,
});

// ---- start ---------------------------------------------------------------------------
attachCalls(signaling, {
  me: config.user.id,
  onEnded: (call) => {
    if (call.id !== config.call) return;
    if (state.entered) endCall(gettext("The call ended."));
    else notice(gettext("The call ended."), "info");
  },
});
scheduleTurnRefresh(config.turnTtl);
signaling.connect();
const choice = await new Prejoin({ peersUrl: `/api/rooms/${config.room}/peers/`, me: config.user.id }).run();
state.local = new LocalMedia(choice);
mesh.speakerId = choice.speakerId;
mesh.mediaNotice = mediaNotice(choice);
mesh.clearNotice();
state.local.addEventListener("change", () => {
  mesh.applyTracks();
  showLocal();
  settings.refresh();
  if (state.joined) signaling.send({ type: "media", room: config.room, ...state.local.state });
});
showLocal();
$("in-call").hidden = false;
document.body.classList.add("in-call-page");
stage.setLayout("grid");
state.entered = true;
setInterval(() => mesh.stats().catch(() => {}), 3000);
if (signaling.open) join();
