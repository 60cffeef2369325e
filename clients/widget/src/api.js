// The service's API, from a browser: the answer as server-sent events read from a fetch body (a POST,
// so EventSource cannot be used), sessions and feedback. No cookies, no credentials.

export class ApiError extends Error {
  constructor(kind, message, retryAfter) {
    super(message);
    this.kind = kind; // offline | rate_limited | unavailable | failed
    this.retryAfter = retryAfter || 0;
  }
}

function request(url, init) {
  return fetch(url, { ...init, credentials: "omit", mode: "cors", cache: "no-store" });
}

async function failure(response) {
  const retryAfter = Number(response.headers.get("Retry-After")) || 0;
  if (response.status === 429) return new ApiError("rate_limited", "rate limited", retryAfter || 30);
  if (response.status === 503 || response.status === 502 || response.status === 504) return new ApiError("unavailable", "unavailable", retryAfter);
  let detail = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    detail = typeof body.details === "string" ? body.details : body.error || detail;
  } catch (_) {
    /* not JSON */
  }
  return new ApiError("failed", detail);
}

// One parsed event per "event: x\ndata: {...}\n\n" block.
export function* parseEvents(buffer) {
  for (const block of buffer) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length) {
      try {
        yield { event, data: JSON.parse(data.join("\n")) };
      } catch (_) {
        /* a malformed event is skipped */
      }
    }
  }
}

export async function streamAnswer(api, body, onEvent, signal) {
  let response;
  try {
    response = await request(`${api}/api/v1/answer/stream`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal && signal.aborted) throw error;
    throw new ApiError("offline", "offline");
  }
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (signal && signal.aborted) throw error;
      throw new ApiError("offline", "connection lost");
    }
    if (chunk.done) break;
    pending += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
    const blocks = pending.split("\n\n");
    pending = blocks.pop();
    for (const event of parseEvents(blocks)) onEvent(event);
  }
  for (const event of parseEvents([pending])) onEvent(event);
}

export async function sendFeedback(api, answerId, rating, comment) {
  const body = { answer_id: answerId, rating, ...(comment ? { comment } : {}) };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const response = await request(`${api}/api/v1/feedback`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (response.ok) return;
    // The answer may not be recorded yet (it is written just after it is sent): try again shortly.
    if (response.status !== 404 || attempt === 2) throw await failure(response);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export async function deleteSession(api, sessionId) {
  const response = await request(`${api}/api/v1/sessions/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) throw await failure(response);
}
