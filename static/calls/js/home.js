// Home page: copy a room's link.
document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-link");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.url);
    button.textContent = "Copied";
  } catch {
    window.prompt("Copy this link:", button.dataset.url);
  }
  setTimeout(() => (button.textContent = "Copy link"), 1500);
});
