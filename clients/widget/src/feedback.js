// Thumbs up or down under an answer (a thumbs down opens a comment), sent to /api/v1/feedback.

import { sendFeedback } from "./api.js";
import { el } from "./render.js";

const SVG = "http://www.w3.org/2000/svg";
// Thumbs, drawn as SVG paths (not emoji: a system without an emoji font would show empty boxes).
const THUMB_UP = "M2 10h3v10H2V10zm5 10h9.2c.9 0 1.6-.6 1.8-1.4l1.9-7A2 2 0 0 0 18 9h-5.3l.8-4.1a1.6 1.6 0 0 0-2.8-1.3L7 8.6V20z";

function thumb(down) {
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

// The feedback row of a turn; `onRated(rating)` runs once the service has it (the panel keeps it).
export function feedbackNode(turn, strings, api, onRated) {
  const s = strings;
  const status = el("span", { class: "note", role: "status" });
  const comment = el("textarea", { placeholder: s.commentPlaceholder, "aria-label": s.commentPlaceholder, hidden: true, maxlength: "2000" });
  const submitComment = el("button", { type: "button", hidden: true }, s.sendFeedback);
  const send = async (rating, note) => {
    try {
      await sendFeedback(api, turn.answerId, rating, note);
      onRated(rating);
      status.textContent = s.thanks;
      return true;
    } catch (_) {
      status.textContent = s.feedbackFailed;
      return false;
    }
  };
  const up = el("button", { type: "button", "aria-pressed": String(turn.feedback === "up"), "aria-label": s.helpful, title: s.helpful }, thumb(false));
  const down = el("button", { type: "button", "aria-pressed": String(turn.feedback === "down"), "aria-label": s.notHelpful, title: s.notHelpful }, thumb(true));
  up.addEventListener("click", async () => {
    if (await send("up")) {
      up.setAttribute("aria-pressed", "true");
      down.setAttribute("aria-pressed", "false");
    }
  });
  down.addEventListener("click", () => {
    down.setAttribute("aria-pressed", "true");
    up.setAttribute("aria-pressed", "false");
    comment.hidden = false;
    submitComment.hidden = false;
    comment.focus();
  });
  submitComment.addEventListener("click", async () => {
    if (await send("down", comment.value.trim())) {
      comment.hidden = true;
      submitComment.hidden = true;
    }
  });
  return el("div", { class: "feedback" }, up, down, comment, submitComment, status);
}
