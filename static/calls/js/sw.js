// rtcsite's service worker (served as /sw.js, scope "/"): the actions of incoming-call notifications.
// It caches nothing and handles no fetch. A click hands the choice to a tab of the site, which
// answers over its own signaling socket exactly as the banner's buttons do:
//   "accept"  -> the tab sends accept and goes to the call (focused)
//   "decline" -> the tab sends decline (stays where it is)
//   a click on the notification itself -> the tab is focused, its banner still rings
// With no tab left open, a click opens the call list.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("notificationclick", (event) => {
  const { notification } = event;
  const data = notification.data || {};
  const action = event.action || "open";
  notification.close();
  event.waitUntil(answer(action, data));
});

async function answer(action, data) {
  // Window clients come most recently focused first.
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const ringing = Boolean(data.call) && (!data.expires || Date.now() < data.expires);
  const tab = windows.find((client) => client.focused) || windows[0];
  if (!tab) {
    if (action !== "decline") await self.clients.openWindow("/calls/");
    return;
  }
  if (ringing && (action === "accept" || action === "decline")) {
    tab.postMessage({ type: "call-notification", action, call: data.call });
  }
  if (action !== "decline") await tab.focus();
}
