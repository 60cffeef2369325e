"""Small talk: a greeting, thanks, or a question about the assistant itself, which gets a short reply
instead of a search."""

from __future__ import annotations

import re

# One run of punctuation on each side of "there" (two adjacent runs split a long one every way before failing).
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|greetings|yo)\b[\s!.,?]*(?:there[\s!.,?]*)?$", re.I
)
_THANKS = re.compile(
    r"^(?!.*\b(what|why|how|when|where|which|who|explain|define|is|are|does)\b)"
    r"\s*(thanks|thank you|thx|cheers)\b[\s\w!.,]{0,20}$",
    re.I,
)
_ABOUT_BOT = re.compile(
    "|".join(
        (
            r"^\s*(who|what) (are|r) (you|u)\b",
            r"^\s*what can (you|u) do\b",
            r"^\s*how (do|can) (i|you) use (you|this)\b",
            r"^\s*(are you|r u) (a )?(bot|human|ai)\b",
        )
    ),
    re.I,
)

GREETING_REPLY = "Hello! Ask me anything about the textbook: I answer from the book and cite the sections I use."
THANKS_REPLY = "You're welcome. Ask another question about the textbook whenever you like."
ABOUT_REPLY = (
    "I'm the textbook's study assistant. I answer questions from the book itself, quote the passages I rely on and "
    "link each one to its section; if the book does not cover something, I say so. You can also highlight a passage "
    "and ask about it."
)


def smalltalk_reply(message: str) -> str | None:
    """The reply for small talk, or None for a question that goes to the book."""
    if _GREETING.match(message):
        return GREETING_REPLY
    if _ABOUT_BOT.match(message):
        return ABOUT_REPLY
    if _THANKS.match(message):
        return THANKS_REPLY
    return None
