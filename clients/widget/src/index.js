// The reader's chat, embedded with one tag:
//   <script src="https://api.example/widget.js" data-api="https://api.example" defer></script>
// or configured from code: window.TextbookChat.init({ api, title, lang, mode, sourceFile, strings }).
// It renders inside a Shadow DOM, so the host page's CSS and the widget's do not meet.

import { buildConfig } from "./config.js";
import { stringsFor } from "./i18n.js";
import { Panel } from "./panel.js";
import { watchSelection } from "./selection.js";
import { Store } from "./store.js";
import { CSS } from "./styles.js";
import { followTheme } from "./theme.js";
import { el } from "./render.js";

const script = document.currentScript;
let instance = null;
let pendingPage = null; // a page set (by a site's router) before the widget was mounted

function styleRoot(root) {
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el("style", { text: CSS })); // older browsers (no constructed stylesheets)
  }
}

function mount(options) {
  if (instance) return instance;
  const config = buildConfig(script, options);
  const strings = stringsFor(config.lang || document.documentElement.lang || navigator.language, config.strings);
  const host = el("div", { id: "textbook-chat", "data-position": config.position });
  const root = host.attachShadow({ mode: "open" });
  styleRoot(root);
  document.body.append(host);
  const panel = new Panel(root, config, strings, new Store(config.api));
  followTheme((theme) => host.setAttribute("data-theme", theme));
  if (config.selection) {
    const button = el("button", { class: "ask-selection", type: "button", hidden: true }, strings.askAboutThis);
    root.append(button);
    watchSelection(host, button, (text) => panel.askAbout(text));
  }
  if (config.shortcut) {
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "/") {
        event.preventDefault();
        panel.toggle();
      }
    });
  }
  instance = {
    open: () => panel.open(),
    close: () => panel.close(),
    ask: (question) => (panel.open(), panel.submit(question)),
    askAbout: (text) => panel.askAbout(text),
    setPage: (page) => panel.setPage(page),
    host,
  };
  if (pendingPage) panel.setPage(pendingPage);
  window.TextbookChat.instance = instance;
  return instance;
}

window.TextbookChat = window.TextbookChat || {};
window.TextbookChat.init = mount;
window.TextbookChat.setPage = (page) => {
  pendingPage = page;
  if (instance) instance.setPage(page);
};

// With the script tag alone it starts itself; data-manual="true" waits for TextbookChat.init().
if (!(script && script.dataset.manual === "true")) {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mount());
  else mount();
}
