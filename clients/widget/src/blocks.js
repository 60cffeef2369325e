// The book's blocks in an answer: code (with a Copy button), tables (scrolling sideways in their own
// region), lists, math (its TeX source) and figures. The answer is Markdown whose segments, split at
// blank lines, are prose or exactly one block's `markdown`; each block is drawn from its structured
// fields (the response's `blocks`), as text, never as HTML. A turn without blocks reads as before.

import { format } from "./i18n.js";
import { safeUrl } from "./links.js";
import { answerBody, citationLink, citationsById, el, markedNodes, placeOf } from "./render.js";
import { BLOCK_CODE, BLOCK_FIGURE, BLOCK_LIST, BLOCK_MATH, BLOCK_TABLE } from "./wire.js";

const SEP = "\n\n";
const COPIED_MS = 2000;

const text = (value) => (typeof value === "string" ? value : "");
const list = (value) => (Array.isArray(value) ? value : []);

// The answer cut into prose (strings) and blocks, in order. A block is taken where its Markdown stands
// whole at a segment's start (it may hold blank lines itself: code often does); one the answer does not
// hold is passed over, so a block the text lost does not hide those after it.
export function segments(answer, blocks) {
  const out = [];
  let next = 0;
  let pos = 0;
  while (pos <= answer.length) {
    while (next < blocks.length && answer.indexOf(blocks[next].markdown, pos) < 0) next += 1;
    const block = blocks[next];
    const end = block ? pos + block.markdown.length : -1;
    if (block && answer.startsWith(block.markdown, pos) && (end === answer.length || answer.startsWith(SEP, end))) {
      out.push(block);
      next += 1;
      pos = end + SEP.length;
      continue;
    }
    const stop = answer.indexOf(SEP, pos);
    const cut = stop < 0 ? answer.length : stop;
    out.push(answer.slice(pos, cut));
    pos = cut + SEP.length;
  }
  return out;
}

// A "… and N more" line: a link to the section when its URL is safe, text otherwise.
function moreNode(template, n, url, strings) {
  const label = format(strings[template + (n === 1 ? "One" : "")], { n });
  return url ? el("a", { class: "more", href: url.href, target: "_top" }, label) : el("span", { class: "more", text: label });
}

function bar(label, mark, ...extra) {
  return el("div", { class: "block-bar" }, label ? el("span", { class: "block-label", text: label }) : null, mark, el("span", { class: "spacer" }), ...extra);
}

async function copyText(value, near) {
  try {
    await navigator.clipboard.writeText(value);
    return true;
  } catch (_) {
    // No Clipboard API here (an insecure page, an old browser, no permission): the older way.
    const area = el("textarea", { class: "copy-buffer", readonly: true, tabindex: "-1", "aria-hidden": "true" });
    area.value = value;
    near.after(area);
    area.select();
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (_) {
      /* refused */
    }
    area.remove();
    near.focus();
    return done;
  }
}

function copyButton(value, strings) {
  let timer = null;
  const button = el("button", { class: "copy", type: "button", "aria-label": strings.copyCode, title: strings.copyCode }, strings.copy);
  button.addEventListener("click", async () => {
    const done = await copyText(value, button);
    button.textContent = done ? strings.copied : strings.copyFailed;
    button.setAttribute("aria-label", button.textContent);
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.textContent = strings.copy;
      button.setAttribute("aria-label", strings.copyCode);
    }, COPIED_MS);
  });
  return button;
}

// A long program is shown in part: "… and N more lines" links to the rest in the book.
function codeBlock(block, mark, ctx) {
  const { strings, base } = ctx;
  const code = text(block.text);
  const language = text(block.language);
  return el(
    "div",
    { class: "block code-block" },
    bar(language, mark, copyButton(code, strings)),
    el("pre", { tabindex: "0" }, el("code", { text: code, "data-language": language || null })),
    block.more > 0 ? el("div", { class: "code-more" }, moreNode("moreLines", block.more, safeUrl(block.url, base), strings)) : null,
  );
}

function mathBlock(block, mark, strings) {
  return el("div", { class: "block math-block" }, bar("TeX", mark), el("pre", { class: "math", tabindex: "0", role: "group", "aria-label": strings.tex, text: text(block.text) }));
}

function tableBlock(block, mark, ctx) {
  const { strings, citation, base } = ctx;
  const row = (cells, tag) => el("tr", {}, ...list(cells).map((cell) => el(tag, tag === "th" ? { scope: "col", text: text(cell) } : { text: text(cell) })));
  const table = el("table", {});
  if (list(block.header).length) table.append(el("thead", {}, row(block.header, "th")));
  table.append(el("tbody", {}, ...list(block.rows).map((cells) => row(cells, "td"))));
  const where = citation ? placeOf(citation, strings) : "";
  const label = where ? format(strings.tableOf, { where }) : strings.table;
  const foot = el("div", { class: "block-foot" });
  if (block.more > 0) foot.append(moreNode("moreRows", block.more, safeUrl(block.url, base), strings), " ");
  if (mark) foot.append(mark);
  return el("div", { class: "block table-block" }, el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": label }, table), foot.childNodes.length ? foot : null);
}

function listBlock(block, mark, ctx) {
  const items = list(block.items).map((item) => el("li", { text: text(item) }));
  if (block.more > 0) items.push(el("li", { class: "more-item" }, moreNode("moreItems", block.more, safeUrl(block.url, ctx.base), ctx.strings)));
  if (mark && items.length) items[items.length - 1].append(" ", mark);
  return el(block.ordered ? "ol" : "ul", { class: "block list-block" }, ...items);
}

// A figure's image is shown only from the book's own origin (its citation's) or the page's; any other
// image, none, or one that fails to load gives the figure as words, with a link to its section.
function figureSource(block, citation, base) {
  const src = safeUrl(block.src, base);
  if (!src) return null;
  const book = citation ? safeUrl(citation.url, base) : null;
  return src.origin === window.location.origin || (book && src.origin === book.origin) ? src : null;
}

function figureAsText(block, mark, ctx) {
  const url = safeUrl(block.url, ctx.base);
  const alt = text(block.alt);
  return el(
    "div",
    { class: "block figure-block figure-text" },
    el("p", { class: "figure-alt", text: alt ? `${ctx.strings.figure}: ${alt}` : ctx.strings.figure }),
    text(block.caption) ? el("p", { class: "figure-caption", text: block.caption }) : null,
    el("p", {}, url ? el("a", { href: url.href, target: "_top" }, ctx.strings.seeFigure) : null, url && mark ? " " : null, mark),
  );
}

function figureBlock(block, mark, ctx) {
  const src = figureSource(block, ctx.citation, ctx.base);
  if (!src) return figureAsText(block, mark, ctx);
  const img = el("img", { src: src.href, alt: text(block.alt), loading: "lazy", decoding: "async", referrerpolicy: "no-referrer" });
  const figure = el("figure", { class: "block figure-block" }, img, el("figcaption", {}, text(block.caption), mark ? " " : null, mark));
  img.addEventListener("error", () => figure.replaceWith(figureAsText(block, mark && mark.cloneNode(true), ctx)), { once: true });
  return figure;
}

const DRAW = {
  [BLOCK_CODE]: codeBlock,
  [BLOCK_MATH]: (block, mark, ctx) => mathBlock(block, mark, ctx.strings),
  [BLOCK_TABLE]: tableBlock,
  [BLOCK_LIST]: listBlock,
  [BLOCK_FIGURE]: figureBlock,
};

// The answer of a finished turn: its prose with citation links, and its blocks drawn as such.
export function answerContent(turn, strings, base) {
  const answer = text(turn.answer);
  const blocks = list(turn.blocks).filter((b) => b && DRAW[b.kind] && text(b.markdown));
  const parts = blocks.length ? segments(answer, blocks) : [answer];
  if (parts.every((part) => typeof part === "string")) return answerBody(answer, turn.citations, strings, base);
  const byId = citationsById(turn.citations);
  const body = el("div", { class: "answer-text with-blocks" });
  let prose = [];
  const flush = () => {
    const joined = prose.join(SEP);
    if (joined.trim()) body.append(el("div", { class: "prose" }, ...markedNodes(joined, byId, strings, base)));
    prose = [];
  };
  for (const part of parts) {
    if (typeof part === "string") {
      prose.push(part);
      continue;
    }
    flush();
    const citation = byId.get(part.citation);
    const mark = citation ? citationLink(citation, part.citation, strings, base) : null;
    body.append(DRAW[part.kind](part, mark, { strings, citation, base }));
  }
  flush();
  return body;
}
