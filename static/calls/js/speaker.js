// Who is speaking, from the receivers' audio levels (getStats audioLevel, the level WebRTC
// itself measures: works in Chromium and Firefox without routing remote audio through WebAudio),
// and the stage layouts: a grid of equal tiles, or the speaker view (one large tile and a strip).
// In the speaker view a screen share is what gets the large tile; otherwise the active speaker.
import { toast } from "./toast.js";
import { gettext, interpolate } from "./i18n.js";

const POLL_MS = 250;
const THRESHOLD = 0.02; // audioLevel (0..1) above which a microphone counts as sounding
const HOLD_MS = 1500; // the highlight stays this long after the voice stops (pauses between words)
const DECAY = 0.7;

export class Stage extends EventTarget {
  constructor(stage, { links, isMuted }) {
    super();
    this.stage = stage;
    this.links = links; // Map peer -> {link, tile, screenTile}
    this.isMuted = isMuted;
    this.levels = new Map(); // peer -> smoothed level
    this.lastHeard = new Map(); // peer -> time it was last above the threshold
    this.speaker = null; // peer id of the active speaker (null: nobody is speaking)
    this.featured = null; // the tile shown large in the speaker view
    this.lastSpeaker = null;
    this.layout = "grid";
    this.timer = setInterval(() => this.#poll().catch(() => {}), POLL_MS);
  }

  setLayout(layout) {
    this.layout = layout;
    this.stage.dataset.layout = layout;
    document.body.dataset.layout = layout;
    this.arrange();
    this.dispatchEvent(new CustomEvent("layout", { detail: layout }));
  }

  toggleLayout() {
    this.setLayout(this.layout === "grid" ? "speaker" : "grid");
  }

  async #poll() {
    const now = performance.now();
    await Promise.all([...this.links].map(async ([peer, { link }]) => {
      const level = this.isMuted(peer) ? 0 : await link.audioLevel();
      const smoothed = Math.max(level, (this.levels.get(peer) || 0) * DECAY);
      this.levels.set(peer, smoothed);
      if (smoothed > THRESHOLD) this.lastHeard.set(peer, now);
    }));
    for (const peer of this.levels.keys()) {
      if (!this.links.has(peer)) {
        this.levels.delete(peer);
        this.lastHeard.delete(peer);
      }
    }
    const current = this.speaker && now - (this.lastHeard.get(this.speaker) || 0) < HOLD_MS ? this.speaker : null;
    let loudest = null;
    for (const [peer, level] of this.levels) {
      if (level > THRESHOLD && (!loudest || level > this.levels.get(loudest))) loudest = peer;
    }
    // Someone else takes over only when clearly louder, so the highlight does not flicker.
    let next = current;
    if (loudest && (!current || this.levels.get(loudest) > 1.5 * (this.levels.get(current) || 0))) next = loudest;
    if (next !== this.speaker) this.#setSpeaker(next);
  }

  #setSpeaker(peer) {
    this.speaker = peer;
    if (peer) this.lastSpeaker = peer;
    for (const [id, { tile }] of this.links) tile.tile.classList.toggle("speaking", id === peer);
    this.arrange();
    this.dispatchEvent(new CustomEvent("speaker", { detail: peer }));
  }

  // The tile to show large: a screen share first, then who speaks (or spoke last), then anyone.
  #pickFeatured() {
    const shares = [...document.querySelectorAll("#remotes .tile.screen:not([hidden])")];
    if (shares.length) return shares.at(-1);
    const entry = this.links.get(this.lastSpeaker) || this.links.values().next().value;
    return entry?.tile.tile || null;
  }

  // The grid's columns follow the number of tiles on show (data-count, see call.css).
  arrange() {
    const shown = this.stage.querySelectorAll("#remotes > .tile:not([hidden])").length;
    this.stage.dataset.count = String(Math.min(shown, 9));
    const featured = this.#pickFeatured();
    if (featured !== this.featured) {
      this.featured?.classList.remove("featured");
      featured?.classList.add("featured");
      this.featured = featured;
      this.dispatchEvent(new CustomEvent("featured", { detail: featured }));
    }
  }

  close() {
    clearInterval(this.timer);
  }
}

// Picture-in-picture of the featured tile's video, where the browser has the API. Whatever
// stops it (nobody's video yet, the browser refusing) is said in a toast, never swallowed.
export function wirePip(button, stage) {
  const supported = "pictureInPictureEnabled" in document && document.pictureInPictureEnabled;
  if (!supported) {
    button.disabled = true;
    button.title = gettext("Picture-in-picture is not available in this browser");
    return;
  }
  const pressed = () => button.setAttribute("aria-pressed", String(Boolean(document.pictureInPictureElement)));
  document.addEventListener("enterpictureinpicture", pressed, true);
  document.addEventListener("leavepictureinpicture", pressed, true);
  pressed();
  button.addEventListener("click", async () => {
    try {
      if (document.pictureInPictureElement) return await document.exitPictureInPicture();
      const video = stage.featured?.querySelector("video");
      if (!video?.srcObject) {
        toast(gettext("Picture-in-picture: there is nobody's video to pop out yet."), "warning");
        return;
      }
      await video.requestPictureInPicture();
    } catch (error) {
      console.warn("picture-in-picture", error);
      toast(interpolate(gettext("Picture-in-picture could not start: %(why)s"), { why: error.message || error.name }), "warning");
    }
  });
  // Follow the active speaker while the window is open (browsers allow switching without a click).
  stage.addEventListener("featured", ({ detail }) => {
    const video = detail?.querySelector("video");
    if (document.pictureInPictureElement && video && video !== document.pictureInPictureElement && video.srcObject) {
      video.requestPictureInPicture().catch(() => {});
    }
  });
}
