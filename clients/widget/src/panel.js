// The panel: a launcher, a dialog with the conversation, and a composer. It asks
// /api/v1/answer/stream and shows the answer as it streams; a Stop button ends the stream.
// How a turn looks is turn.js's; the thumbs under an answer are feedback.js's.

import { ApiError, deleteSession, streamAnswer } from "./api.js";
import { feedbackNode } from "./feedback.js";
import { format } from "./i18n.js";
import { clip, el } from "./render.js";
import { failedAnswer, liveAnswer, questionNodes, renderTurn } from "./turn.js";

const FOCUSABLE = "button:not([disabled]), [href], textarea, input, summary, [tabindex]:not([tabindex='-1'])";

export class Panel {
  constructor(root, config, strings, store) {
    this.root = root;
    this.config = config;
    this.strings = strings;
    this.store = store;
    this.state = store.load();
    this.selection = null;
    this.mode = config.mode;
    this.page = config.sourceFile || window.location.pathname;
    this.controller = null;
    this.retryTimer = null;
    this.lastFocus = null;
    this.build();
    for (const turn of this.state.turns) this.log.append(this.finished(turn));
    this.refreshEmpty();
  }

  build() {
    const s = this.strings;
    this.launcher = el("button", { class: "launcher", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false", title: `${s.launcher} (${s.shortcut})`, onclick: () => this.open() }, s.launcher);
    this.titleId = "tbc-title";
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions text" });
    this.emptyNote = el("p", { class: "empty", text: s.empty });
    this.input = el("textarea", { class: "composer", rows: "1", placeholder: this.config.placeholder || s.placeholder, "aria-label": this.config.placeholder || s.placeholder, maxlength: "10000" });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.sendButton = el("button", { class: "send", type: "submit" }, s.send);
    this.stopButton = el("button", { class: "send", type: "button", hidden: true, onclick: () => this.stop() }, s.stop);
    this.chip = el("div", { class: "chip", hidden: true });
    this.modes = this.buildModes();
    this.quick = el(
      "div",
      { class: "quick", hidden: true },
      ...[s.explainThis, s.summarize, s.example].map((label) => el("button", { type: "button", onclick: () => this.submit(label) }, label)),
    );
    const form = el("form", { onsubmit: (event) => (event.preventDefault(), this.submit()) }, this.chip, this.modes, this.quick, el("div", { class: "row" }, this.input, this.sendButton, this.stopButton));
    this.closeButton = el("button", { class: "icon", type: "button", "aria-label": s.close, title: `${s.close} (Esc)`, onclick: () => this.close() }, "✕");
    this.clearButton = el("button", { class: "icon", type: "button", onclick: () => this.clear() }, s.clear);
    this.panel = el(
      "div",
      { class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": this.titleId, hidden: true },
      el("header", {}, el("h2", { id: this.titleId, text: this.config.title || s.title }), this.clearButton, this.closeButton),
      this.log,
      form,
    );
    this.panel.addEventListener("keydown", (event) => this.onKey(event));
    this.root.append(this.launcher, this.panel);
  }

  buildModes() {
    const s = this.strings;
    const radio = (value, label) => {
      const input = el("input", { type: "radio", name: "tbc-mode", value, checked: this.mode === value });
      input.addEventListener("change", () => (this.mode = value));
      return el("label", {}, input, ` ${label}`);
    };
    return el("fieldset", { class: "modes", hidden: true }, el("legend", { text: `${s.modeLabel}:` }), radio("selection_only", s.modeSelection), radio("book", s.modeBook));
  }

  // --- opening, closing, focus ---------------------------------------------------------------------------------------

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    if (this.isOpen) return this.input.focus();
    this.lastFocus = document.activeElement;
    this.panel.hidden = false;
    this.launcher.hidden = true;
    this.launcher.setAttribute("aria-expanded", "true");
    this.log.scrollTop = this.log.scrollHeight;
    this.input.focus();
  }

  close() {
    this.panel.hidden = true;
    this.launcher.hidden = false;
    this.launcher.setAttribute("aria-expanded", "false");
    // Focus goes back where it was (a button, a link); opened by the shortcut, to the launcher.
    const back = this.lastFocus;
    if (back && back !== document.body && back !== document.documentElement && typeof back.focus === "function") back.focus();
    else this.launcher.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  onKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      return this.close();
    }
    if (event.key !== "Tab") return;
    // Focus stays inside the dialog while it is open.
    const items = [...this.panel.querySelectorAll(FOCUSABLE)].filter((node) => !node.closest("[hidden]") && node.getClientRects().length);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = this.root.activeElement;
    if (event.shiftKey && (active === first || !this.panel.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }

  // --- the selection ---------------------------------------------------------------------------------------------------

  askAbout(text) {
    this.selection = text;
    this.chip.replaceChildren(
      el("span", { text: `${this.strings.selected}:` }),
      el("q", { text: clip(text, 300) }),
      el("button", { class: "icon", type: "button", "aria-label": this.strings.removeSelection, onclick: () => this.dropSelection() }, "✕"),
    );
    this.chip.hidden = false;
    this.modes.hidden = false;
    this.quick.hidden = false;
    this.open();
  }

  dropSelection() {
    this.selection = null;
    this.chip.hidden = true;
    this.modes.hidden = true;
    this.quick.hidden = true;
    this.input.focus();
  }

  setPage(page) {
    if (typeof page === "string" && page) this.page = page.slice(0, 2048);
  }

  // --- asking ---------------------------------------------------------------------------------------------------------------

  async submit(text) {
    const question = (text || this.input.value).trim();
    if (!question || this.controller || this.retryTimer) return;
    this.input.value = "";
    const turn = { question, selection: this.selection, mode: this.selection ? this.mode : "book", answer: "", citations: [], refusal: null, refused: false, route: "book", answerId: null };
    this.dropSelection();
    const node = el("div", { class: "turn" }, ...questionNodes(turn));
    const live = liveAnswer(this.strings);
    node.append(live.node);
    this.log.append(node);
    this.refreshEmpty();
    this.scroll();
    await this.stream(turn, node, live);
  }

  // The deltas show as they come. When "done" arrives the turn is drawn again from the response: a
  // refusal's streamed English text gives way to the refusal in the widget's language.
  async stream(turn, node, live) {
    const body = { question: turn.question, k: this.config.k, page: this.page };
    if (this.state.sessionId) body.session_id = this.state.sessionId;
    if (turn.selection) Object.assign(body, { selected_text: turn.selection, mode: turn.mode });
    this.controller = new AbortController();
    this.busy(true);
    const slow = setTimeout(() => live.node.append(el("p", { class: "note slow", text: this.strings.slow })), this.config.slowMs);
    let done = false;
    try {
      await streamAnswer(
        this.config.api,
        body,
        ({ event, data }) => {
          if (event === "delta") {
            live.text.append(document.createTextNode(data.text));
            this.scroll();
          } else if (event === "done") {
            done = true;
            Object.assign(turn, { answer: data.answer, citations: data.citations, blocks: data.blocks || [], refusal: data.refusal || null, refused: data.refused, route: data.route, answerId: data.answer_id, degraded: data.degraded, partial: data.partial });
            this.state.sessionId = data.session_id;
            this.state.turns.push(turn);
            this.store.save(this.state);
            node.replaceChildren(...this.finished(turn).childNodes);
            this.scrollTo(node);
          } else if (event === "error") {
            throw new ApiError("failed", data.details || "error");
          }
        },
        this.controller.signal,
      );
      if (!done) throw new ApiError("offline", "the stream ended early");
    } catch (error) {
      if (this.controller && this.controller.signal.aborted) {
        live.text.classList.remove("typing");
        live.node.append(el("p", { class: "note", text: this.strings.stopped }));
      } else {
        live.node.replaceWith(this.failed(error, turn, node));
      }
    } finally {
      clearTimeout(slow);
      live.node.querySelector(".slow")?.remove();
      this.controller = null;
      this.busy(false);
    }
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  busy(on) {
    this.sendButton.hidden = on;
    this.stopButton.hidden = !on;
    if (!on && !this.retryTimer) this.sendButton.disabled = false;
  }

  // A finished turn; its rating is kept with the conversation.
  finished(turn) {
    const rated = (rating) => {
      turn.feedback = rating;
      this.store.save(this.state);
    };
    return renderTurn(turn, this.strings, () => feedbackNode(turn, this.strings, this.config.api, rated));
  }

  failed(error, turn, node) {
    const s = this.strings;
    if (error instanceof ApiError && error.kind === "rate_limited") return failedAnswer(this.holdSend(error.retryAfter));
    const retry = (box) => {
      const live = liveAnswer(s);
      box.replaceWith(live.node);
      this.stream(turn, node, live);
    };
    return failedAnswer(error instanceof ApiError && error.kind !== "failed" ? s.offline : s.failed, s.retry, retry);
  }

  // Rate limited: Send stays disabled for the service's Retry-After, and the message counts it down.
  holdSend(seconds) {
    let left = Math.max(1, Math.round(seconds));
    const message = el("span", { text: format(this.strings.rateLimited, { s: left }) });
    this.sendButton.disabled = true;
    this.retryTimer = setInterval(() => {
      left -= 1;
      message.textContent = format(this.strings.rateLimited, { s: Math.max(0, left) });
      if (left <= 0) {
        clearInterval(this.retryTimer);
        this.retryTimer = null;
        this.sendButton.disabled = false;
      }
    }, 1000);
    return message;
  }

  // --- clearing ----------------------------------------------------------------------------------------------------------------

  async clear() {
    if (!window.confirm(this.strings.clearConfirm)) return;
    this.stop();
    const sessionId = this.state.sessionId;
    this.state = { sessionId: null, turns: [] };
    this.store.clear();
    this.log.replaceChildren();
    this.refreshEmpty();
    if (sessionId) {
      try {
        await deleteSession(this.config.api, sessionId);
      } catch (_) {
        /* gone locally; the server's retention removes it in time */
      }
    }
    this.input.focus();
  }

  refreshEmpty() {
    if (!this.log.children.length) this.log.append(this.emptyNote);
    else if (this.log.children.length > 1 && this.emptyNote.isConnected) this.emptyNote.remove();
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  // A finished answer is read from its start: its question at the top of the log.
  scrollTo(node) {
    this.log.scrollTop = Math.max(0, node.offsetTop - this.log.offsetTop - 8);
  }
}
