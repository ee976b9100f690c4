// Desktop notifications of incoming calls while the tab is in the background, with Accept and
// Decline. Actions need a service worker (/sw.js, scope "/"): it hands a click back to a tab as
// {type: "call-notification", action, call}, and that tab answers over its own signaling socket.
// Without a worker a plain Notification is shown, whose click focuses the tab.
//
// Permission is only ever asked from a click (the profile's button, or the offer after a call
// ends), never when a page loads, and never again once the browser says "denied". Turning them
// off here is this browser's choice (localStorage): the browser's permission stays as it is.
import { gettext, interpolate } from "./i18n.js";

const OFF_KEY = "rtc.notifications.off";
const OFFERED_KEY = "rtc.notifications.offered";
const supported = "Notification" in window;
const workers = "serviceWorker" in navigator && window.isSecureContext;
const plain = new Map(); // call id -> Notification, where there is no worker
let registration = null;

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: nothing remembered
  }
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

/** "on", "off", "blocked" (the browser denied it) or "unsupported". */
export function notificationState() {
  if (!supported) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  return Notification.permission === "granted" && !stored(OFF_KEY) ? "on" : "off";
}

function register() {
  if (!registration && workers) {
    registration = navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then(() => navigator.serviceWorker.ready)
      .catch(() => null); // e.g. a private window that refuses workers: plain notifications
  }
  return registration || Promise.resolve(null);
}

const tagFor = (callId) => `rtc-call-${callId}`;

/** Show the incoming `call` from `name` if notifications are on and the tab is hidden; true if shown. */
export async function notifyCall(call, name) {
  if (notificationState() !== "on" || document.visibilityState !== "hidden") return false;
  const title = interpolate(gettext("%(name)s is calling"), { name });
  const options = {
    body: gettext("Incoming call on rtcsite"),
    tag: tagFor(call.id),
    requireInteraction: true,
    data: { call: call.id, expires: Date.now() + (call.ring_timeout || 60) * 1000 },
  };
  const worker = await register();
  if (worker) {
    const actions = [
      { action: "accept", title: gettext("Accept") },
      { action: "decline", title: gettext("Decline") },
    ];
    await worker.showNotification(title, { ...options, actions });
    return true;
  }
  const notification = new Notification(title, options);
  notification.onclick = () => {
    window.focus();
    notification.close();
  };
  plain.set(call.id, notification);
  return true;
}

/** Close the call's notification, whichever tab showed it (the call was answered, declined or is over). */
export async function closeCallNotification(callId) {
  plain.get(callId)?.close();
  plain.delete(callId);
  if (!workers || !supported || Notification.permission !== "granted") return;
  const worker = await navigator.serviceWorker.getRegistration("/").catch(() => null);
  if (!worker) return;
  for (const notification of await worker.getNotifications({ tag: tagFor(callId) })) notification.close();
}

/** `handler(action, callId)` for "accept" / "decline" / "open" chosen on a notification. */
export function onNotificationAction(handler) {
  if (!workers) return;
  navigator.serviceWorker.addEventListener("message", ({ data }) => {
    if (data && data.type === "call-notification") handler(data.action, String(data.call));
  });
  navigator.serviceWorker.startMessages();
}

/** Ask for permission if need be (from a click) and turn notifications on; returns the new state. */
export async function turnOn() {
  store(OFFERED_KEY, "1");
  if (!supported) return notificationState();
  store(OFF_KEY, null);
  if (Notification.permission === "default") await Notification.requestPermission();
  if (Notification.permission === "granted") await register();
  return notificationState();
}

export function turnOff() {
  store(OFF_KEY, "1");
  return notificationState();
}

/** Whether to offer notifications (once, after a call): never asked, never refused, never turned off. */
export function shouldOffer() {
  return supported && Notification.permission === "default" && !stored(OFFERED_KEY) && !stored(OFF_KEY);
}

export function dismissOffer() {
  store(OFFERED_KEY, "1");
}

const STATE_TEXT = {
  on: () => gettext("On: a call rings here as a notification while this tab is in the background."),
  off: () => gettext("Off in this browser."),
  blocked: () =>
    gettext("Blocked by the browser. Allow notifications for this site in the browser's site settings, then reload."),
  unsupported: () => gettext("This browser cannot show notifications."),
};

/** The profile's setting: a toggle button (aria-pressed) and the current state in words. */
export function wireNotificationSetting(section) {
  const button = section.querySelector("#notify-toggle");
  const status = section.querySelector("#notify-state");
  const render = () => {
    const state = notificationState();
    section.dataset.state = state;
    status.textContent = STATE_TEXT[state]();
    button.hidden = state === "unsupported";
    button.disabled = state === "blocked";
    button.setAttribute("aria-pressed", String(state === "on"));
  };
  button.addEventListener("click", async () => {
    if (notificationState() === "on") turnOff();
    else await turnOn();
    render();
  });
  navigator.permissions
    ?.query({ name: "notifications" })
    .then((status) => status.addEventListener("change", render))
    .catch(() => {});
  render();
}

if (notificationState() === "on") register();
