// The banner shown when the server speaks a newer protocol than this page's scripts:
// the page stops signaling and asks to be reloaded (which fetches the new release).
import { gettext } from "./i18n.js";

export function showReloadBanner() {
  if (document.getElementById("update-banner")) return;
  const banner = document.createElement("div");
  banner.id = "update-banner";
  banner.className = "update-banner";
  banner.setAttribute("role", "alert");
  const text = document.createElement("span");
  text.textContent = gettext("A new version is available — reload");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "primary";
  button.textContent = gettext("Reload");
  button.addEventListener("click", () => location.reload());
  banner.append(text, button);
  document.body.prepend(banner);
}
