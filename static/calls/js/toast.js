// Short notes that come and go (someone joined, left, raised a hand) and the soft sounds that
// go with arrivals and departures (WebAudio: no audio files to fetch).
import { el } from "./ui.js";

const SHOW_MS = 4000;
const MAX_TOASTS = 4;
let audio = null;

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast ${kind}` }, text);
  box.append(item);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => item.remove(), SHOW_MS);
}

// Two notes up for an arrival, down for a departure; quiet, and silent where audio cannot start.
export function chime(direction = "up") {
  try {
    audio ||= new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const notes = direction === "up" ? [523.25, 783.99] : [659.25, 440];
    const start = audio.currentTime + 0.01;
    notes.forEach((frequency, i) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      const at = start + i * 0.12;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.06, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.3);
    });
  } catch {
    // no audio output: the toast says it
  }
}
