// A microphone level meter: WebAudio AnalyserNode on a track, written to a <meter> (value and
// data-level) several times a second. Also used for the local "speaking" highlight.

export class MicMeter {
  constructor(element) {
    this.element = element;
    this.context = null;
    this.source = null;
    this.analyser = null;
    this.timer = null;
    this.level = 0;
  }

  // Measure this track (null stops measuring and shows zero).
  watch(track) {
    this.#disconnect();
    if (!track) return this.#show(0);
    try {
      this.context ||= new AudioContext();
      // Browsers start an AudioContext suspended until the page has a user gesture.
      if (this.context.state === "suspended") {
        const resume = () => this.context?.resume().catch(() => {});
        resume();
        document.addEventListener("pointerdown", resume, { once: true });
        document.addEventListener("keydown", resume, { once: true });
      }
      this.source = this.context.createMediaStreamSource(new MediaStream([track]));
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 1024;
      this.source.connect(this.analyser);
      const samples = new Float32Array(this.analyser.fftSize);
      this.timer = setInterval(() => {
        this.analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const sample of samples) sum += sample * sample;
        const rms = Math.sqrt(sum / samples.length);
        // Speech sits around 0.02–0.2 RMS: a square-root curve makes quiet voices visible.
        this.#show(Math.min(1, Math.sqrt(rms) * 1.6));
      }, 100);
    } catch (error) {
      console.warn("no microphone level meter", error);
      this.#show(0);
    }
  }

  #show(level) {
    this.level = level;
    if (!this.element) return;
    this.element.value = level;
    this.element.dataset.level = level.toFixed(2);
  }

  #disconnect() {
    clearInterval(this.timer);
    this.timer = null;
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
  }

  close() {
    this.#disconnect();
    this.context?.close().catch(() => {});
    this.context = null;
  }
}
