// Local media: the camera and microphone the person chose, what went wrong in plain words,
// the devices to pick from, and the choices remembered per browser (localStorage).
import { gettext, interpolate } from "./i18n.js";

// Capture up to 720p at 30 fps; the send side scales down for bigger meshes (quality.js).
export const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const PREFS_KEY = "rtcsite.media";
const DEFAULT_PREFS = { audio: true, video: true, cameraId: "", micId: "", speakerId: "" };

// Firefox ESR before 116 and some mobile browsers cannot route sound to a chosen output.
export const canPickSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

export function loadPrefs() {
  try {
    return { ...DEFAULT_PREFS, ...JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") };
  } catch {
    return { ...DEFAULT_PREFS }; // storage disabled or garbled: start from the defaults
  }
}

export function savePrefs(prefs) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // private mode without storage: the choices last for this page only
  }
}

export function videoConstraints(deviceId) {
  return deviceId ? { ...VIDEO, deviceId: { exact: deviceId } } : VIDEO;
}

export function audioConstraints(deviceId) {
  return deviceId ? { ...AUDIO, deviceId: { exact: deviceId } } : AUDIO;
}

// What the person reads when a device cannot be used, by the error's name: what happened, then
// the way out. Once in the call the page keeps only what happened (the part before " — " or JOIN_TO_WATCH).
export const JOIN_TO_WATCH = gettext("You can join to listen and watch.");
const OR_WATCH = gettext("or join to listen and watch.");
const BLOCKED = `${gettext("Camera and microphone access is blocked. Allow it from the icon in the address bar and reload")} — ${OR_WATCH}`;
const IN_USE = `${gettext("Your camera or microphone is in use by another application (or failed to start). Close the other application and pick the device again")} — ${OR_WATCH}`;
const NOT_FOUND = `${gettext("No camera or microphone was found.")} ${JOIN_TO_WATCH}`;
const PROBLEMS = {
  NotAllowedError: BLOCKED,
  SecurityError: BLOCKED,
  NotReadableError: IN_USE,
  AbortError: IN_USE,
  NotFoundError: NOT_FOUND,
  OverconstrainedError: NOT_FOUND,
};
const UNKNOWN = `${gettext("Your camera and microphone could not be started.")} ${JOIN_TO_WATCH}`;

export function describeProblem(error) {
  return PROBLEMS[error?.name] || UNKNOWN;
}

// Open the microphone and camera (each chosen device if it is still there). Both are opened
// even when the person joins with one off, so turning it on later asks nothing again.
// Returns {mic, camera, problem}: the tracks that could be started, and what to tell about the rest.
export async function openMedia({ micId = "", cameraId = "" } = {}) {
  const attempts = [
    { audio: audioConstraints(micId), video: videoConstraints(cameraId) },
    { audio: audioConstraints(micId), video: false },
    { audio: false, video: videoConstraints(cameraId) },
  ];
  let lastError = null;
  for (const constraints of attempts) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      const mic = stream.getAudioTracks()[0] || null;
      const camera = stream.getVideoTracks()[0] || null;
      let problem = "";
      if (!camera) problem = cameraProblem(lastError);
      else if (!mic) problem = gettext("No microphone could be started: the others will not hear you, but you can hear and see them.");
      return { mic, camera, problem };
    } catch (error) {
      lastError = error;
      if (error.name === "OverconstrainedError" && (micId || cameraId)) {
        return openMedia(); // a remembered device is gone: the defaults
      }
      if (error.name === "NotAllowedError" || error.name === "SecurityError") break;
    }
  }
  return { mic: null, camera: null, problem: describeProblem(lastError) };
}

function cameraProblem(error) {
  if (error?.name === "NotReadableError") return gettext("Your camera is in use by another application: you join with sound only.");
  return gettext("No camera could be started: you join with sound only.");
}

// One device of a kind ("audioinput" or "videoinput"): a fresh track, or an Error with a message for people.
export async function openDevice(kind, deviceId) {
  const constraints = kind === "videoinput" ? { video: videoConstraints(deviceId) } : { audio: audioConstraints(deviceId) };
  try {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    return stream.getTracks()[0];
  } catch (error) {
    const camera = kind === "videoinput";
    const message = error.name === "NotReadableError"
      ? (camera ? gettext("That camera is in use by another application.") : gettext("That microphone is in use by another application."))
      : interpolate(camera ? gettext("The camera could not be started (%(error)s).") : gettext("The microphone could not be started (%(error)s)."), { error: error.name });
    throw Object.assign(new Error(message), { name: error.name });
  }
}

// The devices to pick from, by kind, with readable labels (labels are empty before permission).
export async function listDevices() {
  const out = { videoinput: [], audioinput: [], audiooutput: [] };
  const names = { videoinput: gettext("Camera %(number)s"), audioinput: gettext("Microphone %(number)s"), audiooutput: gettext("Speaker %(number)s") };
  for (const device of await navigator.mediaDevices.enumerateDevices()) {
    if (!out[device.kind] || !device.deviceId) continue;
    const list = out[device.kind];
    list.push({ id: device.deviceId, label: device.label || interpolate(names[device.kind], { number: list.length + 1 }) });
  }
  return out;
}

// Play every remote sound on the chosen output, where the browser can.
export async function applySpeaker(element, speakerId) {
  if (!canPickSpeaker || !element || (!speakerId && !element.sinkId)) return; // already the default
  try {
    await element.setSinkId(speakerId || "");
  } catch (error) {
    console.warn("speaker output not applied", error);
  }
}
