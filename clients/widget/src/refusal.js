// A refusal, rendered from the service's structured field (`refusal`: reason, names, closest) in the
// widget's own language. The answer's text is English, for API users: it is never read here.

import { safeUrl } from "./links.js";
import { el } from "./render.js";
import { REASONS } from "./wire.js";

// A reason this version does not know (a newer service) reads as the plain "not covered".
function reasonOf(refusal) {
  return REASONS[refusal.reason] || REASONS.not_covered;
}

export function refusalBadge(refusal, strings) {
  return strings[reasonOf(refusal).badge];
}

// "A", "A or B", "A, B or C": each name as text, in its own element.
function nameNodes(names, strings) {
  const nodes = [];
  names.forEach((name, i) => {
    if (i) nodes.push(i === names.length - 1 ? ` ${strings.or} ` : ", ");
    nodes.push(el("b", { text: name }));
  });
  return nodes;
}

function lead(refusal, strings) {
  const names = (refusal.names || []).filter((name) => typeof name === "string" && name.trim());
  let key = reasonOf(refusal).lead;
  if (key === "notMentioned" && !names.length) key = "notCovered";
  const [before, after] = strings[key].split("{names}");
  const text = el("div", { class: "answer-text" }, before);
  if (after !== undefined) text.append(...nameNodes(names, strings), after);
  return text;
}

// The sections the service found closest, as links (a section whose URL is not http(s) stays text).
function closestList(closest, strings, base) {
  const items = [];
  for (const section of closest || []) {
    // A page's opening passage has its title for a section: the title alone names it.
    const label = [section.title, section.section !== section.title && section.section].filter(Boolean).join(" › ");
    if (!label) continue;
    const url = safeUrl(section.url, base);
    items.push(el("li", {}, url ? el("a", { href: url.href, target: "_top" }, label) : label));
  }
  if (!items.length) return null;
  return el("div", { class: "closest" }, el("p", { class: "closest-title", text: strings.closest }), el("ul", {}, ...items));
}

// The refusal's lead sentence (with the names the book never mentions), then its closest sections.
export function refusalNodes(refusal, strings, base) {
  return [lead(refusal, strings), closestList(refusal.closest, strings, base)].filter(Boolean);
}
