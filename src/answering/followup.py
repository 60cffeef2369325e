"""Follow-up questions into standalone ones: "why does it matter?" after "What is the Zero Moment
Point?" searches for both. Only questions that lean on the conversation are rewritten."""

from __future__ import annotations

import re

from src.kit.text import terms

_LEANS_ON_CONTEXT = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|he|she|his|her|the same|the former|the latter|above|previous|earlier)\b"
    r"|^\s*(and|but|also|so|then|what about|how about|why|how so|more|example|examples)\b",
    re.I,
)
MAX_CONTENT_TERMS = 4


def leans_on_context(question: str) -> bool:
    return bool(_LEANS_ON_CONTEXT.search(question))


def is_follow_up(question: str) -> bool:
    return leans_on_context(question) or len(terms(question)) <= 1


def standalone(question: str, previous_questions: list[str]) -> str:
    """`question` with the key terms of the latest earlier question, when it leans on the conversation."""
    if not previous_questions or not is_follow_up(question) or len(terms(question)) > MAX_CONTENT_TERMS + 3:
        return question
    own = set(terms(question))
    carried: list[str] = []
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9+#'-]*", previous_questions[-1]):
        stemmed = terms(word)
        if stemmed and stemmed[0] not in own and word not in carried:
            carried.append(word)
    return f"{question} ({' '.join(carried)})" if carried else question
