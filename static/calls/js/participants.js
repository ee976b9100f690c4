// The participants panel: who is in the call, their microphone, camera and hand, and the room
// owner's controls (lower a hand, remove someone, let a removed person back in).
//
// The panel only shows state and asks: it dispatches "remove", "lower-hand" and "let-in" events
// and waits for the page to tell it what the server decided (upsert/remove/setHands/setRemoved).
import { el, pathIcon } from "./ui.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const ICONS = {
  close: "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z",
  mic: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9h-2z",
  micOff: "M19 11h-2a5 5 0 0 1-.6 2.3l1.5 1.5A7 7 0 0 0 19 11zm-4 .2V5a3 3 0 0 0-5.9-.8L15 10v1.2zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.5-1.4l3.2 3.2 1.3-1.3L4.3 3z",
  camera: "M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11l-4 4z",
  cameraOff: "M21 6.5l-4 4V7a1 1 0 0 0-1-1H9.8L21 17.2V6.5zM3.3 2 2 3.3 4.7 6H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12c.2 0 .4-.1.5-.2l3.2 3.2 1.3-1.3L3.3 2z",
  hand: "M23 5.5V20c0 2.2-1.8 4-4 4h-7.3c-1.08 0-2.1-.43-2.85-1.19L1 14.83s1.26-1.23 1.3-1.25c.22-.19.49-.29.79-.29.22 0 .42.06.6.16.04.01 4.31 2.46 4.31 2.46V4c0-.83.67-1.5 1.5-1.5S11 3.17 11 4v7h1V1.5c0-.83.67-1.5 1.5-1.5S15 .67 15 1.5V11h1V2.5c0-.83.67-1.5 1.5-1.5s1.5.67 1.5 1.5V11h1V5.5c0-.83.67-1.5 1.5-1.5s1.5.67 1.5 1.5z",
  screen: "M20 18a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2H0v2h24v-2h-4zM4 6h16v10H4V6z",
};

function icon(name) {
  return pathIcon(ICONS[name]);
}

function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] || "?").slice(0, 1);
  return letters.toUpperCase();
}

/** A stable colour (one of eight CSS classes) for a name's avatar. */
function hue(name) {
  let hash = 2166136261; // FNV-1a
  for (const char of String(name)) hash = Math.imul(hash ^ char.codePointAt(0), 16777619) >>> 0;
  return hash % 8;
}

function userName(user) {
  return user?.display_name || user?.username || interpolate(gettext("User %(id)s"), { id: user?.id ?? "" }).trim();
}

let panels = 0;

export class ParticipantsPanel extends EventTarget {
  #root;
  #owner;
  #open = false;
  #people = new Map(); // peer -> { name, self, owner, media, quality, speaking, row, parts }
  #hands = [];
  #returnFocus = null;

  constructor(root, { ownerControls = false } = {}) {
    super();
    this.#root = root;
    this.#owner = Boolean(ownerControls);
    this.#build();
    root.hidden = true;
  }

  #build() {
    const n = ++panels;
    const root = this.#root;
    root.classList.add("side-panel", "people-panel");
    root.setAttribute("aria-labelledby", `people-title-${n}`);
    this.count = el("span", { class: "panel-count" });
    const close = el("button", { type: "button", class: "panel-close", "aria-label": gettext("Close people") }, icon("close"));
    this.handsSummary = el("p", { class: "hands-summary", role: "status", hidden: true });
    this.list = el("ul", { class: "participant-list", "aria-label": gettext("In the call") });
    this.removedList = el("ul", { class: "removed-list" });
    this.removedSection = el("section", { class: "removed-section", hidden: true, "aria-labelledby": `removed-title-${n}` },
      el("h3", { class: "panel-subtitle", id: `removed-title-${n}` }, gettext("Removed")),
      el("p", { class: "removed-help" }, gettext("They can't rejoin until you let them in.")),
      this.removedList);
    root.replaceChildren(
      el("header", { class: "panel-head" },
        el("h2", { class: "panel-title", id: `people-title-${n}`, tabindex: "-1" }, gettext("People"), " ", this.count), close),
      el("div", { class: "panel-body" }, this.handsSummary,
        el("h3", { class: "panel-subtitle" }, gettext("In the call")), this.list, this.removedSection),
    );
    close.addEventListener("click", () => this.setOpen(false));
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        this.setOpen(false);
      }
    });
    this.#updateCount();
  }

  get open() {
    return this.#open;
  }

  setOpen(open) {
    open = Boolean(open);
    if (open === this.#open) return;
    this.#open = open;
    this.#root.hidden = !open;
    if (open) {
      const active = document.activeElement;
      this.#returnFocus = active && active !== document.body && !this.#root.contains(active) ? active : null;
      this.#root.querySelector(".panel-title").focus({ preventScroll: true });
    } else if (this.#root.contains(document.activeElement) || document.activeElement === document.body) {
      this.#returnFocus?.focus?.();
    }
    this.dispatchEvent(new CustomEvent("toggle", { detail: { open } }));
  }

  /** The owner's controls on or off (e.g. once joined.owner is known). */
  setOwnerControls(on) {
    this.#owner = Boolean(on);
    for (const [peer, person] of this.#people) this.#renderActions(peer, person);
    if (!this.#owner) this.setRemoved([]);
  }

  /** Add a participant (an update with its name) or merge a partial update into one.
   *
   * A partial update for someone not listed is dropped: it comes from a reading that was under
   * way when they left (connection statistics, say), and must not list them again. */
  upsert(peer, update = {}) {
    peer = String(peer);
    let person = this.#people.get(peer);
    if (!person) {
      if (!("name" in update)) return;
      person = { name: "", self: false, owner: false, media: null, quality: "", speaking: false, removing: false };
      person.row = this.#createRow(peer, person);
      this.#people.set(peer, person);
    }
    for (const key of ["name", "self", "owner", "media", "quality", "speaking"]) {
      if (key in update && update[key] !== undefined) person[key] = update[key];
    }
    if (person.self) person.name = String(person.name || "").replace(/\s*\(you\)$/, ""); // the row says it
    this.#renderRow(peer, person);
    this.#place(peer, person);
    this.#updateCount();
    this.#renderHands();
  }

  remove(peer) {
    peer = String(peer);
    const person = this.#people.get(peer);
    if (!person) return;
    const hadFocus = person.row.contains(document.activeElement);
    person.row.remove();
    this.#people.delete(peer);
    this.#updateCount();
    this.#renderHands();
    if (hadFocus) this.#root.querySelector(".panel-close").focus({ preventScroll: true });
  }

  /** Raised hands, in the order they went up. */
  setHands(order) {
    this.#hands = [...(order || [])].map(String);
    for (const [peer, person] of this.#people) this.#renderHand(peer, person);
    this.#renderHands();
  }

  /** The owner's list of removed users, each with a "Let in" button. */
  setRemoved(users) {
    const shown = this.#owner ? users || [] : [];
    this.removedList.replaceChildren(...shown.map((user) => {
      const name = userName(user);
      const button = el("button", { type: "button", class: "let-in", "aria-label": interpolate(gettext("Let %(name)s in"), { name }) }, gettext("Let in"));
      button.addEventListener("click", () => {
        this.dispatchEvent(new CustomEvent("let-in", { detail: { user: user.id, name } }));
      });
      return el("li", { class: "removed-user", dataset: { user: String(user.id) } },
        el("span", { class: `avatar hue-${hue(name)}`, "aria-hidden": "true" }, initials(name)),
        el("span", { class: "removed-name" }, name), button);
    }));
    this.removedSection.hidden = shown.length === 0;
  }

  #createRow(peer, person) {
    const parts = {
      avatar: el("span", { class: "avatar", "aria-hidden": "true" }),
      name: el("span", { class: "participant-name" }),
      tags: el("span", { class: "participant-tags" }),
      quality: el("span", { class: "participant-quality" }),
      hand: el("span", { class: "participant-hand", hidden: true }),
      mic: el("span", { class: "participant-mic", role: "img" }),
      camera: el("span", { class: "participant-camera", role: "img" }),
      actions: el("div", { class: "participant-actions" }),
      confirm: el("div", { class: "participant-confirm", role: "group", hidden: true }),
      error: el("p", { class: "participant-error", role: "alert", hidden: true }),
    };
    person.parts = parts;
    return el("li", { class: "participant", dataset: { peer } },
      el("div", { class: "participant-row" },
        parts.avatar,
        el("div", { class: "participant-main" }, el("div", { class: "participant-line" }, parts.name, parts.tags),
          parts.quality),
        el("div", { class: "participant-status" }, parts.hand, parts.mic, parts.camera)),
      parts.actions, parts.confirm, parts.error);
  }

  #renderRow(peer, person) {
    const { parts, row } = person;
    const name = person.name || gettext("Someone");
    parts.avatar.textContent = initials(name);
    parts.avatar.className = `avatar hue-${hue(name)}`;
    parts.name.textContent = name;
    const tags = [];
    if (person.self) tags.push(el("span", { class: "participant-you" }, gettext("(you)")));
    if (person.owner) tags.push(el("span", { class: "participant-owner" }, gettext("Owner")));
    if (person.media?.screen) tags.push(el("span", { class: "participant-presenting" }, icon("screen"), gettext("Presenting")));
    parts.tags.replaceChildren(...tags);
    parts.quality.textContent = person.quality || "";
    parts.quality.title = person.quality || "";
    parts.quality.hidden = !person.quality;
    row.classList.toggle("self", Boolean(person.self));
    row.classList.toggle("speaking", Boolean(person.speaking));
    this.#renderMedia(parts.mic, person.media?.audio, "mic", "micOff", [gettext("Microphone on"), gettext("Microphone off")]);
    this.#renderMedia(parts.camera, person.media?.video, "camera", "cameraOff", [gettext("Camera on"), gettext("Camera off")]);
    this.#renderHand(peer, person);
    this.#renderActions(peer, person);
  }

  #renderMedia(node, on, onIcon, offIcon, [onText, offText]) {
    const known = typeof on === "boolean";
    node.hidden = !known;
    if (!known) return;
    const text = on ? onText : offText;
    if (node.getAttribute("aria-label") === text) return;
    node.setAttribute("aria-label", text);
    node.title = text;
    node.classList.toggle("off", !on);
    node.replaceChildren(icon(on ? onIcon : offIcon));
  }

  #renderHand(peer, person) {
    const at = this.#hands.indexOf(peer);
    const hand = person.parts.hand;
    hand.hidden = at < 0;
    // The text reads "✋ 1"; the glyph is drawn as an icon so it shows without an emoji font.
    if (at < 0) hand.replaceChildren();
    else hand.replaceChildren(icon("hand"), el("span", { class: "visually-hidden" }, "✋ "), String(at + 1));
    person.row.classList.toggle("hand-raised", at >= 0);
    this.#renderActions(peer, person);
  }

  #renderActions(peer, person) {
    const { actions, confirm } = person.parts;
    const controls = this.#owner && !person.self;
    const raised = this.#hands.includes(peer);
    const want = controls ? `${raised}|${person.name}|${person.removing ? 1 : 0}` : "";
    if (actions.dataset.state === want) return;
    const hadFocus = actions.contains(document.activeElement);
    actions.dataset.state = want;
    actions.replaceChildren();
    actions.hidden = !controls;
    if (!controls) {
      confirm.hidden = true;
      return;
    }
    const name = person.name || gettext("this person");
    if (raised) {
      const lower = el("button", { type: "button", class: "participant-lower-hand", "aria-label": interpolate(gettext("Lower %(name)s's hand"), { name }) },
        gettext("Lower hand"));
      lower.addEventListener("click", () => this.dispatchEvent(new CustomEvent("lower-hand", { detail: { peer } })));
      actions.append(lower);
    }
    const remove = el("button", { type: "button", class: "participant-remove", "aria-label": interpolate(gettext("Remove %(name)s"), { name }),
      "aria-expanded": "false", disabled: Boolean(person.removing) }, person.removing ? gettext("Removing…") : gettext("Remove"));
    remove.addEventListener("click", () => this.#askRemove(peer, person));
    actions.append(remove);
    if (hadFocus) (actions.querySelector(".participant-lower-hand") || remove).focus({ preventScroll: true });
  }

  #askRemove(peer, person) {
    const { confirm, actions, error } = person.parts;
    error.hidden = true; // a new attempt: the last refusal is old news
    const name = person.name || gettext("this person");
    const yes = el("button", { type: "button", class: "participant-remove-confirm" }, gettext("Remove"));
    const no = el("button", { type: "button", class: "participant-remove-cancel" }, gettext("Cancel"));
    confirm.setAttribute("aria-label", interpolate(gettext("Remove %(name)s?"), { name }));
    confirm.replaceChildren(
      el("p", { class: "confirm-text" }, interpolate(gettext("Remove %(name)s from the call? They can't rejoin until you let them in."), { name })),
      el("div", { class: "confirm-buttons" }, no, yes),
    );
    confirm.hidden = false;
    actions.querySelector(".participant-remove")?.setAttribute("aria-expanded", "true");
    const close = (focusRemove) => {
      confirm.hidden = true;
      confirm.replaceChildren();
      const button = actions.querySelector(".participant-remove");
      button?.setAttribute("aria-expanded", "false");
      if (focusRemove) button?.focus({ preventScroll: true });
    };
    no.addEventListener("click", () => close(true));
    confirm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close(true);
      }
    });
    yes.addEventListener("click", () => {
      close(false);
      person.removing = true;
      this.#renderActions(peer, person);
      this.dispatchEvent(new CustomEvent("remove", { detail: { peer } }));
    });
    no.focus({ preventScroll: true });
  }

  /** You first, then everyone else by name. */
  #place(peer, person) {
    const key = (p) => `${p.self ? 0 : 1}${(p.name || "").toLocaleLowerCase()}`;
    const mine = key(person);
    let before = null;
    for (const row of this.list.children) {
      const other = row === person.row ? null : this.#people.get(row.dataset.peer);
      if (other && key(other).localeCompare(mine) > 0) {
        before = row;
        break;
      }
    }
    if (before ? person.row.nextSibling !== before : person.row !== this.list.lastChild) {
      const hadFocus = person.row.contains(document.activeElement) ? document.activeElement : null;
      this.list.insertBefore(person.row, before);
      hadFocus?.focus({ preventScroll: true });
    }
  }

  #updateCount() {
    const count = this.#people.size;
    this.count.textContent = count ? `(${count})` : "";
  }

  #renderHands() {
    const names = this.#hands.filter((peer) => this.#people.has(peer)).map((peer) => {
      const person = this.#people.get(peer);
      return person.self ? gettext("You") : person.name || gettext("Someone");
    });
    this.handsSummary.hidden = names.length === 0;
    this.handsSummary.replaceChildren(
      icon("hand"),
      el("span", {}, interpolate(ngettext("%(count)s hand raised: %(names)s", "%(count)s hands raised: %(names)s", names.length), { count: names.length, names: names.join(", ") })),
    );
  }

  /** A person's remove request was refused (an error frame): offer the button again and say why. */
  removeFailed(peer, message = "") {
    peer = String(peer);
    const person = this.#people.get(peer);
    if (!person) return;
    person.removing = false;
    this.#renderActions(peer, person);
    person.parts.error.textContent = message;
    person.parts.error.hidden = !message;
  }
}
