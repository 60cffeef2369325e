"""What kind of turn a message is (a `Route`), decided in one place before anything is searched:

- small talk (a greeting, thanks, "who are you?"): a short fixed reply;
- out of scope: an attempt to extract the instructions or switch the rules off, or a request outside a
  study assistant's job ("write me a poem", "book me a flight", "what's your favourite robot?"): a
  polite redirect to the book;
- a question about a highlighted passage: from the passage alone (`selection`), or the passage first
  and the book for the rest (`book`);
- a question for the book (`book`); a follow-up ("why does it matter?") is made standalone from the
  session's earlier questions first.

The turns with a fixed reply are answered without a search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from anyio import to_thread

from src.answering.followup import PastTurn, resolve
from src.answering.guardrails import is_manipulation, is_off_task, is_task_request
from src.answering.highlight import Intent, intent_of
from src.answering.question import Question
from src.answering.routes import Route
from src.answering.smalltalk import smalltalk_reply

HistoryLoader = Callable[[], Awaitable[list[PastTurn]]]


@dataclass(frozen=True)
class Routed:
    """A turn's route, and what classifying it learned on the way."""

    route: Route
    question: Question  # what to search: the standalone question for a follow-up, else the student's words
    own_words: Question  # the student's own words (a follow-up's, before it was made standalone)
    reply: str | None = None  # small talk's fixed reply
    redirect: bool = False  # out of scope because it reached for the instructions or the rules
    task_request: bool = False  # asks for a task ("write...", "translate..."): out of scope unless the book answers it
    intent: Intent | None = None  # what a question about a highlighted passage asks when it names no topic
    follow_up: bool = False  # `question` was rewritten against the conversation
    conversation_sources: tuple[str, ...] = ()  # files the conversation's answers cited, latest first
    conversation_sections: tuple[tuple[str, str], ...] = ()  # sections the latest answer cited (for a follow-up)
    seen: tuple[str, ...] = ()  # what the latest answer quoted (for a follow-up): it weighs less in this answer


async def classify(question: str, selection: str | None, selection_only: bool, history: HistoryLoader | None) -> Routed:
    """The route of a turn. `history` loads the session's earlier questions; it is called only for a
    book question without a selection in a session that has one (so small talk never waits on the
    database). The checks read a client's text (up to the question's cap): they run in a worker thread,
    off the event loop."""
    routed = await to_thread.run_sync(_without_history, question, selection, selection_only)
    if routed.route is not Route.BOOK or selection or history is None:
        return routed
    past = await history()
    return await to_thread.run_sync(_with_history, routed, past)


def _without_history(text: str, selection: str | None, selection_only: bool) -> Routed:
    """The route as far as the message alone decides it: a book question is then made standalone."""
    question = Question.parse(text)
    if not selection:
        reply = smalltalk_reply(text)
        if reply is not None:
            return Routed(Route.SMALLTALK, question, question, reply=reply)
    if is_manipulation(text):
        return Routed(Route.OUT_OF_SCOPE, question, question, redirect=True)
    task = is_task_request(text)
    if selection:
        route = Route.SELECTION if selection_only else Route.BOOK
        return Routed(route, question, question, task_request=task, intent=intent_of(text))
    if is_off_task(text):
        return Routed(Route.OUT_OF_SCOPE, question, question)
    return Routed(Route.BOOK, question, question, task_request=task)


def _with_history(routed: Routed, past: list[PastTurn]) -> Routed:
    resolved = resolve(routed.question, past)
    sources = resolved.prefer or tuple(dict.fromkeys(s for turn in reversed(past) for s in turn.sources))
    question = Question.parse(resolved.question) if resolved.question != routed.question.text else routed.question
    return Routed(
        Route.BOOK,
        question,
        routed.own_words,
        task_request=is_task_request(question.text),
        follow_up=resolved.follow_up,
        conversation_sources=sources,
        conversation_sections=resolved.sections,
        seen=resolved.seen,
    )
