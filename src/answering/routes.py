"""The kinds of turn: how a turn is answered, decided once by `classify` and carried by the response
(`route`), the recorded turn and the reports. A new kind of turn is a value here, a rule in
`classify.py` and a handler in `service.py` (CONTRIBUTING.md says how)."""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """How a turn is answered: book, selection (from the highlighted passage alone), smalltalk, out_of_scope."""

    BOOK = "book"  # answered from the book (a highlighted passage first, when there is one)
    SELECTION = "selection"  # answered from the highlighted passage alone (mode selection_only)
    SMALLTALK = "smalltalk"  # a greeting, thanks, "who are you?": a fixed reply, no search
    OUT_OF_SCOPE = "out_of_scope"  # an errand, creative writing, a try at the instructions: a redirect


ASKED = (Route.BOOK, Route.SELECTION)  # the turns that asked something of the book (what the reports count)
