// The device pickers of the pre-join screen and of the in-call settings dialog: a camera, a
// microphone and a speaker <select> filled from the browser's list, and, whenever the speaker
// cannot be chosen, the picker disabled with a note that says why (never silently).
import { canPickSpeaker, listDevices } from "./media.js";
import { el } from "./ui.js";
import { gettext } from "./i18n.js";

export const SPEAKER_NOTES = {
  noSinkId: gettext("This browser cannot choose the speaker: sound plays on the system's default output."),
  noOutputs: gettext("This browser lists no speakers to choose from: sound plays on the system's default output."),
};

// selects: {videoinput, audioinput, audiooutput} <select>s; current: the device id in use per kind;
// note: the element beside the speaker picker; onPick(kind, deviceId) when the person picks one.
export async function fillPickers({ selects, current, note, onPick }) {
  const devices = await listDevices();
  for (const [kind, select] of Object.entries(selects)) {
    select.replaceChildren(...devices[kind].map(({ id, label }) => el("option", { value: id }, label)));
    if (current[kind] && devices[kind].some((d) => d.id === current[kind])) select.value = current[kind];
    select.disabled = !devices[kind].length;
    select.onchange = () => onPick(kind, select.value);
  }
  let why = "";
  if (!canPickSpeaker) why = SPEAKER_NOTES.noSinkId;
  else if (!devices.audiooutput.length) why = SPEAKER_NOTES.noOutputs;
  if (why) {
    selects.audiooutput.replaceChildren(el("option", { value: "" }, gettext("System default")));
    selects.audiooutput.disabled = true;
  }
  note.textContent = why;
  note.hidden = !why;
  return devices;
}
