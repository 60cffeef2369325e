"""What kind of turn a message is, decided in one place before anything is searched:

- `smalltalk`: a greeting, thanks, "who are you?": a short fixed reply;
- `manipulation`: an attempt to extract the instructions or switch the rules off: a redirect;
- `creative`: "write me a poem", "book me a flight", "what's your favourite robot?": a request outside
  a study assistant's job, with a polite redirect to the book;
- `selection`: a question about a highlighted passage;
- `book`: a question for the book; a follow-up ("why does it matter?") is made standalone from the
  session's earlier questions first.

The three kinds with a fixed reply are answered without a search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from anyio import to_thread

from src.answering.followup import PastTurn, resolve
from src.answering.guardrails import OFF_TOPIC, REDIRECT, is_manipulation, is_off_task
from src.answering.smalltalk import smalltalk_reply

RouteKind = Literal["smalltalk", "manipulation", "creative", "selection", "book"]
HistoryLoader = Callable[[], Awaitable[list[PastTurn]]]


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    question: str  # what to search: the standalone question for a follow-up, else the student's words
    reply: str | None = None  # the fixed reply of a turn that is answered without a search
    follow_up: bool = False  # `question` was rewritten against the conversation
    conversation_sources: tuple[str, ...] = ()  # files the conversation's answers cited, latest first
    conversation_sections: tuple[tuple[str, str], ...] = ()  # sections the latest answer cited (for a follow-up)
    seen: tuple[str, ...] = ()  # what the latest answer quoted (for a follow-up): it weighs less in this answer

    @property
    def refused(self) -> bool:
        return self.kind in ("manipulation", "creative")


async def classify(question: str, selection: str | None, history: HistoryLoader | None) -> Route:
    """The route of a turn. `history` loads the session's earlier questions; it is called only for a
    book question in a session that has one (so small talk never waits on the database). The checks
    read a client's text (up to the question's cap): they run in a worker thread, off the event loop."""
    route = await to_thread.run_sync(_without_history, question, selection)
    if route.kind != "book" or history is None:
        return route
    past = await history()
    resolved = await to_thread.run_sync(resolve, question, past)
    sources = resolved.prefer or tuple(dict.fromkeys(s for turn in reversed(past) for s in turn.sources))
    return Route(
        "book", resolved.question, follow_up=resolved.follow_up, conversation_sources=sources, conversation_sections=resolved.sections, seen=resolved.seen
    )


def _without_history(question: str, selection: str | None) -> Route:
    """The route as far as the message alone decides it: a book question is then made standalone."""
    if not selection:
        reply = smalltalk_reply(question)
        if reply is not None:
            return Route("smalltalk", question, reply)
    if is_manipulation(question):
        return Route("manipulation", question, REDIRECT)
    if selection:
        return Route("selection", question)
    if is_off_task(question):
        return Route("creative", question, OFF_TOPIC)
    return Route("book", question)
