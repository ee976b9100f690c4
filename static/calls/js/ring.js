// Direct calls in the page: place a call, ring on every tab, accept or decline, and follow
// the server's call-state (ringing, accepted, declined, missed, cancelled, busy, ended).
import { ERROR_MESSAGES } from "./protocol.js";

const banner = () => document.getElementById("call-banner");
let ringTone = null;
let titleTimer = null;
const originalTitle = document.title;

export const calls = { last: null, shown: "" }; // read by tests and by call.js

function show(html, state) {
  const box = banner();
  if (!box) return;
  box.innerHTML = html;
  box.dataset.state = state || "";
  box.hidden = !html;
  calls.shown = box.textContent.trim();
}

function escape(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

function startRinging(name) {
  stopRinging();
  let on = false;
  titleTimer = setInterval(() => {
    document.title = (on = !on) ? `📞 ${name} is calling` : originalTitle;
  }, 800);
  try {
    const audio = new AudioContext();
    const gain = audio.createGain();
    gain.gain.value = 0.05;
    gain.connect(audio.destination);
    const beep = () => {
      const tone = audio.createOscillator();
      tone.frequency.value = 660;
      tone.connect(gain);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    };
    beep();
    ringTone = { audio, timer: setInterval(beep, 1500) };
  } catch {
    ringTone = null; // no audio output: the banner and title still ring
  }
}

function stopRinging() {
  clearInterval(titleTimer);
  titleTimer = null;
  document.title = originalTitle;
  if (ringTone) {
    clearInterval(ringTone.timer);
    ringTone.audio.close();
    ringTone = null;
  }
}

function other(call, me) {
  const person = call.caller.id === me ? call.callee : call.caller;
  return person.display_name || person.username;
}

export function attachCalls(signaling, { me, onEnded } = {}) {
  const act = (type, callId) => signaling.send({ type, call: callId });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-call-action]");
    if (button) {
      act(button.dataset.callAction, button.dataset.call);
      if (button.dataset.callAction !== "accept") show("", "");
      stopRinging();
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

  signaling.addEventListener("incoming-call", ({ detail }) => {
    const call = detail.call;
    calls.last = call;
    const name = escape(call.caller.display_name || call.caller.username);
    show(
      `<span>${name} is calling…</span>
       <button class="primary" data-call-action="accept" data-call="${call.id}">Accept</button>
       <button data-call-action="decline" data-call="${call.id}">Decline</button>`,
      "incoming",
    );
    startRinging(call.caller.display_name || call.caller.username);
  });

  signaling.addEventListener("call-state", ({ detail }) => {
    const call = detail.call;
    calls.last = call;
    const name = escape(other(call, me));
    const mine = call.by_peer === signaling.peer;
    const iAmCaller = call.caller.id === me;
    switch (call.state) {
      case "ringing":
        if (iAmCaller) {
          show(`<span>Ringing ${name}…</span> <button data-call-action="cancel" data-call="${call.id}">Cancel</button>`, "ringing");
        }
        break;
      case "accepted":
        stopRinging();
        if (iAmCaller || mine) {
          show(`<span>Connecting to ${name}…</span>`, "accepted");
          const target = `/r/${call.room}/?call=${call.id}`;
          if (location.pathname !== `/r/${call.room}/`) location.assign(target);
        } else {
          show(`<span>Answered elsewhere.</span>`, "answered-elsewhere");
        }
        break;
      case "declined":
        stopRinging();
        show(iAmCaller ? `<span>${name} declined.</span>` : "", "declined");
        break;
      case "missed":
        stopRinging();
        show(iAmCaller ? `<span>${name} did not answer (missed).</span>` : `<span>Missed call from ${name}.</span>`, "missed");
        break;
      case "cancelled":
        stopRinging();
        show(iAmCaller ? "" : `<span>${name} hung up before you answered (missed).</span>`, "cancelled");
        break;
      case "busy":
        show(`<span>${name} is busy in another call.</span>`, "busy");
        break;
      case "ended":
        stopRinging();
        show(`<span>Call with ${name} ended.</span>`, "ended");
        if (onEnded) onEnded(call);
        break;
    }
  });
}
