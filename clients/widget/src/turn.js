// One turn of the conversation as DOM: the question (with the passage it quotes), then the answer
// while it streams, once it is done (cited text with the book's blocks, and its sources, or a refusal
// in the widget's own language), or when it failed.

import { answerContent } from "./blocks.js";
import { refusalBadge, refusalNodes } from "./refusal.js";
import { clip, el, sourcesList } from "./render.js";
import { ROUTE_SMALLTALK } from "./wire.js";

const badge = (text) => el("span", { class: "badge", text });

export function questionNodes(turn) {
  const nodes = [];
  if (turn.selection) nodes.push(el("div", { class: "quoted", text: clip(turn.selection, 240) }));
  nodes.push(el("div", { class: "question", text: turn.question }));
  return nodes;
}

// The answer as it streams: the deltas are appended to `text`.
export function liveAnswer(strings) {
  const text = el("div", { class: "answer-text typing" });
  return { node: el("div", { class: "answer" }, badge(strings.assistant), text), text };
}

function answerNode(turn, strings) {
  const base = window.location.href;
  const refused = Boolean(turn.refusal) || turn.refused;
  const answer = el("div", { class: refused ? "answer refusal" : "answer" });
  if (turn.refusal) {
    answer.append(badge(refusalBadge(turn.refusal, strings)), ...refusalNodes(turn.refusal, strings, base));
  } else if (refused) {
    // A turn kept from before the service described its refusals: its text as it came.
    answer.append(badge(strings.notInBook), el("div", { class: "answer-text", text: turn.answer }));
  } else {
    answer.append(badge(strings.assistant), answerContent(turn, strings, base));
    const sources = sourcesList(turn.citations, strings, base);
    if (sources) answer.append(sources);
    if (turn.degraded) answer.append(el("p", { class: "note", text: strings.degraded }));
    else if (turn.partial) answer.append(el("p", { class: "note", text: strings.partial }));
  }
  return answer;
}

// A finished turn. `feedback()` makes its thumbs (an answer has them; small talk does not).
export function renderTurn(turn, strings, feedback) {
  const answer = answerNode(turn, strings);
  if (turn.answerId && turn.route !== ROUTE_SMALLTALK) answer.append(feedback());
  return el("div", { class: "turn" }, ...questionNodes(turn), answer);
}

// A failed answer: its message (text, or a node that counts down) and, if it can be retried, a button.
export function failedAnswer(message, retryLabel, onRetry) {
  const box = el("div", { class: "answer error", role: "alert" }, typeof message === "string" ? el("span", { text: message }) : message);
  if (onRetry) box.append(el("button", { type: "button", onclick: () => onRetry(box) }, retryLabel));
  return box;
}
