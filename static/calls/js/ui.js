// Small DOM helpers for the call page: elements, notices, video tiles and their indicators.
import { gettext, interpolate } from "./i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

// An inline icon drawn from one SVG path (the panels build theirs without the page's sprite).
export function pathIcon(d) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

export function notice(text, kind = "info") {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

// A button's label and pressed state (icon + text buttons of the control bar).
export function setButton(button, { label, pressed, iconName }) {
  if (label !== undefined) button.querySelector(".label").textContent = label;
  if (pressed !== undefined) button.setAttribute("aria-pressed", String(pressed));
  if (iconName) button.querySelector("use")?.setAttribute("href", `#i-${iconName}`);
}

// A control's count badge: drawn as a number (aria-hidden), read as words in the button's name
// from the visually hidden span beside it (id + "-text"): "People (3 in the call)".
export function setCount(id, count, spoken) {
  document.getElementById(id).textContent = String(count);
  document.getElementById(`${id}-text`).textContent = spoken ? `(${spoken})` : "";
}

function indicators() {
  return [
    el("span", { class: "hand-indicator", hidden: true }),
    el("span", { class: "muted-indicator", title: gettext("Microphone off"), hidden: true }, icon("mic-off"), el("span", { class: "sr-only" }, gettext("muted"))),
    el("span", { class: "camera-off-indicator", title: gettext("Camera off"), hidden: true }, icon("cam-off"), el("span", { class: "sr-only" }, gettext("camera off"))),
  ];
}

// A remote person's tile: video, name, link state, quality and the media-state indicators.
// The quality line changes every few seconds: it is plain text, not a live region.
export function remoteTile(peer, name, { screen = false } = {}) {
  const video = el("video", { autoplay: true, playsInline: true, class: "remote-video" });
  const label = el("span", { class: "name" }, screen ? interpolate(gettext("%(name)s is presenting"), { name }) : name);
  const state = el("span", { class: "link-state" }, gettext("connecting…"));
  const quality = el("span", { class: "quality" }, "");
  const avatar = el("span", { class: "avatar", "aria-hidden": "true" }, initials(name));
  const caption = screen ? el("figcaption", {}, label) : el("figcaption", {}, label, ...indicators(), state, quality);
  const tile = el("figure", { class: screen ? "tile screen" : "tile", id: `tile-${peer}${screen ? "-screen" : ""}`, dataset: { peer } },
    video, avatar, caption);
  if (screen) tile.hidden = true;
  document.getElementById("remotes").append(tile);
  return { tile, video, state, quality };
}

export function initials(name) {
  const words = String(name || "?").trim().split(/[\s._-]+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

// Show a peer's media state ({audio, video, screen} or null: unknown, nothing shown) on a tile.
export function showMedia(tile, media) {
  const known = media || { audio: true, video: true };
  tile.querySelector(".muted-indicator").hidden = known.audio !== false;
  tile.querySelector(".camera-off-indicator").hidden = known.video !== false;
  tile.classList.toggle("video-off", known.video === false);
}

// A hand and the person's place in the queue of raised hands (0: not raised).
export function showHand(tile, place) {
  const box = tile.querySelector(".hand-indicator");
  box.hidden = !place;
  box.replaceChildren(...(place ? [icon("hand"), el("span", { class: "sr-only" }, gettext("Hand raised, place ")), String(place)] : []));
  box.title = place ? interpolate(gettext("Hand raised (number %(place)s in line)"), { place }) : "";
  tile.classList.toggle("hand-raised", Boolean(place));
}

// A peer connection's state (RTCPeerConnection.connectionState) in words.
const LINK_STATES = {
  new: gettext("connecting…"),
  connecting: gettext("connecting…"),
  connected: gettext("connected"),
  disconnected: gettext("disconnected"),
  failed: gettext("failed"),
  closed: gettext("closed"),
};

export function linkState(state) {
  return LINK_STATES[state] || state;
}

export function describeQuality(stats) {
  if (!stats || stats.state !== "connected") return "";
  const parts = [];
  if (stats.rtt !== null) parts.push(`${Math.round(stats.rtt)} ms`);
  parts.push(interpolate(gettext("%(loss)s loss"), { loss: `${stats.loss.toFixed(1)}%` }));
  parts.push(`${Math.round(stats.bitrate / 1000)} kbit/s`);
  parts.push(stats.relayed ? gettext("relayed") : gettext("direct"));
  return parts.join(" · ");
}

// A one-word grade of a link for the participant list: good, fair or poor.
export function qualityGrade(stats) {
  if (!stats || stats.state !== "connected") return linkState(stats?.state || "connecting");
  if (stats.loss > 5 || (stats.rtt ?? 0) > 400) return gettext("poor");
  if (stats.loss > 1 || (stats.rtt ?? 0) > 200) return gettext("fair");
  return gettext("good");
}
