// The widget's styles, applied inside its Shadow DOM as a constructed stylesheet (a strict CSP that
// forbids inline <style> still allows it). Colours are custom properties an author can override
// on the host element:   #textbook-chat { --tbc-accent: #7a1fa2; }
// A wide table scrolls sideways in its own region (.table-scroll), with a shadow at an edge that has more
// of the table beyond it: the table's own ends, drawn over the shadows, cover them as they scroll in.

export const CSS = `
:host {
  --tbc-accent: #2e6bd6;
  --tbc-accent-fg: #ffffff;
  --tbc-bg: #ffffff;
  --tbc-fg: #1c1e21;
  --tbc-muted: #5b6370;
  --tbc-border: #d7dbe0;
  --tbc-soft: #f2f4f7;
  --tbc-user: #e8f0fd;
  --tbc-refusal: #fff6e5;
  --tbc-refusal-border: #e6b54a;
  --tbc-error: #b42318;
  --tbc-radius: 12px;
  --tbc-font: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  --tbc-shade: rgba(0,0,0,.2);
  --tbc-mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  all: initial;
  font-family: var(--tbc-font);
  color-scheme: light;
}
:host([data-theme="dark"]) {
  --tbc-accent: #6ea8ff;
  --tbc-accent-fg: #0b1220;
  --tbc-bg: #1b1d22;
  --tbc-fg: #e6e8eb;
  --tbc-muted: #a3aab5;
  --tbc-border: #3a3f47;
  --tbc-soft: #25282e;
  --tbc-user: #233046;
  --tbc-refusal: #3a3020;
  --tbc-refusal-border: #b88a2e;
  --tbc-error: #ff8a80;
  --tbc-shade: rgba(0,0,0,.7);
  color-scheme: dark;
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
button { font: inherit; cursor: pointer; }
.launcher {
  position: fixed; bottom: 20px; right: 20px; z-index: 2147483000;
  display: flex; align-items: center; gap: 8px; padding: 12px 18px;
  border: none; border-radius: 999px; background: var(--tbc-accent); color: var(--tbc-accent-fg);
  font-size: 15px; font-weight: 600; box-shadow: 0 6px 20px rgba(0,0,0,.25);
}
:host([data-position="left"]) .launcher, :host([data-position="left"]) .panel { right: auto; left: 20px; }
.launcher:focus-visible, button:focus-visible, a:focus-visible, textarea:focus-visible, pre:focus-visible, .table-scroll:focus-visible { outline: 3px solid var(--tbc-accent); outline-offset: 2px; }
.panel {
  position: fixed; bottom: 20px; right: 20px; z-index: 2147483001;
  width: min(420px, calc(100vw - 40px)); height: min(640px, calc(100vh - 40px));
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--tbc-bg); color: var(--tbc-fg); border: 1px solid var(--tbc-border);
  border-radius: var(--tbc-radius); box-shadow: 0 12px 40px rgba(0,0,0,.28);
  font-size: 14px; line-height: 1.5;
  animation: tbc-in .16s ease-out;
}
@keyframes tbc-in { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }
@media (prefers-reduced-motion: reduce) { .panel, .typing::after { animation: none !important; } }
@media (max-width: 768px) {
  .panel { inset: 0; width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; border: none; bottom: 0; right: 0; }
}
header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; border-bottom: 1px solid var(--tbc-border); }
header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 650; }
.icon { border: none; background: transparent; color: var(--tbc-muted); padding: 6px 8px; border-radius: 8px; font-size: 13px; }
.icon:hover { background: var(--tbc-soft); color: var(--tbc-fg); }
.log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 14px; }
.empty { color: var(--tbc-muted); margin: auto 0; text-align: center; padding: 0 12px; }
.turn { display: flex; flex-direction: column; gap: 6px; }
.question { align-self: flex-end; max-width: 88%; background: var(--tbc-user); padding: 8px 12px; border-radius: 12px 12px 2px 12px; white-space: pre-wrap; word-wrap: break-word; }
.quoted { align-self: flex-end; max-width: 88%; border-left: 3px solid var(--tbc-accent); padding: 2px 10px; color: var(--tbc-muted); font-style: italic; font-size: 13px; }
.answer { max-width: 100%; background: var(--tbc-soft); padding: 10px 12px; border-radius: 12px 12px 12px 2px; word-wrap: break-word; }
.answer.refusal { background: var(--tbc-refusal); border: 1px solid var(--tbc-refusal-border); }
.badge { display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; color: var(--tbc-muted); margin-bottom: 4px; }
.answer-text { white-space: pre-wrap; }
.answer-text.with-blocks { white-space: normal; }
.prose { white-space: pre-wrap; }
.block { margin: 8px 0; white-space: normal; }
.block:first-child { margin-top: 2px; }
.block:last-child { margin-bottom: 2px; }
.block-bar { display: flex; align-items: center; gap: 6px; padding: 3px 6px 3px 10px; font-size: 12px; color: var(--tbc-muted); border-bottom: 1px solid var(--tbc-border); }
.block-label { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: var(--tbc-mono); }
.spacer { flex: 1; }
.copy { border: 1px solid var(--tbc-border); background: var(--tbc-soft); color: var(--tbc-fg); border-radius: 6px; padding: 1px 8px; font-size: 12px; }
.copy:hover { border-color: var(--tbc-accent); }
.code-block, .math-block, .table-scroll { background: var(--tbc-bg); border: 1px solid var(--tbc-border); border-radius: 8px; }
.code-block, .math-block { overflow: hidden; }
pre { margin: 0; padding: 8px 10px; overflow-x: auto; white-space: pre; overflow-wrap: normal; tab-size: 4; font: 12.5px/1.5 var(--tbc-mono); color: var(--tbc-fg); }
code { font: inherit; }
.table-scroll {
  overflow-x: auto; max-width: 100%;
  background:
    linear-gradient(to right, var(--tbc-bg) 40%, transparent) left / 28px 100% no-repeat local,
    linear-gradient(to left, var(--tbc-bg) 40%, transparent) right / 28px 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, var(--tbc-shade), transparent) left / 12px 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, var(--tbc-shade), transparent) right / 12px 100% no-repeat scroll,
    var(--tbc-bg);
}
table { border-collapse: collapse; width: max-content; min-width: 100%; font-size: 13px; line-height: 1.4; }
th, td { text-align: left; vertical-align: top; padding: 5px 10px; border-bottom: 1px solid var(--tbc-border); }
th { font-weight: 650; background: rgba(127,127,127,.12); white-space: nowrap; }
td { max-width: 18em; }
tbody tr:last-child td { border-bottom: none; }
.block-foot { margin-top: 3px; font-size: 12px; color: var(--tbc-muted); }
.block-bar .mark, .block-foot .mark { vertical-align: baseline; }
.code-more { padding: 3px 10px; font-size: 12px; border-top: 1px solid var(--tbc-border); }
.list-block { padding-left: 22px; }
.list-block li + li { margin-top: 2px; }
.more-item { list-style: none; }
figure { margin: 8px 0; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 6px; }
figcaption { margin-top: 4px; font-size: 12px; color: var(--tbc-muted); }
.figure-text { border-left: 3px solid var(--tbc-border); padding: 2px 10px; }
.figure-text p { margin: 0 0 2px; }
.figure-alt { font-style: italic; }
.copy-buffer { position: fixed; top: 0; left: 0; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
.mark { font-size: 12px; font-weight: 600; color: var(--tbc-accent); text-decoration: none; vertical-align: super; margin: 0 1px; }
a { color: var(--tbc-accent); }
.sources { margin-top: 8px; font-size: 13px; }
.sources summary { cursor: pointer; color: var(--tbc-muted); }
.sources-list { margin: 6px 0 0; padding-left: 22px; }
.sources-list blockquote { margin: 2px 0 6px; color: var(--tbc-muted); font-size: 12px; border-left: 2px solid var(--tbc-border); padding-left: 8px; }
.closest { margin-top: 8px; font-size: 13px; }
.closest-title { margin: 0 0 2px; font-weight: 600; }
.closest ul { margin: 0; padding-left: 18px; }
.note { color: var(--tbc-muted); font-size: 12px; margin-top: 4px; }
.feedback { display: flex; gap: 4px; align-items: center; flex-wrap: wrap; margin-top: 6px; }
.feedback button { border: 1px solid var(--tbc-border); background: var(--tbc-bg); color: var(--tbc-muted); border-radius: 8px; padding: 3px 8px; font-size: 13px; display: inline-flex; align-items: center; }
.feedback button[aria-pressed="true"] { background: var(--tbc-accent); color: var(--tbc-accent-fg); border-color: var(--tbc-accent); }
.feedback textarea { flex-basis: 100%; min-height: 48px; }
.error { color: var(--tbc-error); display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.error button { border: 1px solid var(--tbc-error); color: var(--tbc-error); background: transparent; border-radius: 8px; padding: 2px 10px; }
.typing::after { content: "▍"; animation: tbc-blink 1s steps(2) infinite; color: var(--tbc-muted); }
@keyframes tbc-blink { 50% { opacity: 0; } }
form { border-top: 1px solid var(--tbc-border); padding: 10px; display: flex; flex-direction: column; gap: 8px; }
.chip { display: flex; gap: 6px; align-items: flex-start; background: var(--tbc-soft); border-radius: 8px; padding: 6px 8px; font-size: 12px; color: var(--tbc-muted); }
.chip q { flex: 1; font-style: italic; max-height: 4.5em; overflow: hidden; }
.modes { display: flex; gap: 12px; font-size: 12px; color: var(--tbc-muted); align-items: center; flex-wrap: wrap; border: none; padding: 0; margin: 0; }
.modes legend { padding: 0; float: left; margin-right: 4px; }
.quick { display: flex; gap: 6px; flex-wrap: wrap; }
.quick button { border: 1px solid var(--tbc-border); background: var(--tbc-bg); color: var(--tbc-fg); border-radius: 999px; padding: 2px 10px; font-size: 12px; }
.row { display: flex; gap: 8px; align-items: flex-end; }
textarea { flex: 1; resize: none; min-height: 40px; max-height: 140px; padding: 9px 10px; font: inherit; color: var(--tbc-fg); background: var(--tbc-bg); border: 1px solid var(--tbc-border); border-radius: 10px; }
.send { border: none; border-radius: 10px; padding: 9px 14px; background: var(--tbc-accent); color: var(--tbc-accent-fg); font-weight: 600; }
.send:disabled { opacity: .55; cursor: not-allowed; }
.ask-selection {
  position: fixed; z-index: 2147483002; border: none; border-radius: 999px; padding: 6px 12px;
  background: var(--tbc-accent); color: var(--tbc-accent-fg); font-size: 13px; font-weight: 600; box-shadow: 0 4px 14px rgba(0,0,0,.25);
}
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
