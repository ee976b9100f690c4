// The control bar, the keyboard shortcuts (listed in the help dialog), and the leave
// confirmation (a <dialog>, not window.confirm, so the page keeps running underneath).

const KEYS = { m: "mute", v: "camera", c: "chat", p: "people", h: "hand", g: "layout", l: "hangup", "?": "help" };
const BUTTONS = { mute: "mute", camera: "camera", screen: "screen", hand: "hand", chat: "chat-toggle",
  people: "people-toggle", layout: "layout", settings: "settings", help: "help", hangup: "hangup" };

function typing(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// actions: {mute, camera, screen, hand, chat, people, layout, settings, leave}; each a function.
export function wireControls(actions) {
  const help = document.getElementById("help-dialog");
  const leave = document.getElementById("leave-dialog");
  const run = {
    ...actions,
    help: () => (help.open ? help.close() : help.showModal()),
    hangup: () => {
      if (!leave.open) leave.showModal();
      document.getElementById("leave-confirm").focus();
    },
  };
  for (const [action, id] of Object.entries(BUTTONS)) {
    document.getElementById(id)?.addEventListener("click", () => run[action]?.());
  }
  leave.addEventListener("close", () => {
    if (leave.returnValue === "leave") actions.leave();
    leave.returnValue = "";
  });
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event.target) || document.getElementById("in-call").hidden) return;
    if (document.querySelector("dialog[open]") && event.key !== "?") return;
    const action = KEYS[event.key.length === 1 ? event.key.toLowerCase() : ""] || KEYS[event.key];
    const button = document.getElementById(BUTTONS[action]);
    if (!action || button?.disabled) return;
    event.preventDefault();
    run[action]();
  });
}
