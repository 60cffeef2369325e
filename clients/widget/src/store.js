// The conversation kept in localStorage: its session id and the turns for display, so it survives
// reloads and navigation. Nothing else is stored, and no cookie is set.

const MAX_TURNS = 50;

export class Store {
  constructor(api) {
    this.key = `textbook-chat:${api}`;
  }

  load() {
    try {
      const raw = window.localStorage.getItem(this.key);
      const data = raw ? JSON.parse(raw) : null;
      if (data && Array.isArray(data.turns)) return { sessionId: typeof data.sessionId === "string" ? data.sessionId : null, turns: data.turns };
    } catch (_) {
      /* storage blocked or corrupt: start afresh */
    }
    return { sessionId: null, turns: [] };
  }

  save(state) {
    try {
      window.localStorage.setItem(this.key, JSON.stringify({ sessionId: state.sessionId, turns: state.turns.slice(-MAX_TURNS) }));
    } catch (_) {
      /* storage full or blocked: the conversation still works for this page */
    }
  }

  clear() {
    try {
      window.localStorage.removeItem(this.key);
    } catch (_) {
      /* nothing to clear */
    }
  }
}
