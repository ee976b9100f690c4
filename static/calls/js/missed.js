// The count of missed calls the user has not seen: the nav badge, the home page's note and the
// tab title. The server renders it; a call missed while the page is open adds one here, the
// call list (which marks them seen) clears it on every tab of this browser, and a tab coming
// back into view reads the server's count (another device may have seen them).
import { ngettext, interpolate } from "./i18n.js";
import { setTitleCount } from "./title.js";

const badge = document.getElementById("missed-badge");
const counted = new Set();
const channel = "BroadcastChannel" in window ? new BroadcastChannel("rtc-missed-calls") : null;
let count = Number(badge?.dataset.count || 0);
const listeners = new Set();

export function missedCount() {
  return count;
}

/** Call `listener(count)` after every change. */
export function onMissedChange(listener) {
  listeners.add(listener);
}

function render() {
  if (badge) {
    badge.dataset.count = String(count);
    badge.querySelector(".badge-count").textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
  }
  const note = document.getElementById("home-missed");
  if (note) {
    note.querySelector(".missed-text").textContent = interpolate(
      ngettext("You missed %(count)s call.", "You missed %(count)s calls.", count),
      { count },
    );
    note.hidden = count === 0;
  }
  setTitleCount(count);
  for (const listener of listeners) listener(count);
}

function setCount(n) {
  count = Math.max(0, n);
  render();
}

/** A call the user missed, announced while the page is open (counted once, however often it is told). */
export function addMissed(callId) {
  if (counted.has(callId)) return;
  counted.add(callId);
  setCount(count + 1);
}

async function refresh() {
  try {
    const response = await fetch("/api/me/", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.ok) setCount((await response.json()).missed_calls);
  } catch {
    // offline for a moment: the count stays as it was
  }
}

if (channel) channel.onmessage = ({ data }) => data && data.seen && setCount(0);
if (document.querySelector("[data-marks-calls-seen]")) channel?.postMessage({ seen: true });
document.addEventListener("visibilitychange", () => {
  if (badge && document.visibilityState === "visible") refresh();
});
render();
