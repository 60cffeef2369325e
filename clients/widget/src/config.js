// Options come from the script tag's data- attributes, then from window.TextbookChat.init({...}).
//   <script src="https://api.example/widget.js" data-api="https://api.example" defer></script>

const DEFAULTS = {
  api: "",
  title: "",
  placeholder: "",
  lang: "",
  position: "right", // right | left
  mode: "selection_only", // the default for a highlighted passage: selection_only | book
  sourceFile: "", // the page's source_file, if the author knows it; otherwise its path is sent
  selection: true, // show "Ask about this" next to a selection
  shortcut: true, // Ctrl+/ (Cmd+/) opens the panel
  strings: null,
  k: 5,
  slowMs: 8000,
};

function fromDataset(script) {
  if (!script) return {};
  const d = script.dataset;
  const out = {};
  for (const key of ["api", "title", "placeholder", "lang", "position", "mode", "sourceFile"]) {
    if (d[key]) out[key] = d[key];
  }
  if (d.selection === "false") out.selection = false;
  if (d.shortcut === "false") out.shortcut = false;
  if (d.k && /^\d+$/.test(d.k)) out.k = Number(d.k);
  return out;
}

export function apiBase(script) {
  // Without data-api, the API is where the script came from.
  if (script && script.src) {
    try {
      return new URL(script.src, document.baseURI).origin;
    } catch (_) {
      /* a malformed src: fall through */
    }
  }
  return window.location.origin;
}

export function buildConfig(script, options) {
  const config = { ...DEFAULTS, ...fromDataset(script), ...(options || {}) };
  config.api = String(config.api || apiBase(script)).replace(/\/+$/, "");
  if (config.mode !== "book") config.mode = "selection_only";
  if (config.position !== "left") config.position = "right";
  return config;
}
