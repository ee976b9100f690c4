// What this page sends: the microphone (muted = nothing sent), the camera (off = the device is
// released), and a screen share as a second video track with its sound where the browser
// offers it. Dispatches "change" whenever what is sent changes; `state` is the media-state frame's body.
import { openDevice } from "./media.js";

export class LocalMedia extends EventTarget {
  constructor({ mic, camera, audio, video, cameraId }) {
    super();
    this.mic = mic;
    this.camera = video ? camera : null;
    if (!video) camera?.stop(); // joined with the camera off: the light goes off too
    this.cameraId = cameraId || camera?.getSettings().deviceId || "";
    this.hasCamera = Boolean(camera);
    this.muted = !audio;
    if (this.mic) this.mic.enabled = !this.muted;
    this.screen = null;
    this.screenAudio = null;
    this.busy = false;
  }

  get cameraOff() {
    return !this.camera;
  }

  // The body of `media` frames (and `join.media`).
  get state() {
    return { audio: Boolean(this.mic) && !this.muted, video: Boolean(this.camera), screen: Boolean(this.screen) };
  }

  // The track for each role of a peer connection (see peer.js).
  get tracks() {
    return {
      mic: this.muted ? null : this.mic,
      camera: this.camera,
      screen: this.screen,
      screenAudio: this.screenAudio,
    };
  }

  #changed() {
    this.dispatchEvent(new CustomEvent("change", { detail: this.state }));
  }

  toggleMute() {
    if (!this.mic) return;
    this.muted = !this.muted;
    this.mic.enabled = !this.muted;
    this.#changed();
  }

  // Off releases the camera; on opens the chosen one again (no prompt: permission is kept).
  async toggleCamera() {
    if (this.busy || !this.hasCamera) return;
    this.busy = true;
    try {
      if (this.camera) {
        this.camera.stop();
        this.camera = null;
      } else {
        this.camera = await openDevice("videoinput", this.cameraId);
      }
      this.#changed();
    } finally {
      this.busy = false;
    }
  }

  // Another camera or microphone, mid-call: the new track replaces the old one in what every
  // connection sends (the "change" event). With the camera off, only the choice is kept: it is
  // opened when the camera goes on again.
  async switchDevice(kind, deviceId) {
    if (kind === "videoinput" && !this.camera) {
      this.cameraId = deviceId;
      return;
    }
    const track = await openDevice(kind, deviceId);
    if (kind === "videoinput") {
      this.cameraId = deviceId;
      this.camera?.stop();
      this.camera = track;
      this.hasCamera = true;
    } else {
      track.enabled = !this.muted;
      this.mic?.stop();
      this.mic = track;
    }
    this.#changed();
  }

  // Share a screen, window or tab; the browser's own "Stop sharing" bar ends it too.
  async startScreen() {
    const display = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: true, // tab or system sound, where the browser offers it (the person may untick it)
    });
    this.stopScreen(false);
    this.screen = display.getVideoTracks()[0];
    this.screen.contentHint = "detail"; // text stays sharp; the frame rate gives way first
    this.screenAudio = display.getAudioTracks()[0] || null;
    this.screen.onended = () => this.stopScreen();
    this.#changed();
  }

  stopScreen(notify = true) {
    if (!this.screen) return;
    for (const track of [this.screen, this.screenAudio]) {
      if (!track) continue;
      track.onended = null;
      track.stop();
    }
    this.screen = null;
    this.screenAudio = null;
    if (notify) this.#changed();
  }

  stopAll() {
    this.stopScreen(false);
    this.mic?.stop();
    this.camera?.stop();
  }
}
