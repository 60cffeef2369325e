// Highlight to ask: when the reader selects text on the page, a small "Ask about this" button appears
// next to the selection; pressing it opens the panel with the passage quoted.

const MIN_CHARS = 3;
// The service takes a selection of up to 8,000 characters (a section of the book) and refuses a longer
// one with 422: a longer selection is sent as its first 8,000 characters.
const MAX_CHARS = 8000;

export function watchSelection(host, button, onAsk) {
  let current = "";

  function hide() {
    button.hidden = true;
    current = "";
  }

  function place() {
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed || selection.rangeCount === 0) return hide();
    const text = selection.toString().replace(/\s+/g, " ").trim();
    const anchor = selection.anchorNode;
    // Text selected inside the widget itself, or in a form field, is not a passage of the book.
    if (text.length < MIN_CHARS || !anchor || host.contains(anchor) || (anchor.parentElement && anchor.parentElement.closest("input, textarea, [contenteditable]"))) {
      return hide();
    }
    const rect = selection.getRangeAt(0).getBoundingClientRect();
    if (!rect || (rect.width === 0 && rect.height === 0)) return hide();
    current = text.slice(0, MAX_CHARS);
    // Positions are set through the CSSOM, which a strict Content-Security-Policy allows.
    button.style.top = `${Math.max(4, rect.bottom + 6)}px`;
    button.style.left = `${Math.min(window.innerWidth - 140, Math.max(4, rect.left))}px`;
    button.hidden = false;
  }

  document.addEventListener("mouseup", () => setTimeout(place, 0));
  document.addEventListener("keyup", (event) => {
    if (event.shiftKey || event.key === "Shift") setTimeout(place, 0);
  });
  document.addEventListener("selectionchange", () => {
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed) hide();
  });
  window.addEventListener("scroll", hide, { passive: true });
  button.addEventListener("mousedown", (event) => event.preventDefault()); // keep the selection
  button.addEventListener("click", () => {
    const text = current;
    hide();
    if (text) onAsk(text);
  });
  return { hide };
}
