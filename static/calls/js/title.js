// The tab's title: "(N) " in front while there are unseen missed calls, and a flashing
// "… is calling" while a call rings, so a call shows even in a row of tabs.
const base = document.title;
let count = 0;
let flash = null;
let flashOn = false;
let timer = null;

function render() {
  const prefix = count > 0 ? `(${count}) ` : "";
  document.title = flash && flashOn ? flash : prefix + base;
}

/** Show `n` unseen missed calls in the title (none: the plain title). */
export function setTitleCount(n) {
  count = n;
  render();
}

/** Alternate the title with `text` until stopFlashing(). */
export function flashTitle(text) {
  stopFlashing();
  flash = text;
  flashOn = true;
  render();
  timer = setInterval(() => {
    flashOn = !flashOn;
    render();
  }, 800);
}

export function stopFlashing() {
  clearInterval(timer);
  timer = null;
  flash = null;
  flashOn = false;
  render();
}
