// The in-call chat panel: messages from everyone in the room, as text only (links excepted).
//
// The panel builds its own contents inside the given root (an empty <aside>). Message text is set
// with textContent; only http(s) URLs become links, built with createElement. Nothing from a
// frame ever reaches innerHTML.
import { el, pathIcon } from "./ui.js";
import { gettext, interpolate } from "./i18n.js";

export const MAX_LENGTH = 2000; // characters per message, as the server allows
const WARN_AT = MAX_LENGTH - 200; // the counter appears near the limit
const GROUP_MS = 2 * 60 * 1000; // consecutive messages of one sender within this share a header
const AT_BOTTOM_PX = 24; // "at the bottom" tolerance for auto-scroll
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?'")\]}>]/; // punctuation that ends a sentence rather than a URL

const ERRORS = {
  rate_limited: gettext("You're sending messages too quickly. Wait a moment, then send again."),
  bad_frame: gettext("This message can't be sent. Messages must have text and at most 2000 characters."),
  not_joined: gettext("You're not in the call, so the message wasn't sent."),
  closed: gettext("You're offline. The message will be kept here until you send it again."),
};

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

let panels = 0; // unique ids for labels when a page has more than one panel

/** A frame's sender as people know them. */
function senderName(frame) {
  const user = frame.user || {};
  return user.display_name || user.username || gettext("Someone");
}

/** Text with http(s) URLs turned into links, as DOM nodes (never HTML). */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = match[0];
    // Sentence punctuation after a URL is not part of it; a ")" is when the URL opened one.
    while (TRAILING.test(raw.at(-1))) {
      if (raw.at(-1) === ")" && (raw.match(/\(/g) || []).length >= (raw.match(/\)/g) || []).length) break;
      raw = raw.slice(0, -1);
    }
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement("a");
    link.href = url.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = raw;
    nodes.push(link);
    last = match.index + raw.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

const ICON_CLOSE = "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z";
const ICON_SEND = "M3.4 20.4 20.9 12.9a1 1 0 0 0 0-1.8L3.4 3.6a1 1 0 0 0-1.4 1.1L3.7 11 13 12l-9.3 1-1.7 6.3a1 1 0 0 0 1.4 1.1z";

export class ChatPanel extends EventTarget {
  #root;
  #send;
  #me; // my user id, for "You" in history
  #open = false;
  #unread = 0;
  #seen = new Set(); // msg ids on show
  #last = null; // { user, ts } of the newest message, for grouping
  #loaded = false;
  #returnFocus = null;
  #sending = false;

  constructor(root, { send, userId = null } = {}) {
    super();
    this.#root = root;
    this.#send = send;
    const who = document.getElementById("who");
    this.#me = userId ?? (who?.dataset.userId ? Number(who.dataset.userId) : null);
    this.#build();
    root.hidden = true;
  }

  #build() {
    const n = ++panels;
    const root = this.#root;
    root.classList.add("side-panel", "chat-panel");
    root.setAttribute("aria-labelledby", `chat-title-${n}`);
    this.closeButton = el("button", { type: "button", class: "panel-close", "aria-label": gettext("Close chat") }, pathIcon(ICON_CLOSE));
    const head = el("header", { class: "panel-head" },
      el("h2", { class: "panel-title", id: `chat-title-${n}` }, gettext("In-call messages")), this.closeButton);
    this.empty = el("p", { class: "chat-empty" },
      gettext("Messages can be seen by people in the call and are deleted when the call ends."));
    this.history = el("ol", { class: "chat-list chat-history", "aria-label": gettext("Earlier messages") });
    this.live = el("ol", { class: "chat-list chat-live", role: "log", "aria-live": "polite", "aria-label": gettext("New messages") });
    this.scroller = el("div", { class: "chat-scroll", tabindex: "0", role: "region", "aria-label": gettext("Chat messages") },
      this.empty, this.history, this.live);
    this.jump = el("button", { type: "button", class: "chat-jump", hidden: true }, gettext("New messages ↓"));
    this.input = el("textarea", {
      class: "chat-input", id: `chat-input-${n}`, rows: 1, maxLength: MAX_LENGTH,
      placeholder: gettext("Send a message"), "aria-label": gettext("Message to everyone in the call"),
      "aria-describedby": `chat-count-${n} chat-error-${n}`, enterKeyHint: "send",
    });
    this.sendButton = el("button", { type: "submit", class: "chat-send", "aria-label": gettext("Send message"), disabled: true },
      pathIcon(ICON_SEND));
    this.count = el("p", { class: "chat-count", id: `chat-count-${n}`, hidden: true });
    this.error = el("p", { class: "chat-error", id: `chat-error-${n}`, role: "alert", hidden: true });
    this.form = el("form", { class: "chat-form" },
      el("div", { class: "chat-compose" }, this.input, this.sendButton), this.count, this.error);
    root.replaceChildren(head, el("div", { class: "chat-body" }, this.scroller, this.jump), this.form);

    this.closeButton.addEventListener("click", () => this.setOpen(false));
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        this.setOpen(false);
      }
    });
    this.jump.addEventListener("click", () => this.#scrollToBottom());
    this.scroller.addEventListener("scroll", () => {
      if (this.#atBottom()) this.jump.hidden = true;
    });
    this.input.addEventListener("input", () => {
      this.#showError("");
      this.#update();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      this.form.requestSubmit();
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  get open() {
    return this.#open;
  }

  get unread() {
    return this.#unread;
  }

  #setUnread(count) {
    if (count === this.#unread) return;
    this.#unread = count;
    this.dispatchEvent(new CustomEvent("unread", { detail: count }));
  }

  setOpen(open) {
    open = Boolean(open);
    if (open === this.#open) {
      if (open) this.input.focus();
      return;
    }
    this.#open = open;
    this.#root.hidden = !open;
    if (open) {
      const active = document.activeElement;
      this.#returnFocus = active && active !== document.body && !this.#root.contains(active) ? active : null;
      this.#setUnread(0);
      this.#scrollToBottom();
      this.input.focus({ preventScroll: true });
    } else if (this.#root.contains(document.activeElement) || document.activeElement === document.body) {
      this.#returnFocus?.focus?.();
    }
    this.dispatchEvent(new CustomEvent("toggle", { detail: { open } }));
  }

  /** Replace the messages with the room's history (joined.chat), oldest first. */
  load(frames) {
    const fresh = (frames || []).filter((f) => f && !this.#seen.has(f.msg) && !this.#isMine(f)).length;
    const first = !this.#loaded;
    this.#loaded = true;
    this.#seen.clear();
    this.#last = null;
    this.history.replaceChildren();
    this.live.replaceChildren();
    for (const frame of frames || []) {
      if (!frame || this.#seen.has(frame.msg)) continue;
      this.#seen.add(frame.msg);
      this.history.append(this.#render(frame, this.#isMine(frame)));
    }
    this.empty.hidden = this.#seen.size > 0;
    // Messages missed while reconnecting are new; the first history is what came before you.
    if (!first && !this.#open && fresh) this.#setUnread(this.#unread + fresh);
    this.#scrollToBottom();
  }

  /** One live chat frame; mine: it is my own message (my copy, or another tab of mine). */
  receive(frame, mine = false) {
    if (!frame || (frame.msg && this.#seen.has(frame.msg))) return;
    if (frame.msg) this.#seen.add(frame.msg);
    mine = Boolean(mine) || this.#isMine(frame);
    const stick = mine || this.#atBottom();
    this.live.append(this.#render(frame, mine));
    this.empty.hidden = true;
    if (stick) this.#scrollToBottom();
    else this.jump.hidden = false;
    if (!this.#open && !mine) this.#setUnread(this.#unread + 1);
  }

  #isMine(frame) {
    return this.#me !== null && frame.user?.id === this.#me;
  }

  #render(frame, mine) {
    const ts = Number(frame.ts) || Date.now();
    const when = new Date(ts);
    const userKey = frame.user?.id ?? frame.from;
    const grouped = this.#last && this.#last.user === userKey && ts - this.#last.ts < GROUP_MS && ts >= this.#last.ts;
    this.#last = { user: userKey, ts };
    const name = el("span", { class: "chat-name" }, mine ? gettext("You") : senderName(frame));
    const time = el("time", { class: "chat-time", dateTime: when.toISOString(), title: fullFormat.format(when) },
      timeFormat.format(when));
    const text = el("div", { class: "chat-text" }, ...linkify(String(frame.text ?? "")));
    const item = el("li", { class: "chat-message", dataset: { msg: frame.msg ?? "" } },
      el("div", { class: "chat-meta" }, name, time), text);
    if (mine) item.classList.add("mine");
    if (grouped) item.classList.add("continued");
    return item;
  }

  #atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= AT_BOTTOM_PX;
  }

  #scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jump.hidden = true;
  }

  #update() {
    const length = this.input.value.length;
    this.sendButton.disabled = this.#sending || !this.input.value.trim();
    this.count.hidden = length < WARN_AT;
    this.count.textContent = `${length} / ${MAX_LENGTH}`;
    this.count.classList.toggle("full", length >= MAX_LENGTH);
    if (!CSS.supports?.("field-sizing", "content")) {
      this.input.rows = Math.min(6, Math.max(1, this.input.value.split("\n").length));
    }
  }

  #showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
    this.input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  async #submit() {
    const text = this.input.value.trim();
    if (!text || this.#sending) return;
    this.#sending = true;
    this.sendButton.disabled = true;
    this.#showError("");
    try {
      await this.#send(text);
      if (this.input.value.trim() === text) this.input.value = "";
    } catch (error) {
      if (!this.input.value.trim()) this.input.value = text; // keep what failed, to send again
      this.#showError(ERRORS[error?.code] || (error?.message ? interpolate(gettext("Message not sent: %(why)s"), { why: error.message }) : gettext("Message not sent.")));
    } finally {
      this.#sending = false;
      this.#update();
      if (this.#open) this.input.focus({ preventScroll: true });
    }
  }
}
