// Call sounds: the ringtone of an incoming call and the softer ringback a caller hears while it rings.
// Browsers keep an AudioContext suspended until the page has had a user gesture, so the first
// pointerdown or keydown anywhere unlocks it (created in the gesture, then suspended again so an
// idle page holds no audio output); until then a tone that should sound is "blocked" and the
// banner offers a button to enable sound (a click is such a gesture). The context runs only
// while a tone plays.

let context = null;
let allowed = false; // a user gesture was seen, or the context ran once: it may run again
const tones = new Set();
const listeners = new Set();

function audio() {
  if (!context) {
    try {
      context = new AudioContext();
      context.addEventListener("statechange", () => {
        if (context.state === "running") allowed = true;
        follow();
        changed();
      });
    } catch {
      context = null; // no Web Audio: the banner and the title still ring
    }
  }
  return context;
}

const playing = () => [...tones].some((tone) => tone.active);

/** "off" (nothing to play), "playing", "starting" (resuming), "blocked" (waiting for a gesture) or "unavailable". */
export function soundState() {
  if (!playing()) return "off";
  if (!context) return "unavailable";
  if (context.state === "running") return "playing";
  return allowed ? "starting" : "blocked";
}

/** Call `listener(state)` whenever soundState() may have changed. */
export function onSoundChange(listener) {
  listeners.add(listener);
}

function changed() {
  const running = context && context.state === "running";
  for (const tone of tones) if (running && tone.active && !tone.nodes.length) tone.tick();
  const state = soundState();
  for (const listener of listeners) listener(state);
}

// Run the context while a tone plays and the page may play sound; suspend it otherwise.
function follow() {
  const ctx = context;
  if (!ctx || ctx.state === "closed") return;
  if (playing() && ctx.state === "suspended" && allowed) ctx.resume().catch(() => {});
  if (!playing() && ctx.state === "running") ctx.suspend().catch(() => {});
}

/** Unlock audio (call it from a user gesture: a click, a key). */
export function unlockSound() {
  allowed = true;
  audio();
  follow();
  changed();
}

document.addEventListener("pointerdown", unlockSound, { capture: true, passive: true });
document.addEventListener("keydown", unlockSound, { capture: true, passive: true });

// One repeating tone: `cycle(ctx, at)` schedules one period's oscillators (returned) from `at`.
class Tone {
  constructor(period, cycle) {
    this.period = period;
    this.cycle = cycle;
    this.active = false;
    this.nodes = [];
    this.timer = null;
    tones.add(this);
  }

  start() {
    if (this.active) return;
    this.active = true;
    allowed ||= Boolean(navigator.userActivation?.hasBeenActive);
    audio();
    follow();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.period * 1000);
    changed();
  }

  // Only a running context gets nodes: a suspended one would keep them and play them all at once later.
  tick() {
    const ctx = context;
    this.nodes = this.nodes.filter((node) => node.live);
    if (!this.active || !ctx || ctx.state !== "running") return;
    for (const node of this.cycle(ctx, ctx.currentTime)) {
      node.live = true;
      node.addEventListener("ended", () => (node.live = false));
      this.nodes.push(node);
    }
  }

  stop() {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.timer);
    for (const node of this.nodes) {
      try {
        node.stop();
      } catch {
        // not started yet or already over
      }
    }
    this.nodes = [];
    follow();
    changed();
  }
}

// A burst of `frequencies` from `at` for `length` seconds at `level`, with short fades (no clicks).
function burst(ctx, frequencies, at, length, level) {
  const gain = ctx.createGain();
  gain.gain.setValueAtTime(0, at);
  gain.gain.linearRampToValueAtTime(level, at + 0.02);
  gain.gain.setValueAtTime(level, at + length - 0.04);
  gain.gain.linearRampToValueAtTime(0, at + length);
  gain.connect(ctx.destination);
  return frequencies.map((frequency) => {
    const oscillator = ctx.createOscillator();
    oscillator.frequency.value = frequency;
    oscillator.connect(gain);
    oscillator.start(at);
    oscillator.stop(at + length);
    return oscillator;
  });
}

/** The callee's ringtone: two bright double beeps every two seconds. */
export const ringtone = new Tone(2, (ctx, at) => [
  ...burst(ctx, [880], at, 0.18, 0.09),
  ...burst(ctx, [660], at + 0.24, 0.18, 0.09),
  ...burst(ctx, [880], at + 0.6, 0.18, 0.09),
  ...burst(ctx, [660], at + 0.84, 0.18, 0.09),
]);

/** The caller's ringback: a low, quiet dual tone, 1.5 s on and 3 s off, like a phone line's. */
export const ringback = new Tone(4.5, (ctx, at) => burst(ctx, [440, 480], at, 1.5, 0.025));
