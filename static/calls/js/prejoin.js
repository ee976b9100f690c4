// The pre-join screen: camera preview, microphone level, device pickers, join with the mic or
// the camera off, who is already in the room. Resolves with the person's choices on "Join now".
import { MicMeter } from "./meter.js";
import { applySpeaker, loadPrefs, openDevice, openMedia, savePrefs } from "./media.js";
import { fillPickers } from "./pickers.js";
import { el } from "./ui.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const PEERS_EVERY_MS = 4000;
const $ = (id) => document.getElementById(id);

export class Prejoin {
  constructor({ peersUrl, me }) {
    this.peersUrl = peersUrl;
    this.me = me;
    this.prefs = loadPrefs();
    this.mic = null;
    this.camera = null;
    this.problem = "";
    this.meter = new MicMeter($("mic-level"));
    this.peersTimer = null;
    this.closed = false;
    this.video = $("prejoin-video");
    this.selects = { videoinput: $("camera-select"), audioinput: $("mic-select"), audiooutput: $("speaker-select") };
  }

  // Show the screen and wait for "Join now": {mic, camera, audio, video, speakerId, problem}.
  async run() {
    const join = $("join-now");
    this.#wireToggles();
    this.#pollPeers();
    const opened = await openMedia(this.prefs);
    Object.assign(this, opened);
    this.#showProblem(this.problem);
    this.#showPreview();
    await this.#fillPickers().catch((error) => console.warn("device list", error));
    const clicked = new Promise((resolve) => join.addEventListener("click", resolve, { once: true }));
    join.disabled = false;
    join.focus({ preventScroll: true });
    await clicked;
    this.#close();
    return {
      mic: this.mic,
      camera: this.camera,
      audio: this.prefs.audio && Boolean(this.mic),
      video: this.prefs.video && Boolean(this.camera),
      speakerId: this.prefs.speakerId,
      cameraId: this.prefs.cameraId,
      problem: this.problem,
    };
  }

  #wireToggles() {
    const toggles = [
      [$("prejoin-mic"), "audio", [gettext("Mic on"), gettext("Mic off")]],
      [$("prejoin-camera"), "video", [gettext("Camera on"), gettext("Camera off")]],
    ];
    for (const [button, key, labels] of toggles) {
      const render = () => {
        const off = !this.prefs[key];
        button.setAttribute("aria-pressed", String(off));
        button.querySelector(".label").textContent = labels[Number(off)];
        button.querySelector("use").setAttribute("href", key === "audio" ? (off ? "#i-mic-off" : "#i-mic") : (off ? "#i-cam-off" : "#i-cam"));
      };
      render();
      button.addEventListener("click", () => {
        this.prefs[key] = !this.prefs[key];
        savePrefs(this.prefs);
        render();
        this.#showPreview();
      });
    }
  }

  #showPreview() {
    const showVideo = this.prefs.video && this.camera;
    this.video.srcObject = showVideo ? new MediaStream([this.camera]) : null;
    $("prejoin-camera-off").hidden = Boolean(showVideo);
    $("prejoin-camera-off").textContent = this.camera ? gettext("Camera is off") : gettext("No camera");
    this.meter.watch(this.prefs.audio ? this.mic : null);
    $("prejoin-mic").disabled = !this.mic;
    $("prejoin-camera").disabled = !this.camera;
  }

  #showProblem(text) {
    const box = $("prejoin-message");
    box.textContent = text;
    box.hidden = !text;
  }

  async #fillPickers() {
    const current = { videoinput: this.camera?.getSettings().deviceId, audioinput: this.mic?.getSettings().deviceId, audiooutput: this.prefs.speakerId };
    await fillPickers({ selects: this.selects, current, note: $("speaker-note"), onPick: (kind, id) => this.#pick(kind, id) });
  }

  async #pick(kind, deviceId) {
    if (kind === "audiooutput") {
      this.prefs.speakerId = deviceId;
      savePrefs(this.prefs);
      await applySpeaker(this.video, deviceId);
      return;
    }
    try {
      const track = await openDevice(kind, deviceId);
      const key = kind === "videoinput" ? "camera" : "mic";
      this[key]?.stop();
      this[key] = track;
      this.prefs[kind === "videoinput" ? "cameraId" : "micId"] = deviceId;
      savePrefs(this.prefs);
      this.problem = "";
      this.#showProblem("");
      this.#showPreview();
    } catch (error) {
      this.#showProblem(error.message);
    }
  }

  // Who is in the room now (the room's peers API), refreshed while the screen is shown.
  async #pollPeers() {
    if (this.closed) return;
    const status = $("prejoin-status");
    const list = $("prejoin-peers");
    try {
      const response = await fetch(this.peersUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const rows = await response.json();
      const names = rows.map(({ user }) =>
        user?.id === this.me ? gettext("You (in another window)") : user?.display_name || user?.username || gettext("Someone"));
      list.replaceChildren(...names.map((name) => el("li", {}, name)));
      status.textContent = names.length === 0 ? gettext("Nobody is here yet.")
        : interpolate(ngettext("%(count)s already in the call:", "%(count)s already in the call:", names.length), { count: names.length });
    } catch {
      status.textContent = "";
    }
    if (!this.closed) this.peersTimer = setTimeout(() => this.#pollPeers(), PEERS_EVERY_MS);
  }

  #close() {
    this.closed = true;
    clearTimeout(this.peersTimer);
    this.meter.close();
    this.video.srcObject = null;
    $("prejoin").hidden = true;
  }
}
