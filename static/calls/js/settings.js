// The in-call settings dialog: switch the camera, the microphone and the speaker during the call,
// with the pre-join screen's pickers (pickers.js) and the microphone level. A switched camera or
// microphone replaces what every peer connection sends (LocalMedia's "change" event, which the
// page passes to the mesh); the choices are remembered per browser like the pre-join screen's.
import { loadPrefs, savePrefs } from "./media.js";
import { MicMeter } from "./meter.js";
import { fillPickers } from "./pickers.js";
import { gettext, interpolate } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PREF_OF = { videoinput: "cameraId", audioinput: "micId", audiooutput: "speakerId" };

export class SettingsDialog {
  // getLocal: () => LocalMedia; getSpeaker: () => the speaker id in use; setSpeaker(id) plays every remote sound there.
  constructor(dialog, { getLocal, getSpeaker, setSpeaker }) {
    this.dialog = dialog;
    this.getLocal = getLocal;
    this.getSpeaker = getSpeaker;
    this.setSpeaker = setSpeaker;
    this.meter = new MicMeter($("settings-mic-level"));
    this.selects = { videoinput: $("settings-camera"), audioinput: $("settings-mic"), audiooutput: $("settings-speaker") };
    this.watched = null; // the microphone track the meter measures
    dialog.addEventListener("close", () => {
      this.meter.watch(null);
      this.watched = null;
    });
  }

  get open() {
    return this.dialog.open;
  }

  async show() {
    if (this.dialog.open) return;
    this.#say("");
    this.dialog.showModal();
    this.refresh();
    try {
      await this.#fill();
    } catch (error) {
      this.#say(interpolate(gettext("The devices could not be listed (%(why)s)."), { why: error.message }));
    }
  }

  toggle() {
    if (this.dialog.open) this.dialog.close();
    else this.show();
  }

  // What we send changed (e.g. the microphone was switched or muted): the meter and the note follow.
  refresh() {
    if (!this.dialog.open) return;
    const local = this.getLocal();
    if (local.mic !== this.watched) {
      this.watched = local.mic;
      this.meter.watch(local.mic);
    }
    $("settings-muted").hidden = !local.mic || !local.muted;
  }

  #fill() {
    const local = this.getLocal();
    const current = {
      videoinput: local.camera?.getSettings().deviceId || local.cameraId,
      audioinput: local.mic?.getSettings().deviceId,
      audiooutput: this.getSpeaker(),
    };
    return fillPickers({ selects: this.selects, current, note: $("settings-speaker-note"), onPick: (kind, id) => this.#pick(kind, id) });
  }

  async #pick(kind, deviceId) {
    const select = this.selects[kind];
    try {
      select.disabled = true;
      if (kind === "audiooutput") await this.setSpeaker(deviceId);
      else await this.getLocal().switchDevice(kind, deviceId);
      savePrefs({ ...loadPrefs(), [PREF_OF[kind]]: deviceId });
      this.#say("");
    } catch (error) {
      this.#say(error.message);
      await this.#fill().catch(() => {}); // back to the device still in use
    } finally {
      select.disabled = select.options.length === 0;
      this.refresh();
    }
  }

  #say(text) {
    const box = $("settings-message");
    box.textContent = text;
    box.hidden = !text;
  }
}
