// Light or dark, following the host page: Docusaurus sets html[data-theme], mdBook puts a theme class
// on <html> (light, rust, coal, navy, ayu), and anything else falls back to prefers-color-scheme.

const MDBOOK_DARK = ["coal", "navy", "ayu"];
const MDBOOK_LIGHT = ["light", "rust"];

export function hostTheme() {
  const html = document.documentElement;
  const attr = (html.getAttribute("data-theme") || document.body?.getAttribute("data-theme") || "").toLowerCase();
  if (attr === "dark" || attr === "light") return attr;
  if (MDBOOK_DARK.some((c) => html.classList.contains(c))) return "dark";
  if (MDBOOK_LIGHT.some((c) => html.classList.contains(c))) return "light";
  if (html.classList.contains("dark") || html.classList.contains("theme-dark")) return "dark";
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function followTheme(apply) {
  apply(hostTheme());
  const observer = new MutationObserver(() => apply(hostTheme()));
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme", "class"] });
  if (document.body) observer.observe(document.body, { attributes: true, attributeFilter: ["data-theme", "class"] });
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => apply(hostTheme()));
}
