// Small DOM helpers for the call page: video tiles, status lines, notices.

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

export function notice(text, kind = "info") {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

export function remoteTile(peer, name) {
  const video = el("video", { autoplay: true, playsInline: true, class: "remote-video" });
  const label = el("span", { class: "name" }, name);
  const state = el("span", { class: "link-state" }, "connecting…");
  const quality = el("span", { class: "quality" }, "");
  const tile = el("figure", { class: "tile", id: `tile-${peer}`, dataset: { peer } }, video,
    el("figcaption", {}, label, state, quality));
  document.getElementById("remotes").append(tile);
  return { tile, video, state, quality };
}

export function removeTile(peer) {
  document.getElementById(`tile-${peer}`)?.remove();
}

export function describeQuality(stats) {
  if (!stats || stats.state !== "connected") return "";
  const parts = [];
  if (stats.rtt !== null) parts.push(`${Math.round(stats.rtt)} ms`);
  parts.push(`${stats.loss.toFixed(1)}% loss`);
  parts.push(`${Math.round(stats.bitrate / 1000)} kbit/s`);
  parts.push(stats.relayed ? "relayed" : "direct");
  return parts.join(" · ");
}
