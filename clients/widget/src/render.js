// Turning answers into DOM. Everything the book or a model wrote goes in as text (textContent,
// createTextNode), never as HTML; links are built from checked URLs only.

import { citationHref, safeUrl } from "./links.js";

const SVG = "http://www.w3.org/2000/svg";
// Thumbs, drawn as SVG paths (not emoji: a system without an emoji font would show empty boxes).
const THUMB_UP = "M2 10h3v10H2V10zm5 10h9.2c.9 0 1.6-.6 1.8-1.4l1.9-7A2 2 0 0 0 18 9h-5.3l.8-4.1a1.6 1.6 0 0 0-2.8-1.3L7 8.6V20z";

export function thumb(down) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 22 22");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", THUMB_UP);
  path.setAttribute("fill", "currentColor");
  if (down) path.setAttribute("transform", "rotate(180 11 11)");
  svg.append(path);
  return svg;
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function citationLink(citation, n, base) {
  const href = citationHref(citation, base);
  const label = `[${n}]`;
  if (!href) return el("span", { class: "mark", title: citation.section || citation.title || "" }, label);
  return el("a", { class: "mark", href, title: [citation.title, citation.section].filter(Boolean).join(" › "), target: "_top" }, label);
}

// The answer's text with each [n] turned into its citation's link.
export function answerBody(answer, citations, base) {
  const byId = new Map((citations || []).map((c) => [c.id, c]));
  const body = el("div", { class: "answer-text" });
  const pattern = /\[(\d+)\]/g;
  let last = 0;
  for (const match of answer.matchAll(pattern)) {
    body.append(document.createTextNode(answer.slice(last, match.index)));
    const citation = byId.get(Number(match[1]));
    body.append(citation ? citationLink(citation, match[1], base) : document.createTextNode(match[0]));
    last = match.index + match[0].length;
  }
  body.append(document.createTextNode(answer.slice(last)));
  return body;
}

export function sourcesList(citations, strings, base) {
  const shown = (citations || []).filter((c) => c.chunk_id !== "selection" || c.quote);
  if (!shown.length) return null;
  const list = el("ol", { class: "sources-list" });
  for (const citation of shown) {
    const where = [citation.title, citation.section].filter(Boolean).join(" › ") || (citation.chunk_id === "selection" ? strings.selected : citation.source_file || "");
    const href = citationHref(citation, base);
    const item = el("li", { value: String(citation.id) }, href ? el("a", { href, target: "_top" }, where) : el("span", {}, where));
    if (citation.quote) item.append(el("blockquote", { text: citation.quote.length > 280 ? `${citation.quote.slice(0, 277)}…` : citation.quote }));
    list.append(item);
  }
  return el("details", { class: "sources" }, el("summary", { text: `${strings.sources} (${shown.length})` }), list);
}

// A refusal names the closest sections; they become links from the retrieved contexts.
export function closestSections(contexts, strings, base) {
  const seen = new Set();
  const items = [];
  for (const ctx of contexts || []) {
    const meta = ctx.metadata || {};
    const url = safeUrl(meta.url, base);
    const label = [meta.title, meta.section].filter(Boolean).join(" › ");
    if (!url || !label || seen.has(url.href) || ctx.chunk_id === "selection") continue;
    seen.add(url.href);
    items.push(el("li", {}, el("a", { href: url.href, target: "_top" }, label)));
    if (items.length === 3) break;
  }
  if (!items.length) return null;
  return el("div", { class: "closest" }, el("p", { class: "closest-title", text: strings.closest }), el("ul", {}, ...items));
}

// Strip the sentence that lists the closest sections from a refusal: the links below show them.
export function refusalLead(answer) {
  const cut = answer.indexOf(" The closest sections are:");
  return cut > 0 ? answer.slice(0, cut) : answer;
}
