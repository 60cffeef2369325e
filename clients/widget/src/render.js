// Turning answers into DOM. Everything the book or a model wrote goes in as text (textContent,
// createTextNode), never as HTML; links are built from checked URLs only.

import { citationHref } from "./links.js";
import { KIND_SELECTION } from "./wire.js";

// A long text shortened to `max` characters, an ellipsis at its end.
export const clip = (text, max) => (text.length > max ? `${text.slice(0, max - 3)}…` : text);

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

// Where a citation points: the book's title and section, or the reader's own selection (named in the
// widget's language, whatever the service calls it).
export function placeOf(citation, strings) {
  if (citation.kind === KIND_SELECTION) return strings.selected;
  return [citation.title, citation.section].filter(Boolean).join(" › ") || citation.source_file || "";
}

export function citationLink(citation, n, strings, base) {
  const href = citationHref(citation, base);
  const label = `[${n}]`;
  if (!href) return el("span", { class: "mark", title: placeOf(citation, strings) }, label);
  return el("a", { class: "mark", href, title: placeOf(citation, strings), target: "_top" }, label);
}

// A text with each [n] turned into its citation's link, as nodes.
export function markedNodes(text, byId, strings, base) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    nodes.push(document.createTextNode(text.slice(last, match.index)));
    const citation = byId.get(Number(match[1]));
    nodes.push(citation ? citationLink(citation, match[1], strings, base) : document.createTextNode(match[0]));
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export const citationsById = (citations) => new Map((citations || []).map((c) => [c.id, c]));

// The answer's text with each [n] turned into its citation's link.
export function answerBody(answer, citations, strings, base) {
  return el("div", { class: "answer-text" }, ...markedNodes(answer, citationsById(citations), strings, base));
}

export function sourcesList(citations, strings, base) {
  const shown = (citations || []).filter((c) => c.kind !== KIND_SELECTION || c.quote);
  if (!shown.length) return null;
  const list = el("ol", { class: "sources-list" });
  for (const citation of shown) {
    const where = placeOf(citation, strings);
    const href = citationHref(citation, base);
    const item = el("li", { value: String(citation.id) }, href ? el("a", { href, target: "_top" }, where) : el("span", {}, where));
    if (citation.quote) item.append(el("blockquote", { text: clip(citation.quote, 280) }));
    list.append(item);
  }
  return el("details", { class: "sources" }, el("summary", { text: `${strings.sources} (${shown.length})` }), list);
}
