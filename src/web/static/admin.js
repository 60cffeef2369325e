// The author's dashboard (GET /admin): asks for a key with the analytics scope (kept for this tab only,
// in sessionStorage; it reads the reports and cannot change the index), then reads the reports. Every question, answer and comment is reader-written, so
// all of it goes in with textContent; links are made from http(s) or relative URLs only.
"use strict";

(function () {
  const KEY = "textbook-admin-key";
  const $ = (selector) => document.querySelector(selector);
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function safeHref(raw) {
    if (typeof raw !== "string" || !raw) return null;
    try {
      const url = new URL(raw, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(text, href) {
    const safe = safeHref(href);
    return safe ? el("a", { href: safe, text }) : el("span", { text });
  }

  const pct = (x) => `${(100 * x).toFixed(1)} %`;

  async function report(name, params) {
    const query = new URLSearchParams(params);
    const response = await fetch(`/api/v1/analytics/${name}?${query}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` }, cache: "no-store" });
    if (response.status === 401) throw new Error("unauthorized");
    if (response.status === 403) {
      // A key without the analytics scope (or a blocked client): the server's own words say which.
      const body = await response.json().catch(() => ({}));
      throw Object.assign(new Error("forbidden"), { details: typeof body.details === "string" ? body.details : "This key may not read the reports." });
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  function chart(days) {
    // Questions per day (bars) and refused per day (the darker part of each bar), as inline SVG.
    const width = 720;
    const height = 180;
    const pad = 28;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Questions and refusals per day");
    svg.setAttribute("class", "chart");
    const max = Math.max(1, ...days.map((d) => d.questions));
    const step = (width - 2 * pad) / Math.max(7, days.length); // a short window keeps narrow bars
    days.forEach((d, i) => {
      const x = pad + i * step + step * 0.15;
      const w = Math.max(2, step * 0.7);
      const h = ((height - 2 * pad) * d.questions) / max;
      const r = ((height - 2 * pad) * d.refused) / max;
      for (const [cls, y, hh] of [["bar", height - pad - h, h], ["bar refused", height - pad - r, r]]) {
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("class", cls);
        rect.setAttribute("x", String(x));
        rect.setAttribute("y", String(y));
        rect.setAttribute("width", String(w));
        rect.setAttribute("height", String(Math.max(0, hh)));
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${d.day}: ${d.questions} questions, ${d.refused} refused`;
        rect.append(title);
        svg.append(rect);
      }
      if (days.length <= 14 || i % Math.ceil(days.length / 10) === 0) {
        const label = document.createElementNS(SVG, "text");
        label.setAttribute("x", String(x + w / 2));
        label.setAttribute("y", String(height - 8));
        label.setAttribute("class", "axis");
        label.textContent = d.day.slice(5);
        svg.append(label);
      }
    });
    const top = document.createElementNS(SVG, "text");
    top.setAttribute("x", "4");
    top.setAttribute("y", String(pad - 8));
    top.setAttribute("class", "axis start");
    top.textContent = `${max} questions`;
    svg.append(top);
    return svg;
  }

  function summaryView(s) {
    const t = s.total;
    const figures = [
      ["Questions", t.questions],
      ["Answered", t.answered],
      ["Refused", `${t.refused} (${pct(t.refused_rate)})`],
      ["Thumbs up / down", `${t.thumbs_up} / ${t.thumbs_down}`],
      ["Degraded", t.degraded],
      ["Latency p50 / p95", t.latency_p50_ms === null ? "–" : `${Math.round(t.latency_p50_ms)} / ${Math.round(t.latency_p95_ms)} ms`],
    ];
    return el("div", {}, el("dl", { class: "figures" }, ...figures.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: String(v) })))), chart(s.per_day));
  }

  function gapsView(g) {
    if (!g.groups.length) return el("p", { class: "empty", text: "No unanswered questions in this window." });
    const rows = g.groups.map((grp) =>
      el(
        "tr",
        {},
        el("td", { class: "num", text: String(grp.count) }),
        el("td", {}, el("ul", {}, ...grp.examples.map((q) => el("li", { text: q })))),
        el("td", { text: grp.chapters.join(", ") || "–" }),
        el("td", {}, el("ul", {}, ...grp.nearest_sections.map((s) => el("li", {}, link([s.title, s.section].filter(Boolean).join(" › ") || s.source_file || "section", s.url))))),
      ),
    );
    return el("table", {}, el("thead", {}, el("tr", {}, ...["Questions", "What readers asked", "Where", "Nearest sections (add the missing text here)"].map((h) => el("th", { text: h })))), el("tbody", {}, ...rows));
  }

  function chaptersView(c) {
    if (!c.chapters.length) return el("p", { class: "empty", text: "No questions in this window." });
    const rows = c.chapters.map((ch) =>
      el(
        "tr",
        {},
        el("td", {}, link(ch.chapter, ch.url)),
        el("td", { class: "num", text: String(ch.questions) }),
        el("td", { class: "num", text: pct(ch.refused_rate) }),
        el("td", { class: "num", text: pct(ch.thumbs_down_rate) }),
        el("td", {}, el("ul", {}, ...ch.top_groups.map((grp) => el("li", { text: `${grp.count} × ${grp.examples[0] || ""}` })))),
      ),
    );
    return el("table", {}, el("thead", {}, el("tr", {}, ...["Chapter", "Questions", "Refused", "Thumbs down", "Top questions"].map((h) => el("th", { text: h })))), el("tbody", {}, ...rows));
  }

  function feedbackView(f) {
    if (!f.answers.length) return el("p", { class: "empty", text: "No down-voted answers in this window." });
    return el(
      "div",
      {},
      ...f.answers.map((a) =>
        el(
          "article",
          { class: "disliked" },
          el("p", { class: "q", text: a.question }),
          el("p", { class: "a", text: a.answer }),
          a.comment ? el("p", { class: "comment", text: `“${a.comment}”` }) : null,
          a.citations.length ? el("ol", { class: "cited" }, ...a.citations.map((c) => el("li", {}, link([c.title, c.section].filter(Boolean).join(" › ") || c.source_file || "source", c.url)))) : null,
          el("p", { class: "meta", text: [a.chapter, a.page, (a.rated_at || a.asked_at).slice(0, 16).replace("T", " ")].filter(Boolean).join(" · ") }),
        ),
      ),
    );
  }

  async function load() {
    const since = $("#since").value;
    const params = since ? { since } : {};
    $("#status").textContent = "Loading…";
    try {
      const [summary, gaps, chapters, feedback] = await Promise.all(["summary", "gaps", "chapters", "feedback"].map((r) => report(r, params)));
      $("#summary").replaceChildren(summaryView(summary));
      $("#gaps").replaceChildren(gapsView(gaps));
      $("#chapters").replaceChildren(chaptersView(chapters));
      $("#feedback").replaceChildren(feedbackView(feedback));
      $("#status").textContent = `${summary.window.since.slice(0, 10)} to ${summary.window.until.slice(0, 10)}`;
      $("#login").hidden = true;
      $("#reports").hidden = false;
    } catch (error) {
      const refused = error.message === "unauthorized" || error.message === "forbidden";
      if (refused) {
        sessionStorage.removeItem(KEY);
        $("#login").hidden = false;
        $("#reports").hidden = true;
        $("#login-error").textContent = error.message === "forbidden" ? error.details : "That key was not accepted.";
      }
      $("#status").textContent = refused ? "" : `The reports could not be loaded (${error.message}).`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("#key").value.trim());
      $("#key").value = "";
      $("#login-error").textContent = "";
      load();
    });
    $("#since").addEventListener("change", load);
    $("#logout").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      window.location.reload();
    });
    if (sessionStorage.getItem(KEY)) load();
    else $("#login").hidden = false;
  });
})();
