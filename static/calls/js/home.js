// Home page: copy a room's link.
import { gettext } from "./i18n.js";

document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-link");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.url);
    button.textContent = gettext("Copied");
  } catch {
    window.prompt(gettext("Copy this link:"), button.dataset.url);
  }
  setTimeout(() => (button.textContent = gettext("Copy link")), 1500);
});
