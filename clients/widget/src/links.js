// Links into the book. Book text and answers are untrusted: only http(s) and relative URLs become
// links, and a citation's link carries a text fragment built from its quote (#anchor:~:text=...),
// so a browser that supports it scrolls to the quoted passage and highlights it.

export function safeUrl(raw, base) {
  if (typeof raw !== "string" || !raw.trim()) return null;
  let url;
  try {
    url = new URL(raw.trim(), base || window.location.href);
  } catch (_) {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url : null;
}

const MAX_FRAGMENT_WORDS = 8;

function fragmentText(quote) {
  // The start of the quote's first sentence, with the characters a text directive reserves encoded.
  const first = String(quote || "")
    .replace(/\s+/g, " ")
    .trim()
    .split(/(?<=[.!?])\s/)[0];
  const words = first.split(" ").filter(Boolean);
  if (!words.length) return "";
  const enc = (s) => encodeURIComponent(s).replace(/-/g, "%2D");
  if (words.length <= MAX_FRAGMENT_WORDS) return enc(words.join(" ").replace(/[.!?]$/, ""));
  const start = words.slice(0, 4).join(" ");
  const end = words.slice(-3).join(" ").replace(/[.!?]$/, "");
  return `${enc(start)},${enc(end)}`;
}

export function citationHref(citation, base) {
  const url = safeUrl(citation.url, base);
  if (!url) return null;
  const text = fragmentText(citation.quote);
  const anchor = url.hash ? url.hash.slice(1) : "";
  url.hash = "";
  const directive = text && "fragmentDirective" in document ? `:~:text=${text}` : "";
  return anchor || directive ? `${url.href}#${anchor}${directive}` : url.href;
}
