// Direct calls in the page: place a call, ring on every tab, accept or decline, and follow
// the server's call-state (ringing, accepted, declined, missed, cancelled, busy, ended).
// An incoming call rings with a tone, a flashing title, a banner (an alertdialog: focus on
// Accept, Escape declines) and, while the tab is hidden, a desktop notification; the tab that
// placed a call plays ringback until the call leaves "ringing". Missed calls add to the count.
import { gettext, interpolate } from "./i18n.js";
import { addMissed, missedCount, onMissedChange } from "./missed.js";
import {
  closeCallNotification,
  dismissOffer,
  notifyCall,
  onNotificationAction,
  shouldOffer,
  turnOn,
} from "./notify.js";
import { ERROR_MESSAGES } from "./protocol.js";
import { onSoundChange, ringback, ringtone, soundState, unlockSound } from "./sounds.js";
import { flashTitle, stopFlashing } from "./title.js";

const banner = () => document.getElementById("call-banner");

// Read by tests and by call.js: the last call seen, the banner's text, whether a call rings here,
// whether this tab plays ringback, the sound (soundState(): "off", "playing", "blocked", ...),
// unseen missed calls, and the id of the call last shown as a desktop notification.
export const calls = {
  last: null,
  shown: "",
  ringing: false,
  ringback: false,
  sound: "off",
  missed: missedCount(),
  notified: null,
};

let incoming = null; // {id, name} of the call ringing here
let outgoing = null; // id of the call this tab placed, while it rings
let returnFocus = null; // where focus was before the incoming-call prompt took it

function escape(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

// Translated text for markup: callers pass the gettext call itself, so the catalogs find each string.
const say = (text, values = {}) => interpolate(escape(text), values);

function show(html, state, { dialog = false } = {}) {
  const box = banner();
  if (!box) return;
  const hadFocus = box.contains(document.activeElement);
  box.innerHTML = html;
  box.dataset.state = state || "";
  box.hidden = !html;
  if (dialog) {
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", gettext("Incoming call"));
    box.setAttribute("aria-describedby", "call-banner-text");
  } else {
    box.setAttribute("role", "status");
    box.removeAttribute("aria-label");
    box.removeAttribute("aria-describedby");
  }
  calls.shown = box.textContent.trim();
  if (!dialog && hadFocus) restoreFocus();
}

function restoreFocus() {
  const target = returnFocus;
  returnFocus = null;
  if (target && target.isConnected && target !== document.body) target.focus();
}

function soundChanged(state = soundState()) {
  calls.sound = state;
  const button = banner()?.querySelector("[data-enable-sound]");
  if (button) button.hidden = !(incoming && state === "blocked");
}
onSoundChange(soundChanged);
onMissedChange((count) => (calls.missed = count));

function showIncoming(call, name) {
  const id = escape(call.id);
  const hidden = soundState() === "blocked" ? "" : " hidden";
  show(
    `<span id="call-banner-text">${say(gettext("%(name)s is calling…"), { name: escape(name) })}</span>
     <button type="button" class="primary" data-call-action="accept" data-call="${id}">${say(gettext("Accept"))}</button>
     <button type="button" data-call-action="decline" data-call="${id}">${say(gettext("Decline"))}</button>
     <button type="button" class="sound-button" data-enable-sound${hidden}>${say(gettext("Click to enable sound"))}</button>`,
    "incoming",
    { dialog: true },
  );
  const active = document.activeElement;
  if (!banner()?.contains(active)) returnFocus = active;
  banner()?.querySelector("[data-call-action=accept]")?.focus();
}

function startRinging(call, name) {
  stopRinging();
  incoming = { id: call.id, name };
  calls.ringing = true;
  flashTitle(interpolate(gettext("📞 %(name)s is calling"), { name }));
  ringtone.start();
  soundChanged();
  notifyHidden(call);
}

function notifyHidden(call) {
  if (!incoming || calls.notified === call.id) return;
  notifyCall(call, incoming.name)
    .then((shown) => {
      if (shown) calls.notified = call.id;
    })
    .catch(() => {}); // a notification that cannot show: the tab still rings
}

function stopRinging() {
  if (!incoming) return;
  closeCallNotification(incoming.id).catch(() => {});
  incoming = null;
  calls.ringing = false;
  stopFlashing();
  ringtone.stop();
  soundChanged();
}

function stopRingback() {
  outgoing = null;
  calls.ringback = false;
  ringback.stop();
}

function other(call, me) {
  const person = call.caller.id === me ? call.callee : call.caller;
  return person.display_name || person.username;
}

function offerNotifications(text) {
  show(
    `<span>${text}</span>
     <span>${say(gettext("Get a notification when someone calls while this tab is in the background?"))}</span>
     <button type="button" class="primary" data-notify-offer="on">${say(gettext("Turn on call notifications"))}</button>
     <button type="button" data-notify-offer="later">${say(gettext("Not now"))}</button>`,
    "ended",
  );
}

async function answerOffer(choice) {
  if (choice !== "on") {
    dismissOffer();
    show("", "");
    return;
  }
  const state = await turnOn();
  const words = {
    on: "Call notifications are on.",
    blocked: "The browser blocked notifications; you can allow them in its site settings.",
  };
  show(words[state] ? `<span>${say(words[state])}</span>` : "", state);
}

export function attachCalls(signaling, { me, onEnded } = {}) {
  const answer = (action, callId) => {
    signaling.send({ type: action, call: callId });
    if (action !== "accept") show("", "");
    stopRinging();
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-call-action]");
    if (button) {
      answer(button.dataset.callAction, button.dataset.call);
      return;
    }
    if (event.target.closest("[data-enable-sound]")) {
      unlockSound();
      return;
    }
    const offer = event.target.closest("[data-notify-offer]");
    if (offer) {
      answerOffer(offer.dataset.notifyOffer);
      return;
    }
    const call = event.target.closest(".call-button");
    if (call) {
      try {
        await signaling.request({ type: "call", user: call.dataset.username });
      } catch (error) {
        show(`<span>${escape(ERROR_MESSAGES[error.code] || error.message)}</span>`, "error");
      }
    }
  });

  banner()?.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && incoming && banner().dataset.state === "incoming") {
      event.preventDefault();
      answer("decline", incoming.id);
    }
  });

  onNotificationAction((action, callId) => {
    if ((action === "accept" || action === "decline") && (!incoming || incoming.id === callId)) answer(action, callId);
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && incoming && calls.last) notifyHidden(calls.last);
  });

  signaling.addEventListener("incoming-call", ({ detail }) => {
    const call = detail.call;
    calls.last = call;
    const name = call.caller.display_name || call.caller.username;
    startRinging(call, name);
    showIncoming(call, name);
  });

  signaling.addEventListener("call-state", ({ detail }) => {
    const call = detail.call;
    calls.last = call;
    const name = escape(other(call, me));
    const mine = call.by_peer === signaling.peer;
    const iAmCaller = call.caller.id === me;
    if (call.state !== "ringing") {
      if (outgoing === call.id) stopRingback();
      if (incoming && incoming.id === call.id) stopRinging();
      if (!iAmCaller) closeCallNotification(call.id).catch(() => {});
    }
    switch (call.state) {
      case "ringing":
        if (iAmCaller) {
          show(
            `<span>${say(gettext("Ringing %(name)s…"), { name })}</span>
             <button type="button" data-call-action="cancel" data-call="${escape(call.id)}">${say(gettext("Cancel"))}</button>`,
            "ringing",
          );
          if (mine && outgoing !== call.id) {
            outgoing = call.id;
            calls.ringback = true;
            ringback.start();
          }
        }
        break;
      case "accepted":
        if (iAmCaller || mine) {
          show(`<span>${say(gettext("Connecting to %(name)s…"), { name })}</span>`, "accepted");
          const target = `/r/${call.room}/?call=${call.id}`;
          if (location.pathname !== `/r/${call.room}/`) location.assign(target);
        } else {
          show(`<span>${say(gettext("Answered elsewhere."))}</span>`, "answered-elsewhere");
        }
        break;
      case "declined":
        show(iAmCaller ? `<span>${say(gettext("%(name)s declined."), { name })}</span>` : "", "declined");
        break;
      case "missed":
        if (!iAmCaller) addMissed(call.id);
        show(
          iAmCaller
            ? `<span>${say(gettext("%(name)s did not answer (missed)."), { name })}</span>`
            : `<span>${say(gettext("Missed call from %(name)s."), { name })}</span>`,
          "missed",
        );
        break;
      case "cancelled":
        if (!iAmCaller) addMissed(call.id);
        show(iAmCaller ? "" : `<span>${say(gettext("%(name)s hung up before you answered (missed)."), { name })}</span>`, "cancelled");
        break;
      case "busy":
        show(`<span>${say(gettext("%(name)s is busy in another call."), { name })}</span>`, "busy");
        break;
      case "ended": {
        const text = say(gettext("Call with %(name)s ended."), { name });
        if (shouldOffer()) offerNotifications(text);
        else show(`<span>${text}</span>`, "ended");
        if (onEnded) onEnded(call);
        break;
      }
    }
  });
}
